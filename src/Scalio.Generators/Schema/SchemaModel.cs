using Scalio.Generators.Helpers;

namespace Scalio.Generators.Schema;

/// <summary>
/// Everything the emitter needs about one schema, as plain equatable data (no Roslyn symbols), so an edit that
/// does not change the schema leaves the pipeline cached.
/// </summary>
/// <param name="Namespace">Namespace of the schema type, empty for the global namespace.</param>
/// <param name="ContainingTypes">Declarations of containing types, outermost first (e.g. "partial class Outer").</param>
/// <param name="Declaration">The schema's partial declaration keywords and name (e.g. "readonly partial struct S").</param>
/// <param name="DisplayName">Schema name for messages and hint names.</param>
/// <param name="KeyType">Fully qualified key type.</param>
/// <param name="ValueType">Fully qualified value type.</param>
/// <param name="KeySize">Key size in bytes (0 when unknown).</param>
/// <param name="ValueSize">Value size in bytes (0 when unknown).</param>
/// <param name="SlotsPerBucket">Slots in a bucket.</param>
/// <param name="Location">The schema's name in source, for diagnostics.</param>
/// <param name="Diagnostics">Problems found while parsing; nothing is emitted when any of them is an error.</param>
internal sealed record SchemaModel(
    string Namespace,
    EquatableArray<string> ContainingTypes,
    string Declaration,
    string DisplayName,
    string KeyType,
    string ValueType,
    int KeySize,
    int ValueSize,
    int SlotsPerBucket,
    LocationInfo? Location,
    EquatableArray<DiagnosticInfo> Diagnostics)
{
    /// <summary>Offset of the header word in a slot (fixed by the slot format, as are the offsets below).</summary>
    public const int HeaderOffset = 0;

    /// <summary>Offset of the checksum in a slot.</summary>
    public const int ChecksumOffset = 8;

    /// <summary>Offset of the access stamp in a slot.</summary>
    public const int StampOffset = 12;

    /// <summary>Offset of the key and value lengths (u16 each) in a slot.</summary>
    public const int LengthsOffset = 16;

    /// <summary>Offset of the key bytes in a slot (fixed by the slot format).</summary>
    public const int KeyOffset = 20;

    /// <summary>Length prefix of an on-SSD record (key length u16, value length u16).</summary>
    public const int RecordHeaderSize = 4;

    public int ValueOffset => KeyOffset + KeySize;

    public int SlotSize => (ValueOffset + ValueSize + 7) & ~7;

    public int BucketSize => (SlotSize * SlotsPerBucket + 63) & ~63;

    public int RecordSize => RecordHeaderSize + KeySize + ValueSize;
}

/// <summary>Limits read from MSBuild properties (build_property.ScalioMaxKeyBytes etc.).</summary>
internal sealed record SchemaLimits(int MaxKeyBytes, int MaxValueBytes, int MaxBucketBytes)
{
    public static SchemaLimits Default { get; } = new(256, 4096, 65536);
}
