using Scalio.Fast.Cache;
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
    /// <summary>Length prefix of an on-SSD record (key length u16, value length u16).</summary>
    public const int RecordHeaderSize = 4;

    // The layout comes from the runtime's own slot format (SlotFormat.cs, linked into this project).
    public int ValueOffset => SlotLayout.ValueOffsetFor(KeySize);

    public int SlotSize => SlotLayout.SlotSizeFor(KeySize, ValueSize);

    public int BucketSize => SlotLayout.BucketSizeFor(SlotSize, SlotsPerBucket);

    public int RecordSize => RecordHeaderSize + KeySize + ValueSize;
}

/// <summary>Limits read from MSBuild properties (build_property.ScalioMaxKeyBytes etc.).</summary>
internal sealed record SchemaLimits(int MaxKeyBytes, int MaxValueBytes, int MaxBucketBytes)
{
    public static SchemaLimits Default { get; } = new(256, 4096, 65536);
}
