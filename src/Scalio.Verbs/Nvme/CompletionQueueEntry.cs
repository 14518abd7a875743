using System.Runtime.InteropServices;

namespace Scalio.Verbs.Nvme;

/// <summary>
/// A 16-byte NVMe completion queue entry (NVM Express Base Specification 2.0, Figure "Common Completion Queue
/// Entry Layout" and Figure "Completion Queue Entry: Status Field"; Linux <c>struct nvme_completion</c>).
/// The status field (bytes 15:14) holds the Phase Tag in bit 0 and the <see cref="NvmeStatus"/> in bits 15:1.
/// Assumes a little-endian host.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct CompletionQueueEntry
{
    /// <summary>Size of a completion queue entry in bytes (IOCQES = 4).</summary>
    public const int Size = 16;

    [FieldOffset(0)] private uint _dw0;
    [FieldOffset(4)] private uint _dw1;
    [FieldOffset(8)] private ushort _sqHead;
    [FieldOffset(10)] private ushort _sqId;
    [FieldOffset(12)] private ushort _commandId;
    [FieldOffset(14)] private ushort _status;

    /// <summary>Dword 0, command specific (bytes 3:0).</summary>
    public uint Dw0 { readonly get => _dw0; set => _dw0 = value; }

    /// <summary>Dword 1, command specific (bytes 7:4).</summary>
    public uint Dw1 { readonly get => _dw1; set => _dw1 = value; }

    /// <summary>SQ Head Pointer (SQHD), bytes 9:8.</summary>
    public ushort SqHead { readonly get => _sqHead; set => _sqHead = value; }

    /// <summary>SQ Identifier (SQID), bytes 11:10.</summary>
    public ushort SqId { readonly get => _sqId; set => _sqId = value; }

    /// <summary>Command Identifier (CID), bytes 13:12.</summary>
    public ushort CommandId { readonly get => _commandId; set => _commandId = value; }

    /// <summary>The raw 16-bit status field (bytes 15:14), phase bit included.</summary>
    public ushort StatusField { readonly get => _status; set => _status = value; }

    /// <summary>Phase Tag (P), status field bit 0.</summary>
    public bool Phase
    {
        readonly get => (_status & 1) != 0;
        set => _status = (ushort)(value ? _status | 1 : _status & ~1);
    }

    /// <summary>Status (SC bits 8:1, SCT bits 11:9, CRD bits 13:12, M bit 14, DNR bit 15); the phase bit is kept.</summary>
    public NvmeStatus Status
    {
        readonly get => NvmeStatus.FromValue((ushort)(_status >> 1));
        set => _status = (ushort)((value.Value << 1) | (_status & 1));
    }

    /// <summary>Reads an entry from its 16-byte wire form.</summary>
    /// <param name="source">At least 16 bytes.</param>
    public static CompletionQueueEntry Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            NvmeThrow.Argument(nameof(source), "A completion queue entry is 16 bytes.");
        }

        return MemoryMarshal.Read<CompletionQueueEntry>(source);
    }

    /// <summary>Writes the entry's 16-byte wire form.</summary>
    /// <param name="destination">At least 16 bytes.</param>
    public readonly void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            NvmeThrow.Argument(nameof(destination), "A completion queue entry is 16 bytes.");
        }

        MemoryMarshal.Write(destination, in this);
    }
}
