using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Scalio.Verbs.Nvme;

/// <summary>FUSE field of Command Dword 0 (bits 9:8).</summary>
public enum FusedOperation : byte
{
    /// <summary>Normal operation (00b).</summary>
    Normal = 0,

    /// <summary>First command of a fused operation (01b).</summary>
    First = 1,

    /// <summary>Second command of a fused operation (10b).</summary>
    Second = 2,
}

/// <summary>PRP or SGL for Data Transfer (PSDT) field of Command Dword 0 (bits 15:14).</summary>
public enum DataPointerKind : byte
{
    /// <summary>PRPs are used (00b).</summary>
    Prp = 0,

    /// <summary>SGLs are used; MPTR holds the address of a contiguous metadata buffer (01b).</summary>
    SglMetadataBuffer = 1,

    /// <summary>SGLs are used; MPTR holds the address of an SGL segment with one descriptor (10b).</summary>
    SglMetadataSegment = 2,
}

/// <summary>
/// A 64-byte NVMe submission queue entry (NVM Express Base Specification 2.0, Figure "Common Command Format";
/// Linux <c>struct nvme_common_command</c>). Fields are little-endian as on the wire; this type assumes a
/// little-endian host. Read/Write helpers follow the NVM Command Set Specification (Figures "Read – Command
/// Dword 10/11/12").
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct SubmissionQueueEntry
{
    /// <summary>Size of a submission queue entry in bytes (IOSQES = 6).</summary>
    public const int Size = 64;

    private const int FuseMask = 0x03;
    private const int PsdtShift = 6;
    private const int PsdtMask = 0x03 << PsdtShift;
    private const uint NlbMask = 0xFFFF;
    private const uint FuaBit = 1u << 30;
    private const uint LimitedRetryBit = 1u << 31;

    [FieldOffset(0)] private byte _opcode;
    [FieldOffset(1)] private byte _flags;
    [FieldOffset(2)] private ushort _commandId;
    [FieldOffset(4)] private uint _nsid;
    [FieldOffset(8)] private uint _cdw2;
    [FieldOffset(12)] private uint _cdw3;
    [FieldOffset(16)] private ulong _mptr;
    [FieldOffset(24)] private ulong _prp1;
    [FieldOffset(32)] private ulong _prp2;
    [FieldOffset(24)] private SglDescriptor _sgl;
    [FieldOffset(40)] private uint _cdw10;
    [FieldOffset(44)] private uint _cdw11;
    [FieldOffset(48)] private uint _cdw12;
    [FieldOffset(52)] private uint _cdw13;
    [FieldOffset(56)] private uint _cdw14;
    [FieldOffset(60)] private uint _cdw15;

    /// <summary>Opcode (OPC), CDW0 bits 7:0 (byte 0).</summary>
    public byte Opcode { readonly get => _opcode; set => _opcode = value; }

    /// <summary>Byte 1 of CDW0 raw: FUSE in bits 1:0, PSDT in bits 7:6 (Linux's <c>flags</c>).</summary>
    public byte Flags { readonly get => _flags; set => _flags = value; }

    /// <summary>Fused Operation (FUSE), CDW0 bits 9:8 = byte 1 bits 1:0.</summary>
    public FusedOperation Fuse
    {
        readonly get => (FusedOperation)(_flags & FuseMask);
        set
        {
            if ((byte)value > 3)
            {
                NvmeThrow.ArgumentOutOfRange(nameof(value), "FUSE is a 2-bit field.");
            }

            _flags = (byte)((_flags & ~FuseMask) | (byte)value);
        }
    }

    /// <summary>PRP or SGL for Data Transfer (PSDT), CDW0 bits 15:14 = byte 1 bits 7:6.</summary>
    public DataPointerKind Psdt
    {
        readonly get => (DataPointerKind)((_flags & PsdtMask) >> PsdtShift);
        set
        {
            if ((byte)value > 3)
            {
                NvmeThrow.ArgumentOutOfRange(nameof(value), "PSDT is a 2-bit field.");
            }

            _flags = (byte)((_flags & ~PsdtMask) | ((byte)value << PsdtShift));
        }
    }

    /// <summary>Command Identifier (CID), CDW0 bits 31:16 (bytes 2-3).</summary>
    public ushort CommandId { readonly get => _commandId; set => _commandId = value; }

    /// <summary>Namespace Identifier (NSID), bytes 7:4.</summary>
    public uint Nsid { readonly get => _nsid; set => _nsid = value; }

    /// <summary>Fabrics Command Type (FCTYPE), byte 4 of a Fabrics command (opcode 7Fh); overlays NSID bits 7:0.</summary>
    public byte FabricsType
    {
        readonly get => (byte)_nsid;
        set => _nsid = (_nsid & 0xFFFF_FF00u) | value;
    }

    /// <summary>Command Dword 2, bytes 11:8.</summary>
    public uint Cdw2 { readonly get => _cdw2; set => _cdw2 = value; }

    /// <summary>Command Dword 3, bytes 15:12.</summary>
    public uint Cdw3 { readonly get => _cdw3; set => _cdw3 = value; }

    /// <summary>Metadata Pointer (MPTR), bytes 23:16.</summary>
    public ulong MetadataPointer { readonly get => _mptr; set => _mptr = value; }

    /// <summary>PRP Entry 1 (DPTR bytes 31:24 of the entry).</summary>
    public ulong Prp1 { readonly get => _prp1; set => _prp1 = value; }

    /// <summary>PRP Entry 2 (DPTR bytes 39:32 of the entry).</summary>
    public ulong Prp2 { readonly get => _prp2; set => _prp2 = value; }

    /// <summary>SGL Entry 1: the 16-byte SGL descriptor in DPTR (bytes 39:24), used when PSDT is not PRP.</summary>
    public SglDescriptor Sgl { readonly get => _sgl; set => _sgl = value; }

    /// <summary>Command Dword 10, bytes 43:40.</summary>
    public uint Cdw10 { readonly get => _cdw10; set => _cdw10 = value; }

    /// <summary>Command Dword 11, bytes 47:44.</summary>
    public uint Cdw11 { readonly get => _cdw11; set => _cdw11 = value; }

    /// <summary>Command Dword 12, bytes 51:48.</summary>
    public uint Cdw12 { readonly get => _cdw12; set => _cdw12 = value; }

    /// <summary>Command Dword 13, bytes 55:52.</summary>
    public uint Cdw13 { readonly get => _cdw13; set => _cdw13 = value; }

    /// <summary>Command Dword 14, bytes 59:56.</summary>
    public uint Cdw14 { readonly get => _cdw14; set => _cdw14 = value; }

    /// <summary>Command Dword 15, bytes 63:60.</summary>
    public uint Cdw15 { readonly get => _cdw15; set => _cdw15 = value; }

    /// <summary>Starting LBA (SLBA) of a Read/Write: CDW10 (bits 31:0) and CDW11 (bits 63:32).</summary>
    public ulong StartingLba
    {
        readonly get => _cdw10 | ((ulong)_cdw11 << 32);
        set
        {
            _cdw10 = (uint)value;
            _cdw11 = (uint)(value >> 32);
        }
    }

    /// <summary>Number of Logical Blocks (NLB) of a Read/Write, zero-based: CDW12 bits 15:0.</summary>
    public ushort NumberOfBlocksZeroBased
    {
        readonly get => (ushort)(_cdw12 & NlbMask);
        set => _cdw12 = (_cdw12 & ~NlbMask) | value;
    }

    /// <summary>Blocks transferred by a Read/Write: NLB + 1 (1..65536).</summary>
    public readonly int BlockCount
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (int)(_cdw12 & NlbMask) + 1;
    }

    /// <summary>Force Unit Access (FUA) of a Read/Write: CDW12 bit 30.</summary>
    public bool ForceUnitAccess
    {
        readonly get => (_cdw12 & FuaBit) != 0;
        set => _cdw12 = value ? _cdw12 | FuaBit : _cdw12 & ~FuaBit;
    }

    /// <summary>Limited Retry (LR) of a Read/Write: CDW12 bit 31.</summary>
    public bool LimitedRetry
    {
        readonly get => (_cdw12 & LimitedRetryBit) != 0;
        set => _cdw12 = value ? _cdw12 | LimitedRetryBit : _cdw12 & ~LimitedRetryBit;
    }

    /// <summary>Builds a Read command.</summary>
    /// <param name="commandId">CID.</param>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="startingLba">First LBA.</param>
    /// <param name="blocks">Number of blocks, 1..65536.</param>
    public static SubmissionQueueEntry CreateRead(ushort commandId, uint nsid, ulong startingLba, int blocks) =>
        CreateReadWrite(NvmOpcode.Read, commandId, nsid, startingLba, blocks, false);

    /// <summary>Builds a Write command.</summary>
    /// <param name="commandId">CID.</param>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="startingLba">First LBA.</param>
    /// <param name="blocks">Number of blocks, 1..65536.</param>
    /// <param name="forceUnitAccess">Set FUA: the write is durable when it completes.</param>
    public static SubmissionQueueEntry CreateWrite(ushort commandId, uint nsid, ulong startingLba, int blocks, bool forceUnitAccess = false) =>
        CreateReadWrite(NvmOpcode.Write, commandId, nsid, startingLba, blocks, forceUnitAccess);

    /// <summary>Builds a Flush command.</summary>
    /// <param name="commandId">CID.</param>
    /// <param name="nsid">Namespace identifier, or FFFFFFFFh for all namespaces.</param>
    public static SubmissionQueueEntry CreateFlush(ushort commandId, uint nsid) =>
        new() { Opcode = NvmOpcode.Flush, CommandId = commandId, Nsid = nsid };

    private static SubmissionQueueEntry CreateReadWrite(byte opcode, ushort commandId, uint nsid, ulong startingLba, int blocks, bool fua)
    {
        if (blocks is < 1 or > 65536)
        {
            NvmeThrow.ArgumentOutOfRange(nameof(blocks), "An NVMe Read/Write moves 1..65536 blocks (NLB is a zero-based 16-bit field).");
        }

        var sqe = new SubmissionQueueEntry
        {
            Opcode = opcode,
            CommandId = commandId,
            Nsid = nsid,
            StartingLba = startingLba,
            NumberOfBlocksZeroBased = (ushort)(blocks - 1),
        };
        sqe.ForceUnitAccess = fua;
        return sqe;
    }

    /// <summary>Reads an entry from its 64-byte wire form.</summary>
    /// <param name="source">At least 64 bytes.</param>
    public static SubmissionQueueEntry Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            NvmeThrow.Argument(nameof(source), "A submission queue entry is 64 bytes.");
        }

        return MemoryMarshal.Read<SubmissionQueueEntry>(source);
    }

    /// <summary>Writes the entry's 64-byte wire form.</summary>
    /// <param name="destination">At least 64 bytes.</param>
    public readonly void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            NvmeThrow.Argument(nameof(destination), "A submission queue entry is 64 bytes.");
        }

        MemoryMarshal.Write(destination, in this);
    }
}
