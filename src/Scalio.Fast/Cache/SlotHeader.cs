using System.Runtime.CompilerServices;

namespace Scalio.Fast.Cache;

/// <summary>The four states of a cache slot (DESIGN.md, "The DRAM cache").</summary>
public enum SlotState : byte
{
    /// <summary>Empty.</summary>
    Free = 0,
    /// <summary>Locked by a client that is filling it from the SSD.</summary>
    Filling = 1,
    /// <summary>Holds the current value.</summary>
    Valid = 2,
    /// <summary>A write invalidated it while it was filling: the filler turns it free, never valid.</summary>
    Orphan = 3,
}

/// <summary>
/// The 8-byte slot header word, changed only by compare-and-swap. One place for every bit:
/// <code>
///  63            34 33          18 17          2 1   0
/// +----------------+--------------+-------------+-----+
/// | version (30)   | lease (16)   | finger (16) | st  |
/// +----------------+--------------+-------------+-----+
/// </code>
/// Every transition bumps the version (no ABA). The lease is the server-clock millisecond (mod 2^16) at which a
/// filler took the slot, so a reader can reclaim a FILLING/ORPHAN slot whose filler died.
/// </summary>
public static class SlotHeader
{
    /// <summary>Bit position of the state field.</summary>
    public const int StateShift = 0;
    /// <summary>Mask of the state field (after shifting).</summary>
    public const ulong StateMask = 0x3;
    /// <summary>Bit position of the key fingerprint.</summary>
    public const int FingerprintShift = 2;
    /// <summary>Mask of the fingerprint (after shifting).</summary>
    public const ulong FingerprintMask = 0xFFFF;
    /// <summary>Bit position of the lease stamp.</summary>
    public const int LeaseShift = 18;
    /// <summary>Mask of the lease stamp (after shifting).</summary>
    public const ulong LeaseMask = 0xFFFF;
    /// <summary>Bit position of the version.</summary>
    public const int VersionShift = 34;
    /// <summary>Mask of the version (after shifting).</summary>
    public const ulong VersionMask = (1UL << 30) - 1;

    /// <summary>State of a header word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static SlotState State(ulong header) => (SlotState)(header & StateMask);

    /// <summary>Key fingerprint of a header word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Fingerprint(ulong header) => (ushort)((header >> FingerprintShift) & FingerprintMask);

    /// <summary>Lease stamp of a header word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Lease(ulong header) => (ushort)((header >> LeaseShift) & LeaseMask);

    /// <summary>Version of a header word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Version(ulong header) => (uint)((header >> VersionShift) & VersionMask);

    /// <summary>Builds a header word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Make(SlotState state, ushort fingerprint, ushort lease, uint version)
        => ((ulong)state & StateMask)
         | ((ulong)fingerprint << FingerprintShift)
         | ((ulong)lease << LeaseShift)
         | (((ulong)version & VersionMask) << VersionShift);

    /// <summary>The header that follows <paramref name="header"/> in a transition to <paramref name="state"/>:
    /// version + 1 (wrapping), with the given fingerprint and lease.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Next(ulong header, SlotState state, ushort fingerprint, ushort lease)
        => Make(state, fingerprint, lease, (Version(header) + 1) & (uint)VersionMask);

    /// <summary>The header that follows <paramref name="header"/> in a transition to <paramref name="state"/>,
    /// keeping fingerprint and lease.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Next(ulong header, SlotState state)
        => Next(header, state, Fingerprint(header), Lease(header));

    /// <summary>Readable form, for diagnostics.</summary>
    public static string Describe(ulong header)
        => $"{State(header)} v{Version(header)} fp=0x{Fingerprint(header):x4} lease={Lease(header)}";
}
