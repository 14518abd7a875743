using System.Runtime.InteropServices;

namespace Scalio.Verbs;

/// <summary>Access rights of a registered memory region.</summary>
[Flags]
public enum MemoryAccess
{
    /// <summary>Local read only.</summary>
    None = 0,
    /// <summary>The local NIC may write into the region (needed for READ results, atomics results, receives).</summary>
    LocalWrite = 1,
    /// <summary>Peers may READ the region.</summary>
    RemoteRead = 2,
    /// <summary>Peers may WRITE the region.</summary>
    RemoteWrite = 4,
    /// <summary>Peers may run 8-byte atomics on the region.</summary>
    RemoteAtomic = 8,
    /// <summary>Every right.</summary>
    All = LocalWrite | RemoteRead | RemoteWrite | RemoteAtomic,
}

/// <summary>
/// A pinned, registered memory region: native memory that never moves, with a local key and a remote key.
/// Peers address it by (<see cref="RemoteKey"/>, byte offset); the owner uses <see cref="Address"/> directly.
/// </summary>
public sealed unsafe class MemoryRegion : IDisposable
{
    private byte* _address;
    private readonly bool _owned;

    internal MemoryRegion(ProtectionDomain domain, byte* address, nuint length, MemoryAccess access, uint localKey, uint remoteKey, bool owned)
    {
        Domain = domain;
        _address = address;
        Length = length;
        Access = access;
        LocalKey = localKey;
        RemoteKey = remoteKey;
        _owned = owned;
    }

    /// <summary>The protection domain the region is registered in.</summary>
    public ProtectionDomain Domain { get; }

    /// <summary>Start of the region (pinned; stable for the region's lifetime).</summary>
    public byte* Address => _address;

    /// <summary>Start of the region as an integer, for <see cref="WorkRequest.LocalAddress"/>.</summary>
    public ulong BaseAddress => (ulong)_address;

    /// <summary>Length in bytes.</summary>
    public nuint Length { get; }

    /// <summary>Access rights.</summary>
    public MemoryAccess Access { get; }

    /// <summary>Key that local work requests name to use this region.</summary>
    public uint LocalKey { get; }

    /// <summary>Key that peers name to access this region remotely.</summary>
    public uint RemoteKey { get; }

    /// <summary>True once deregistered.</summary>
    public bool IsDisposed => _address == null;

    /// <summary>The whole region as a span (owner-side access).</summary>
    public Span<byte> Span => new(_address, checked((int)Length));

    /// <summary>A slice of the region as a span.</summary>
    public Span<byte> Slice(int offset, int length)
    {
        if ((uint)offset > Length || (uint)length > Length - (uint)offset)
            ThrowHelper.ArgumentOutOfRange(nameof(offset), "slice lies outside the memory region");
        return new Span<byte>(_address + offset, length);
    }

    /// <summary>Absolute address of <paramref name="offset"/> inside the region.</summary>
    public ulong AddressOf(int offset) => (ulong)(_address + offset);

    /// <summary>True when [address, address+length) lies inside the region.</summary>
    public bool Contains(ulong address, ulong length)
    {
        ulong start = (ulong)_address;
        return address >= start && length <= Length && address - start <= Length - length;
    }

    /// <summary>Deregisters the region and frees the memory it owns.</summary>
    public void Dispose()
    {
        byte* p = _address;
        if (p == null) return;
        Domain.Deregister(this);
        _address = null;
        if (_owned) NativeMemory.AlignedFree(p);
    }
}
