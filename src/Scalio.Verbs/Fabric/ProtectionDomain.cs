using System.Net;
using System.Runtime.InteropServices;
using Scalio.Verbs.Libfabric;

namespace Scalio.Verbs;

/// <summary>
/// A protection domain: the set of memory regions a peer's queue pairs may reach. Keys are checked on every
/// access: an unknown key, an access out of bounds or without the right completes with an error.
/// </summary>
public abstract unsafe class ProtectionDomain : IDisposable
{
    // Key = (slot index + 1) in the low 16 bits and a per-registration tag in the high 16 bits, so a stale or
    // guessed key misses even when its slot is reused.
    private MemoryRegion?[] _regions = new MemoryRegion?[16];
    private int _tag = Environment.TickCount & 0x7FFF;
    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>Allocates pinned native memory (zeroed) and registers it.</summary>
    /// <param name="length">Size in bytes.</param>
    /// <param name="access">Rights granted to local and remote users.</param>
    /// <param name="alignment">Alignment of the start address; a power of two of at least 8.</param>
    public MemoryRegion Allocate(nuint length, MemoryAccess access, nuint alignment = 4096)
    {
        if (length == 0) ThrowHelper.ArgumentOutOfRange(nameof(length), "a memory region needs at least one byte");
        if (alignment < 8 || (alignment & (alignment - 1)) != 0) ThrowHelper.ArgumentOutOfRange(nameof(alignment), "alignment must be a power of two >= 8");
        byte* p = (byte*)NativeMemory.AlignedAlloc(length, alignment);
        NativeMemory.Clear(p, length);
        return Add(p, length, access, owned: true);
    }

    /// <summary>Registers memory the caller owns and keeps pinned for the region's lifetime.</summary>
    public MemoryRegion Register(byte* address, nuint length, MemoryAccess access)
    {
        if (address == null || length == 0) ThrowHelper.Argument(nameof(address), "cannot register an empty or null buffer");
        return Add(address, length, access, owned: false);
    }

    private MemoryRegion Add(byte* p, nuint length, MemoryAccess access, bool owned)
    {
        lock (_gate)
        {
            if (_disposed) ThrowHelper.ObjectDisposed(nameof(ProtectionDomain));
            int slot = Array.IndexOf(_regions, null);
            if (slot < 0)
            {
                slot = _regions.Length;
                if (slot >= 0xFFFF) ThrowHelper.InvalidOperation("too many memory regions in one protection domain");
                var grown = new MemoryRegion?[_regions.Length * 2];
                _regions.CopyTo(grown, 0);
                _regions = grown;
            }
            _tag = (_tag + 0x2F1) & 0x7FFF;
            uint key = (uint)(slot + 1) | ((uint)(_tag | 0x8000) << 16);
            var region = new MemoryRegion(this, p, length, access, key, key ^ 0x5A5A0000u, owned);
            try
            {
                OnRegistering(region);
            }
            catch
            {
                if (owned) NativeMemory.AlignedFree(p);
                throw;
            }
            Volatile.Write(ref _regions[slot], region);
            return region;
        }
    }

    internal void Deregister(MemoryRegion region)
    {
        lock (_gate)
        {
            int slot = (int)(region.LocalKey & 0xFFFF) - 1;
            if ((uint)slot < (uint)_regions.Length && ReferenceEquals(_regions[slot], region))
            {
                Volatile.Write(ref _regions[slot], null);
                OnDeregistered(region);
            }
        }
    }

    /// <summary>Provider hook: called (under the domain's lock) before a new region becomes visible; a provider
    /// registers the memory with its hardware here. Throwing cancels the registration.</summary>
    protected virtual void OnRegistering(MemoryRegion region) { }

    /// <summary>Provider hook: called (under the domain's lock) after a region was removed, before owned memory is
    /// freed; a provider deregisters the memory from its hardware here.</summary>
    protected virtual void OnDeregistered(MemoryRegion region) { }

    /// <summary>Provider hook: called once by <see cref="Dispose"/> after every region was deregistered.</summary>
    protected virtual void OnDisposed() { }

    /// <summary>Finds the region a local key names; null when none.</summary>
    public MemoryRegion? FindLocal(uint localKey)
    {
        var regions = Volatile.Read(ref _regions);
        int slot = (int)(localKey & 0xFFFF) - 1;
        if ((uint)slot >= (uint)regions.Length) return null;
        var r = Volatile.Read(ref regions[slot]);
        return r is not null && r.LocalKey == localKey ? r : null;
    }

    /// <summary>Finds the region a remote key names; null when none.</summary>
    public MemoryRegion? FindRemote(uint remoteKey)
    {
        var regions = Volatile.Read(ref _regions);
        int slot = (int)(remoteKey & 0xFFFF) - 1;
        if ((uint)slot >= (uint)regions.Length) return null;
        var r = Volatile.Read(ref regions[slot]);
        return r is not null && r.RemoteKey == remoteKey ? r : null;
    }

    /// <summary>Creates a completion queue with room for <paramref name="capacity"/> entries.</summary>
    public virtual CompletionQueue CreateCompletionQueue(int capacity = 4096) => new(capacity);

    /// <summary>Creates an unconnected queue pair whose completions go to the given queues.</summary>
    public abstract QueuePair CreateQueuePair(CompletionQueue sendQueue, CompletionQueue receiveQueue, QueuePairOptions? options = null);

    /// <summary>True when the CPU's atomic instructions on this domain's registered memory are atomic with respect to
    /// peers' fabric atomics on it (the loopback provider runs both as CPU atomics). False on a NIC, or a software
    /// provider that serves atomics under its own lock: a word that peers compare-swap must then be changed locally
    /// through the fabric as well (<see cref="ConnectToSelf"/>).</summary>
    public virtual bool CpuAtomicsCoherentWithPeers => false;

    /// <summary>Creates two queue pairs of this domain, each with its own completion queues, connected to each other, so
    /// this process can run fabric requests (atomics above all) on its own regions as a peer does. The caller owns both.</summary>
    /// <param name="reachable">Regions of this domain the initiator's requests target.</param>
    public abstract (QueuePair Initiator, QueuePair Target) ConnectToSelf(IReadOnlyList<MemoryRegion> reachable);

    /// <summary>True when clients of other processes connect to this domain, through a listener
    /// (<see cref="CreateListener"/>); false for an in-process fabric, whose queue pairs are connected directly.</summary>
    public virtual bool ReachableFromOtherProcesses => false;

    /// <summary>Opens the side channel through which clients of other processes connect queue pairs to this domain:
    /// each admitted client is sent <paramref name="exported"/> and the bytes <paramref name="descriptor"/> returns.</summary>
    /// <param name="endPoint">Side-channel address (port 0: any free port).</param>
    /// <param name="exported">Regions of this domain every admitted client may reach.</param>
    /// <param name="descriptor">Makes the application's descriptor sent to each admitted client.</param>
    /// <param name="settings">Admission and limits of the handshake.</param>
    /// <exception cref="NotSupportedException">The domain is not <see cref="ReachableFromOtherProcesses"/>.</exception>
    public virtual LibfabricListener CreateListener(IPEndPoint endPoint, IReadOnlyList<MemoryRegion> exported, Func<byte[]> descriptor, ListenerSettings settings)
        => throw new NotSupportedException("this fabric is in-process: its queue pairs are connected directly, not through a listener");

    /// <summary>True when a thread of the provider drives it and serves peers' one-sided requests (the role of a NIC);
    /// its CPU time is <see cref="ProgressThreadCpuNanoseconds"/>.</summary>
    public virtual bool HasProgressThread => false;

    /// <summary>CPU time the provider's progress thread has used so far, in nanoseconds; -1 when there is none
    /// (<see cref="HasProgressThread"/>) or it is not known.</summary>
    public virtual long ProgressThreadCpuNanoseconds => -1;

    /// <summary>Deregisters every region (owned memory is freed).</summary>
    public void Dispose()
    {
        MemoryRegion?[] regions;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            regions = (MemoryRegion?[])_regions.Clone();
        }
        foreach (var r in regions) r?.Dispose();
        OnDisposed();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Sizes and behaviour of a queue pair.</summary>
public sealed class QueuePairOptions
{
    /// <summary>Maximum receives that may be posted and not yet consumed.</summary>
    public int MaxReceives { get; init; } = 256;

    /// <summary>Generate a completion for every send-queue request, signaled or not.</summary>
    public bool SignalAll { get; init; }
}
