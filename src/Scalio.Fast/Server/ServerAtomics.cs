using Scalio.Verbs;
using Scalio.Verbs.Libfabric;

namespace Scalio.Fast.Server;

/// <summary>
/// How the server changes slot header words. On a real RDMA NIC, CPU atomics are not atomic with respect to the
/// NIC's atomics, so the server must go through the fabric (a queue pair connected to itself); on the loopback
/// provider, which declares its atomics coherent with the CPU's, an interlocked instruction is the same thing.
/// On libfabric (tcp;ofi_rxm, whose atomics the target's provider emulates under its own lock) the server's
/// queue pair is a second endpoint of the server's own domain, connected to an endpoint of the same domain: the
/// compare-swap travels through the provider like a client's and is executed by the same code under the same lock.
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
        if (domain is LibfabricDomain lf)
        {
            var target = lf.CreateLibfabricQueuePair();
            var self = lf.CreateLibfabricQueuePair();
            try
            {
                target.Connect(self.LocalAddress.Span, []);
                self.Connect(target.LocalAddress.Span, [lf.Describe(cache)]);
            }
            catch
            {
                self.Dispose();
                target.Dispose();
                throw;
            }
            _self = self;
            _target = target;
        }
        else
        {
            var a = domain.CreateQueuePair(domain.CreateCompletionQueue(16), domain.CreateCompletionQueue(16));
            var b = domain.CreateQueuePair(domain.CreateCompletionQueue(16), domain.CreateCompletionQueue(16));
            LoopbackFabric.Connect(a, b);
            _self = a;
            _target = b;
        }
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
