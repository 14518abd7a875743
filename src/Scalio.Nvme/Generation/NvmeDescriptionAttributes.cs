namespace Scalio.Nvme.Generation;

/// <summary>
/// Declares a 64-byte NVMe submission queue entry on a <c>partial struct</c>, laid out as on the wire
/// (<c>LayoutKind.Explicit</c>, 64 bytes). The NVMe generator in Scalio.Generators adds properties for the command
/// identifier, FUSE, PSDT and every <see cref="NvmeFieldAttribute"/>,
/// <c>WriteTo(Span&lt;byte&gt;)</c> (the wire form, little-endian) and <c>TryRead</c>/<c>Read</c> decoders that
/// check the opcode (and the Fabrics command type).
/// </summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class NvmeCommandAttribute : Attribute
{
    /// <summary>Declares a command.</summary>
    /// <param name="opcode">Opcode (CDW0 bits 7:0).</param>
    public NvmeCommandAttribute(byte opcode) => Opcode = opcode;

    /// <summary>
    /// Declares an entry of any opcode: the generator adds a settable <c>Opcode</c> property, and its decoders accept
    /// every opcode (for code that dispatches on it, such as a command executor).
    /// </summary>
    public NvmeCommandAttribute() => Opcode = -1;

    /// <summary>Opcode (CDW0 bits 7:0), or -1 for an entry of any opcode.</summary>
    public int Opcode { get; }

    /// <summary>Fabrics Command Type (byte 4) for opcode 7Fh, or -1 for a non-Fabrics command.</summary>
    public int FabricsType { get; set; } = -1;

    /// <summary>An Admin Command Set opcode, whose values overlap the NVM Command Set's (Get Log Page and Read are both 02h).</summary>
    public bool Admin { get; set; }
}

/// <summary>
/// Declares a 16-byte NVMe completion queue entry on a <c>partial struct</c>, laid out as on the wire
/// (<c>LayoutKind.Explicit</c>, 16 bytes): the generator adds command
/// identifier, SQ head, SQ identifier and status properties, the declared DW0/DW1 fields, and encoder/decoder.
/// </summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class NvmeCompletionAttribute : Attribute
{
}

/// <summary>
/// Declares an NVMe/TCP PDU header on a <c>partial struct</c> (NVMe/TCP Transport Specification 1.0, "PDU
/// Formats"). The generator adds the declared fields, <c>WriteHeader</c> (common header and PDU-specific
/// header) and <c>TryReadHeader</c>, which validates PDU-Type, HLEN, FLAGS, PDO and PLEN.
/// </summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = false, Inherited = false)]
public sealed class NvmeTcpPduAttribute : Attribute
{
    /// <summary>Declares a PDU.</summary>
    /// <param name="pduType">PDU-Type (byte 0).</param>
    /// <param name="headerLength">HLEN (byte 2): length of the PDU header without the header digest.</param>
    public NvmeTcpPduAttribute(byte pduType, int headerLength)
    {
        PduType = pduType;
        HeaderLength = headerLength;
    }

    /// <summary>PDU-Type (byte 0).</summary>
    public byte PduType { get; }

    /// <summary>HLEN (byte 2).</summary>
    public int HeaderLength { get; }

    /// <summary>FLAGS bits the PDU may carry; any other bit is a header field error.</summary>
    public byte AllowedFlags { get; set; }

    /// <summary>True when the PDU may carry a data field (then PDO locates it); false when PLEN is fixed.</summary>
    public bool CarriesData { get; set; }

    /// <summary>True for ICReq/ICResp: digests never apply (they are negotiated by these PDUs).</summary>
    public bool NeverDigested { get; set; }

    /// <summary>Largest data field (bytes) a PDU without digests may carry when the size is fixed by the spec (term requests), 0 for no fixed limit.</summary>
    public int MaxDataLength { get; set; }
}

/// <summary>
/// One little-endian field of an entry or PDU header: <c>Size</c> bytes at byte <c>Offset</c>, optionally only
/// bits <c>Bit</c>..<c>Bit+Bits-1</c> of that little-endian integer. The property type is bool for one bit,
/// otherwise the smallest of byte/ushort/uint/ulong that holds the field; with <see cref="Type"/> it is that
/// unmanaged struct, stored as its own <c>Size</c> bytes.
/// </summary>
[AttributeUsage(AttributeTargets.Struct, AllowMultiple = true, Inherited = false)]
public sealed class NvmeFieldAttribute : Attribute
{
    /// <summary>Declares a field.</summary>
    /// <param name="name">Property name.</param>
    /// <param name="offset">Byte offset in the entry or PDU.</param>
    /// <param name="size">Size of the containing integer: 1, 2, 4 or 8 bytes.</param>
    public NvmeFieldAttribute(string name, int offset, int size)
    {
        Name = name;
        Offset = offset;
        Size = size;
    }

    /// <summary>Property name.</summary>
    public string Name { get; }

    /// <summary>Byte offset.</summary>
    public int Offset { get; }

    /// <summary>Size of the containing integer in bytes.</summary>
    public int Size { get; }

    /// <summary>First bit of a bit field within the integer (0 for a whole field).</summary>
    public int Bit { get; set; }

    /// <summary>Width of a bit field in bits; 0 means the whole integer.</summary>
    public int Bits { get; set; }

    /// <summary>Documentation of the field (becomes the property's summary).</summary>
    public string? Description { get; set; }

    /// <summary>An unmanaged struct of <c>Size</c> bytes the field is read and written as (an SGL descriptor), or null for an integer.</summary>
    public Type? Type { get; set; }
}
