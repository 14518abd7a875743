using Scalio.Verbs;

namespace Scalio.Fast.Server;

/// <summary>
/// How the server changes slot header words. On a real RDMA NIC, CPU atomics are not atomic with respect to the
/// NIC's atomics, so the server must go through the fabric (a queue pair of its domain connected to another,
/// <see cref="ProtectionDomain.ConnectToSelf"/>); on a provider that declares its atomics coherent with the CPU's
/// (<see cref="ProtectionDomain.CpuAtomicsCoherentWithPeers"/>: loopback) an interlocked instruction is the same thing.
/// </summary>
internal sealed unsafe class ServerAtomics : IDisposable
{
    private readonly MemoryRegion _cache;
    private readonly QueuePair? _self;
    private readonly QueuePair? _target;
    private readonly MemoryRegion? _result;
    private readonly object _gate = new();

    public ServerAtomics(ProtectionDomain domain, MemoryRegion cache, bool useFabric)
    {
        _cache = cache;
        if (!useFabric) return;
        (_self, _target) = domain.ConnectToSelf([cache]);
        _result = domain.Allocate(8, MemoryAccess.LocalWrite, 8);
    }

    /// <summary>True when header changes go through the fabric rather than CPU atomics.</summary>
    public bool ThroughFabric => _self is not null;

    /// <summary>Compare-and-swap on the 8-byte word at <paramref name="offset"/>; returns the previous value.</summary>
    public ulong CompareSwap(long offset, ulong expected, ulong desired)
    {
        if (_self is null) return Interlocked.CompareExchange(ref *(ulong*)(_cache.Address + offset), desired, expected);
        lock (_gate)
        {
            _self.PostSend(WorkRequest.CompareSwap(1, _result!.BaseAddress, _result.LocalKey, (ulong)offset, _cache.RemoteKey, expected, desired));
            if (!_self.SendQueue.PollBlocking(out var wc, timeoutMilliseconds: 5000) || !wc.IsSuccess)
                throw new ScalioException($"server self-CAS failed: {wc.Status}");
            return *(ulong*)_result.Address;
        }
    }

    /// <summary>Reads a header word.</summary>
    public ulong Read(long offset) => Volatile.Read(ref *(ulong*)(_cache.Address + offset));

    public void Dispose()
    {
        _self?.Dispose();
        _target?.Dispose();
        _result?.Dispose();
    }
}
