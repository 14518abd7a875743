using BenchmarkDotNet.Attributes;
using Scalio.Fast;
using Scalio.Tests.Gate;

namespace Scalio.Perf;

/// <summary>
/// One benchmark per hot-path step, on the same rig the allocation gate uses (tests/Scalio.Tests/Gate/HotPathRig.cs,
/// linked): block fetch, victim pick, CAS lock, offloaded read, RDMA fill, batched write, and whole GET hit, GET miss
/// with fill and PUT. 16-byte YCSB keys, 64-byte values, a 32-slot cache over 4096 keys. MemoryDiagnoser reports the
/// allocations of the benchmarking thread. Loopback fabric and RAM namespaces: costs are this machine's CPU costs of
/// the software path, not network or SSD latencies (see DESIGN.md for the projection onto the paper's hardware).
/// </summary>
[MemoryDiagnoser]
public class StepBenchmarks : IDisposable
{
    private HotPathRig _rig = null!;

    /// <summary>Builds the rig (store, keys, queue pair, offload initiator, device log).</summary>
    [GlobalSetup]
    public void Setup() => _rig = new HotPathRig();

    /// <summary>Fails the run when a step returned wrong results.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        long failures = _rig.Failures;
        Dispose();
        if (failures != 0) throw new InvalidOperationException($"{failures} step results were wrong");
    }

    /// <summary>Stops the rig.</summary>
    public void Dispose()
    {
        _rig?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Block fetch: one RDMA READ of a cache bucket plus the scan of its headers.</summary>
    [Benchmark]
    public int BlockFetch() => _rig.FetchBlock();

    /// <summary>Victim pick: sampled LRU over a bucket image (CPU only).</summary>
    [Benchmark]
    public int VictimPick() => _rig.PickVictim();

    /// <summary>CAS lock: chained CAS-to-FILLING + bucket re-read, then the release CAS (two round trips).</summary>
    [Benchmark]
    public void CasLock() => _rig.LockVictim();

    /// <summary>Offloaded read: one NVMe-oF READ of a 4 KiB page served by the offload target.</summary>
    [Benchmark]
    public void OffloadedRead() => _rig.OffloadedRead();

    /// <summary>RDMA fill: chained WRITE of a slot body + publishing CAS (one round trip).</summary>
    [Benchmark]
    public void RdmaFill() => _rig.RdmaFill();

    /// <summary>Batched write: 8 PUTs committed with one FUA log write to a RAM namespace (per batch, not per PUT).</summary>
    [Benchmark]
    public void BatchedWrite() => _rig.BatchedWrite();

    /// <summary>Whole GET, cache hit.</summary>
    [Benchmark]
    public OpStatus GetHit() => _rig.GetHit();

    /// <summary>Whole GET, miss with fill.</summary>
    [Benchmark]
    public OpStatus GetMissWithFill() => _rig.GetMissWithFill();

    /// <summary>Whole PUT (server batch idle timeout 0 in this rig).</summary>
    [Benchmark]
    public OpStatus Put() => _rig.Put();
}
