using System.Diagnostics;
using Scalio.Tests.Nvme;
using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Offload;
using Xunit.Abstractions;

namespace Scalio.Tests.Offload;

/// <summary>
/// A host that speaks NVMe over RDMA to the emulated offload target with several commands outstanding on one
/// connection (unlike <see cref="OffloadInitiator"/>, which waits for each): capsules are SENT back to back, then the
/// response capsules are collected.
/// </summary>
internal sealed class PipelinedHost : IDisposable
{
    public const int Depth = 8;
    private readonly QueuePair _qp;
    private readonly MemoryRegion _control; // [capsule][Depth responses]
    public readonly MemoryRegion Data;

    public PipelinedHost(ProtectionDomain domain, OffloadTarget target, int dataBytes)
    {
        _qp = domain.CreateQueuePair(domain.CreateCompletionQueue(64), domain.CreateCompletionQueue(64), new QueuePairOptions { MaxReceives = Depth });
        _control = domain.Allocate(SubmissionQueueEntry.WireSize + Depth * NvmeCompletion.WireSize, MemoryAccess.LocalWrite, 64);
        Data = domain.Allocate((nuint)dataBytes, MemoryAccess.All);
        for (int i = 0; i < Depth; i++) PostResponseReceive(i);
        target.Accept(_qp);
    }

    private void PostResponseReceive(int i)
        => _qp.PostReceive(new ReceiveRequest((ulong)i, _control.AddressOf(SubmissionQueueEntry.WireSize + i * NvmeCompletion.WireSize), NvmeCompletion.WireSize, _control.LocalKey));

    /// <summary>Sends a read capsule (command id <paramref name="cid"/>) whose data lands at <paramref name="offset"/> of <see cref="Data"/>.</summary>
    public void SendRead(ushort cid, ulong slba, int blocks, int lbaSize, int offset)
    {
        var sqe = SubmissionQueueEntry.CreateRead(cid, 1, slba, blocks);
        sqe.Psdt = DataPointerKind.SglMetadataBuffer;
        sqe.Sgl = SglDescriptor.KeyedDataBlock((ulong)offset, blocks * lbaSize, Data.RemoteKey);
        sqe.WriteTo(_control.Slice(0, SubmissionQueueEntry.WireSize)); // the loopback SEND copies it at once
        _qp.PostSend(WorkRequest.Send(0, _control.BaseAddress, SubmissionQueueEntry.WireSize, _control.LocalKey, WorkFlags.None));
    }

    /// <summary>Collects one response capsule: its command id and status.</summary>
    public (ushort Cid, NvmeStatus Status) Receive()
    {
        Assert.True(_qp.ReceiveQueue.PollBlocking(out var wc, timeoutMilliseconds: 5000), "no response capsule within 5 s");
        Assert.True(wc.IsSuccess);
        int slot = (int)wc.Id;
        var cqe = NvmeCompletion.Read(_control.Slice(SubmissionQueueEntry.WireSize + slot * NvmeCompletion.WireSize, NvmeCompletion.WireSize));
        PostResponseReceive(slot);
        return (cqe.CommandId, cqe.Status);
    }

    public void Dispose()
    {
        _qp.Dispose();
        _control.Dispose();
        Data.Dispose();
    }
}

internal static class Blocks
{
    public static byte Pattern(ulong lba, int i) => (byte)(lba * 31 + (ulong)i / 512 + 1);

    public static void Fill(NvmeNamespace ns, ulong blocks)
    {
        var block = new byte[ns.LbaSize];
        for (ulong lba = 0; lba < blocks; lba++)
        {
            for (int i = 0; i < block.Length; i++) block[i] = Pattern(lba, i + (int)(lba % 8) * 512);
            Assert.True(ns.Write(lba, 1, block, fua: false).IsSuccess);
        }
    }

    public static void AssertBlock(ReadOnlySpan<byte> data, ulong lba, int lbaSize, string what)
    {
        for (int i = 0; i < lbaSize; i++)
            if (data[i] != Pattern(lba, i + (int)(lba % 8) * 512)) Assert.Fail($"{what}: byte {i} of LBA {lba} is {data[i]}, not {Pattern(lba, i + (int)(lba % 8) * 512)}");
    }
}

/// <summary>Timing tests run alone: on a small machine other test classes' threads would stretch the wall clock.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OffloadTimingCollection
{
    public const string Name = "Offload timing";
}

[Collection(OffloadTimingCollection.Name)]
public sealed class OffloadAsyncTimingTests(ITestOutputHelper output)
{

    [Fact(Timeout = 20_000)]
    public async Task One_engine_completes_reads_from_many_connections_in_about_one_modelled_latency()
    {
        await Task.Yield();
        // 100K IOPS, 1 ms per read. 32 connections each send one read at once to ONE engine thread: a NIC that waited
        // out each read would take 32 ms; one that overlaps them takes about 1 ms (+ 32 x 10 us of IOPS spacing past the burst).
        const int N = 32;
        var model = new SsdModelOptions { MaxIops = 100_000, ReadLatency = TimeSpan.FromMilliseconds(1), WriteLatency = TimeSpan.Zero, FlushLatency = TimeSpan.Zero };
        var fabric = new LoopbackFabric();
        using var ns = new ModeledNamespace(new RamNamespace(1, 4096, N), model);
        Blocks.Fill(ns.Inner, N);
        using var target = new OffloadTarget(fabric, [ns], new OffloadTargetOptions { Threads = 1 });
        var domain = fabric.CreateDomain();
        var hosts = Enumerable.Range(0, N).Select(_ => new PipelinedHost(domain, target, 4096)).ToArray();
        double best = double.MaxValue;
        for (int round = 0; round < 5; round++)
        {
            foreach (var h in hosts) h.Data.Span.Clear();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < N; i++) hosts[i].SendRead((ushort)(round * N + i), (ulong)i, 1, 4096, 0);
            for (int i = 0; i < N; i++)
            {
                var (cid, status) = hosts[i].Receive();
                Assert.True(status.IsSuccess, status.ToString());
                Assert.Equal((ushort)(round * N + i), cid);
            }
            double ms = sw.Elapsed.TotalMilliseconds;
            best = Math.Min(best, ms);
            output.WriteLine($"round {round}: {N} reads in {ms:F2} ms");
            Assert.True(ms >= 0.95, $"{N} reads finished in {ms:F2} ms, before the modelled 1 ms latency");
            for (int i = 0; i < N; i++) Blocks.AssertBlock(hosts[i].Data.Span, (ulong)i, 4096, $"host {i}");
        }
        Assert.True(best < 6, $"best of 5 rounds: {N} reads took {best:F2} ms; serial would be {N} ms, overlapped ~1.3 ms");
        Assert.True(target.BusyNanoseconds > 0 && target.Capacity > 0, "the engine's time is reported as NIC time");
        output.WriteLine($"NIC busy {target.BusyNanoseconds / 1000} us for {target.Commands} commands: capacity {target.Capacity:N0} commands/s per engine");
        foreach (var h in hosts) h.Dispose();
        domain.Dispose();
    }

    [Fact(Timeout = 20_000)]
    public async Task Several_commands_of_one_connection_in_flight_on_a_modelled_ssd_each_get_their_own_data()
    {
        await Task.Yield();
        // Per-slot data buffers: 8 reads of one connection wait out the 2 ms model together, none overwrites another.
        var model = new SsdModelOptions { MaxIops = 1_000_000, ReadLatency = TimeSpan.FromMilliseconds(2), WriteLatency = TimeSpan.Zero, FlushLatency = TimeSpan.Zero };
        var fabric = new LoopbackFabric();
        using var ns = new ModeledNamespace(new RamNamespace(1, 4096, 32), model);
        Blocks.Fill(ns.Inner, 32);
        using var target = new OffloadTarget(fabric, [ns], new OffloadTargetOptions { Threads = 1 });
        var domain = fabric.CreateDomain();
        using var host = new PipelinedHost(domain, target, PipelinedHost.Depth * 4096);
        double best = double.MaxValue;
        for (int round = 0; round < 4; round++) // round 0 also warms up (JIT)
        {
            host.Data.Span.Clear();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < PipelinedHost.Depth; i++) host.SendRead((ushort)(100 * round + i), (ulong)(3 * i + round), 1, 4096, i * 4096);
            var cids = new HashSet<ushort>();
            for (int i = 0; i < PipelinedHost.Depth; i++)
            {
                var (cid, status) = host.Receive();
                Assert.True(status.IsSuccess, status.ToString());
                Assert.True(cid >= 100 * round && cid < 100 * round + PipelinedHost.Depth && cids.Add(cid), $"unexpected command id {cid}");
            }
            double ms = sw.Elapsed.TotalMilliseconds;
            output.WriteLine($"round {round}: {PipelinedHost.Depth} reads of one connection in {ms:F2} ms");
            Assert.True(ms >= 1.9, $"finished in {ms:F2} ms, before the modelled 2 ms latency");
            for (int i = 0; i < PipelinedHost.Depth; i++) Blocks.AssertBlock(host.Data.Span.Slice(i * 4096, 4096), (ulong)(3 * i + round), 4096, $"round {round} command {i}");
            if (round > 0) best = Math.Min(best, ms);
        }
        Assert.True(best < 8, $"best round took {best:F2} ms: one latency is 2 ms, serial would be 8 x 2 = 16 ms");
        domain.Dispose();
    }

}

public sealed class OffloadAsyncFileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("scalio-offload-async-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory(Timeout = 20_000)]
    [InlineData(4096, true)]
    [InlineData(512, true)]
    [InlineData(4096, false)]
    public async Task File_namespace_reads_go_to_the_device_on_io_uring_many_in_flight_and_return_the_written_data(int lbaSize, bool ioUring)
    {
        await Task.Yield();
        if (ioUring && !IoUringTests.Available(output)) return;
        const int Count = 256;
        var fabric = new LoopbackFabric();
        using var ns = FileNamespace.Open(Path.Combine(_dir, $"ns-{lbaSize}.img"), 1, lbaSize, Count);
        output.WriteLine(ns.ToString());
        using var target = new OffloadTarget(fabric, [ns], new OffloadTargetOptions { Threads = 1, UseIoUring = ioUring });
        Assert.Equal(ioUring, target.UsesIoUring);
        var domain = fabric.CreateDomain();

        // Write every block through the engine (writes stay synchronous), with FUA.
        using (var writer = new OffloadInitiator(domain, target))
        {
            var mr = domain.Allocate((nuint)lbaSize, MemoryAccess.All);
            for (ulong lba = 0; lba < Count; lba++)
            {
                for (int i = 0; i < lbaSize; i++) mr.Span[i] = Blocks.Pattern(lba, i + (int)(lba % 8) * 512);
                Assert.True(writer.Write(1, lba, 1, lbaSize, mr, 0, forceUnitAccess: lba % 64 == 0).IsSuccess);
            }
            mr.Dispose();
        }
        long readsBefore = ns.ReadCount;

        // Two connections, each with 8 reads outstanding (2 blocks each, odd LBAs), landing at UNALIGNED host offsets:
        // the engine reads into its own aligned per-slot buffers (O_DIRECT) and RDMA-WRITEs to wherever the host said.
        var hosts = new[] { new PipelinedHost(domain, target, 16 * 2 * lbaSize + 64), new PipelinedHost(domain, target, 16 * 2 * lbaSize + 64) };
        var rng = new Random(7);
        int maxInFlightSeen = 0;
        for (int round = 0; round < 20; round++)
        {
            var lbas = new ulong[2, PipelinedHost.Depth];
            for (int h = 0; h < 2; h++)
            {
                hosts[h].Data.Span.Clear();
                for (int i = 0; i < PipelinedHost.Depth; i++)
                {
                    lbas[h, i] = (ulong)(rng.Next(Count / 2 - 1) * 2 + 1);
                    hosts[h].SendRead((ushort)i, lbas[h, i], 2, lbaSize, 13 + i * 2 * lbaSize);
                }
            }
            for (int h = 0; h < 2; h++)
            {
                for (int k = 0; k < PipelinedHost.Depth; k++)
                {
                    var (cid, status) = hosts[h].Receive();
                    Assert.True(status.IsSuccess, status.ToString());
                    var data = hosts[h].Data.Span.Slice(13 + cid * 2 * lbaSize, 2 * lbaSize);
                    Blocks.AssertBlock(data, lbas[h, cid], lbaSize, $"round {round} host {h} command {cid}");
                    Blocks.AssertBlock(data.Slice(lbaSize), lbas[h, cid] + 1, lbaSize, $"round {round} host {h} command {cid}");
                }
            }
            maxInFlightSeen = target.MaxReadsInFlight;
            if (round >= 4 && (!ioUring || maxInFlightSeen >= 4)) break;
        }
        output.WriteLine($"io_uring {target.UsesIoUring}: {target.AsyncReads} async reads, at most {target.MaxReadsInFlight} in flight; {ns.ReadCount - readsBefore} device reads; NIC capacity {target.Capacity:N0} commands/s");
        Assert.Equal(0, target.Errors);
        Assert.True(ns.ReadCount - readsBefore >= 5 * 16, "every read is counted by the namespace");
        if (ioUring)
        {
            Assert.Equal(ns.ReadCount - readsBefore, target.AsyncReads);
            Assert.True(maxInFlightSeen >= 4, $"at most {maxInFlightSeen} reads were in flight at once; 16 were outstanding");
        }
        else
        {
            Assert.Equal(0, target.AsyncReads);
        }
        foreach (var h in hosts) h.Dispose();
        domain.Dispose();
    }
}

[Collection(Scalio.Tests.Gate.GateCollection.Name)]
public sealed class OffloadAsyncAllocationTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("scalio-offload-async-gate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void An_io_uring_read_through_the_engine_allocates_nothing()
    {
        if (!IoUringTests.Available(output)) return;
        var fabric = new LoopbackFabric();
        using var ns = FileNamespace.Open(Path.Combine(_dir, "ns.img"), 1, 4096, 64);
        Blocks.Fill(ns, 64);
        using var target = new OffloadTarget(fabric, [ns], new OffloadTargetOptions { Threads = 1 });
        Assert.True(target.UsesIoUring);
        var domain = fabric.CreateDomain();
        using var initiator = new OffloadInitiator(domain, target);
        using var mr = domain.Allocate(4096, MemoryAccess.All);
        ulong lba = 0;
        int failures = 0;
        Action read = () =>
        {
            lba = (lba + 7) % 64;
            if (!initiator.Read(1, lba, 1, 4096, mr, 0).IsSuccess || mr.Span[0] != Blocks.Pattern(lba, (int)(lba % 8) * 512)) failures++;
        };
        var m = Scalio.Tests.Gate.AllocationGate.AssertAllocationFree("offloaded read on io_uring (file namespace)", read, Scalio.Tests.Gate.AllocationScope.Process);
        output.WriteLine(m.ToString());
        Assert.Equal(0, failures);
        Assert.True(target.AsyncReads > 0);
        domain.Dispose();
    }
}
