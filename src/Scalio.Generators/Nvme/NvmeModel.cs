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
/// <param name="StructType">Fully qualified unmanaged struct the field is stored as (its own <paramref name="Size"/> bytes), or null for an integer.</param>
internal sealed record NvmeFieldModel(string Name, int Offset, int Size, int Bit, int Bits, string? Description, string? StructType = null)
{
    public bool IsBitField => Bits != 0;

    public bool IsStruct => StructType is not null;

    public int Width => Bits == 0 ? Size * 8 : Bits;

    public string ContainerType => StructType ?? Size switch { 1 => "byte", 2 => "ushort", 4 => "uint", _ => "ulong" };

    public string PropertyType => StructType ?? (Bits == 1 ? "bool"
        : Width <= 8 ? "byte"
        : Width <= 16 ? "ushort"
        : Width <= 32 ? "uint"
        : "ulong");
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
    bool AdminCommandSet,
    EquatableArray<NvmeFieldModel> Fields,
    LocationInfo? Location,
    EquatableArray<NvmeDiagnosticInfo> Diagnostics)
{
    /// <summary>Size of a submission queue entry (NVMe Base 2.0 "Common Command Format"; IOSQES = 6).</summary>
    public const int SubmissionEntrySize = 64;

    /// <summary>Size of a completion queue entry (NVMe Base 2.0 "Common Completion Queue Entry Layout"; IOCQES = 4).</summary>
    public const int CompletionEntrySize = 16;

    /// <summary>Bytes of the wire form the fields live in.</summary>
    public int WireSize => WireSizeOf(Kind, HeaderLength);

    /// <summary>A command description without an opcode: one entry type for every opcode (the opcode is a property).</summary>
    public bool AnyOpcode => Kind == NvmeDescriptionKind.Command && Opcode < 0;

    /// <summary>Entries are laid out as on the wire (<c>LayoutKind.Explicit</c>); PDU headers are not, their HLEN varies.</summary>
    public bool ExplicitLayout => Kind != NvmeDescriptionKind.Pdu;

    /// <summary>Bytes of the wire form of <paramref name="kind"/>; the one place the entry sizes are chosen.</summary>
    public static int WireSizeOf(NvmeDescriptionKind kind, int headerLength) => kind switch
    {
        NvmeDescriptionKind.Command => SubmissionEntrySize,
        NvmeDescriptionKind.Completion => CompletionEntrySize,
        _ => headerLength,
    };

    /// <summary>A key that must be unique among descriptions (opcode and fabrics type, or PDU type).</summary>
    public string UniquenessKey => Kind switch
    {
        NvmeDescriptionKind.Command when Opcode < 0 => string.Empty,
        // Admin and NVM opcodes are separate spaces (Get Log Page and Read are both 02h).
        NvmeDescriptionKind.Command => (AdminCommandSet ? "admin " : string.Empty) + "command opcode 0x" + Opcode.ToString("X2") + (FabricsType >= 0 ? " fctype 0x" + FabricsType.ToString("X2") : string.Empty),
        NvmeDescriptionKind.Pdu => "PDU type 0x" + PduType.ToString("X2"),
        _ => string.Empty,
    };
}
