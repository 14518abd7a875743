using Scalio.Generators.Helpers;

namespace Scalio.Generators.Nvme;

/// <summary>What a description declares: a submission queue entry, a completion queue entry or an NVMe/TCP PDU header.</summary>
internal enum NvmeDescriptionKind
{
    Command,
    Completion,
    Pdu,
}

/// <summary>One declared field, as plain data.</summary>
/// <param name="Name">Property name.</param>
/// <param name="Offset">Byte offset of the containing little-endian integer.</param>
/// <param name="Size">Size of the containing integer: 1, 2, 4 or 8.</param>
/// <param name="Bit">First bit within the integer.</param>
/// <param name="Bits">Width in bits; 0 for the whole integer.</param>
/// <param name="Description">Summary text, may be null.</param>
internal sealed record NvmeFieldModel(string Name, int Offset, int Size, int Bit, int Bits, string? Description)
{
    public bool IsBitField => Bits != 0;

    public int Width => Bits == 0 ? Size * 8 : Bits;

    public string ContainerType => Size switch { 1 => "byte", 2 => "ushort", 4 => "uint", _ => "ulong" };

    public string PropertyType => Bits == 1 ? "bool"
        : Width <= 8 ? "byte"
        : Width <= 16 ? "ushort"
        : Width <= 32 ? "uint"
        : "ulong";
}

/// <summary>
/// Everything the emitter needs about one description, as plain equatable data (no Roslyn symbols), so edits
/// elsewhere leave the pipeline cached.
/// </summary>
internal sealed record NvmeDescriptionModel(
    NvmeDescriptionKind Kind,
    string Namespace,
    EquatableArray<string> ContainingTypes,
    string Declaration,
    string Name,
    int Opcode,
    int FabricsType,
    int PduType,
    int HeaderLength,
    int AllowedFlags,
    bool CarriesData,
    bool NeverDigested,
    int MaxDataLength,
    EquatableArray<NvmeFieldModel> Fields,
    LocationInfo? Location,
    EquatableArray<NvmeDiagnosticInfo> Diagnostics)
{
    /// <summary>Bytes of the wire form the fields live in.</summary>
    public int WireSize => Kind switch
    {
        NvmeDescriptionKind.Command => 64,
        NvmeDescriptionKind.Completion => 16,
        _ => HeaderLength,
    };

    /// <summary>A key that must be unique among descriptions (opcode and fabrics type, or PDU type).</summary>
    public string UniquenessKey => Kind switch
    {
        NvmeDescriptionKind.Command => "command opcode 0x" + Opcode.ToString("X2") + (FabricsType >= 0 ? " fctype 0x" + FabricsType.ToString("X2") : string.Empty),
        NvmeDescriptionKind.Pdu => "PDU type 0x" + PduType.ToString("X2"),
        _ => string.Empty,
    };
}
