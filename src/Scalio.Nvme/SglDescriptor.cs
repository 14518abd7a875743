using System.Runtime.InteropServices;

namespace Scalio.Nvme;

/// <summary>SGL Descriptor Type, bits 7:4 of the SGL Identifier (byte 15).</summary>
public enum SglDescriptorType : byte
{
    /// <summary>SGL Data Block (0h).</summary>
    DataBlock = 0x0,

    /// <summary>SGL Bit Bucket (1h).</summary>
    BitBucket = 0x1,

    /// <summary>SGL Segment (2h).</summary>
    Segment = 0x2,

    /// <summary>SGL Last Segment (3h).</summary>
    LastSegment = 0x3,

    /// <summary>Keyed SGL Data Block (4h), used by NVMe over RDMA.</summary>
    KeyedDataBlock = 0x4,

    /// <summary>Transport SGL Data Block (5h), used by NVMe/TCP for data not in the capsule.</summary>
    TransportDataBlock = 0x5,

    /// <summary>Vendor Specific (Fh).</summary>
    VendorSpecific = 0xF,
}

/// <summary>SGL Descriptor Sub Type, bits 3:0 of the SGL Identifier (byte 15).</summary>
public enum SglSubtype : byte
{
    /// <summary>Address (0h): the Address field is a memory address.</summary>
    Address = 0x0,

    /// <summary>Offset (1h): the Address field is an offset, e.g. into in-capsule data.</summary>
    Offset = 0x1,

    /// <summary>Transport specific (Ah), as used by NVMe/TCP's Transport SGL Data Block.</summary>
    Transport = 0xA,

    /// <summary>Invalidate Key (Fh) of a Keyed SGL Data Block.</summary>
    InvalidateKey = 0xF,
}

/// <summary>
/// A 16-byte SGL descriptor (NVM Express Base Specification 2.0, Figures "SGL Descriptor Format",
/// "SGL Data Block Descriptor", "Keyed SGL Data Block Descriptor", "Transport SGL Data Block Descriptor";
/// Linux <c>struct nvme_sgl_desc</c> / <c>struct nvme_keyed_sgl_desc</c>). Bytes 7:0 Address; byte 15 the SGL
/// Identifier (type bits 7:4, subtype bits 3:0). Data Block and Transport forms: Length in bytes 11:8.
/// Keyed form: Length in bytes 10:8 (24 bits), Key in bytes 14:11.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct SglDescriptor
{
    /// <summary>Size of a descriptor in bytes.</summary>
    public const int Size = 16;

    /// <summary>Largest length a Keyed SGL Data Block can carry (24 bits).</summary>
    public const int MaxKeyedLength = 0xFF_FFFF;

    [FieldOffset(0)] private ulong _address;
    [FieldOffset(8)] private uint _dw2;  // bytes 11:8
    [FieldOffset(12)] private uint _dw3; // bytes 15:12

    /// <summary>Address, bytes 7:0.</summary>
    public ulong Address { readonly get => _address; set => _address = value; }

    /// <summary>SGL Identifier, byte 15.</summary>
    public byte Identifier
    {
        readonly get => (byte)(_dw3 >> 24);
        set => _dw3 = (_dw3 & 0x00FF_FFFFu) | ((uint)value << 24);
    }

    /// <summary>Descriptor type, byte 15 bits 7:4.</summary>
    public readonly SglDescriptorType Type => (SglDescriptorType)(Identifier >> 4);

    /// <summary>Descriptor subtype, byte 15 bits 3:0.</summary>
    public readonly SglSubtype Subtype => (SglSubtype)(Identifier & 0xF);

    /// <summary>Length of a Data Block or Transport SGL Data Block descriptor, bytes 11:8.</summary>
    public uint Length { readonly get => _dw2; set => _dw2 = value; }

    /// <summary>Length of a Keyed SGL Data Block descriptor, bytes 10:8 (24 bits).</summary>
    public int KeyedLength
    {
        readonly get => (int)(_dw2 & 0x00FF_FFFFu);
        set
        {
            if ((uint)value > MaxKeyedLength)
            {
                NvmeThrow.ArgumentOutOfRange(nameof(value), "A Keyed SGL Data Block length is a 24-bit field (0..16777215).");
            }

            _dw2 = (_dw2 & 0xFF00_0000u) | (uint)value;
        }
    }

    /// <summary>Key of a Keyed SGL Data Block descriptor (e.g. an RDMA rkey), bytes 14:11.</summary>
    public uint Key
    {
        readonly get => (_dw2 >> 24) | ((_dw3 & 0x00FF_FFFFu) << 8);
        set
        {
            _dw2 = (_dw2 & 0x00FF_FFFFu) | (value << 24);
            _dw3 = (_dw3 & 0xFF00_0000u) | (value >> 8);
        }
    }

    /// <summary>The data length whatever the form: 24-bit for keyed descriptors, 32-bit otherwise.</summary>
    public readonly long DataLength => Type == SglDescriptorType.KeyedDataBlock ? KeyedLength : Length;

    /// <summary>Builds an SGL Data Block descriptor (type 0h).</summary>
    /// <param name="address">Address, or an offset when <paramref name="subtype"/> is <see cref="SglSubtype.Offset"/>.</param>
    /// <param name="length">Length in bytes.</param>
    /// <param name="subtype">Address (0h) or Offset (1h).</param>
    public static SglDescriptor DataBlock(ulong address, uint length, SglSubtype subtype = SglSubtype.Address) =>
        new() { Address = address, Length = length, Identifier = MakeIdentifier(SglDescriptorType.DataBlock, subtype) };

    /// <summary>Builds a Keyed SGL Data Block descriptor (type 4h) as NVMe over RDMA uses it.</summary>
    /// <param name="address">Remote address.</param>
    /// <param name="length">Length in bytes, at most <see cref="MaxKeyedLength"/>.</param>
    /// <param name="key">Memory key (rkey).</param>
    /// <param name="invalidateKey">Subtype Invalidate Key (Fh) instead of Address (0h).</param>
    public static SglDescriptor KeyedDataBlock(ulong address, int length, uint key, bool invalidateKey = false)
    {
        var d = new SglDescriptor { Address = address, KeyedLength = length, Key = key };
        d.Identifier = MakeIdentifier(SglDescriptorType.KeyedDataBlock, invalidateKey ? SglSubtype.InvalidateKey : SglSubtype.Address);
        return d;
    }

    /// <summary>Builds a Transport SGL Data Block descriptor (type 5h, subtype Ah) as NVMe/TCP uses it for data sent with R2T/C2HData.</summary>
    /// <param name="length">Length in bytes.</param>
    public static SglDescriptor TransportDataBlock(uint length) =>
        new() { Length = length, Identifier = MakeIdentifier(SglDescriptorType.TransportDataBlock, SglSubtype.Transport) };

    private static byte MakeIdentifier(SglDescriptorType type, SglSubtype subtype) => (byte)(((int)type << 4) | ((int)subtype & 0xF));
}
