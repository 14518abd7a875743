using System;
using Microsoft.CodeAnalysis;

namespace Scalio.Generators.Schema;

/// <summary>Diagnostics of the schema generator. IDs are stable; see AnalyzerReleases.Unshipped.md.</summary>
internal static class SchemaDiagnostics
{
    private const string Category = "Scalio.Schema";
    private const string HelpLink = "https://github.com/scalio-fast/scalio-fast/blob/main/docs/diagnostics.md";

    public static readonly DiagnosticDescriptor NotUnmanaged = new(
        "SCALIO001",
        "Key or value type is not an unmanaged struct",
        "{0} '{1}' cannot be stored in a cache slot: {2}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Keys and values are copied byte for byte into RDMA-readable slots, so they must be structs whose fields are all unmanaged: primitives, enums, Guid, pointers, fixed buffers, [InlineArray] structs or other such structs. Replace strings, arrays and class references with fixed-size buffers.",
        helpLinkUri: HelpLink + "#scalio001");

    public static readonly DiagnosticDescriptor NotPartial = new(
        "SCALIO002",
        "Schema type must be partial",
        "Schema type '{0}' must be declared partial (and so must every type that contains it) so the generator can add its layout and typed client",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "The generator adds constants, a SlotLayout and a typed client to the schema type itself, which needs the 'partial' modifier on the schema and on each containing type.",
        helpLinkUri: HelpLink + "#scalio002");

    public static readonly DiagnosticDescriptor KeyTooLarge = new(
        "SCALIO003",
        "Key is larger than the configured limit",
        "Key type '{0}' is {1} bytes, over the {2}-byte key limit (MSBuild property ScalioMaxKeyBytes)",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Every slot reserves the full key size. Shrink the key, hash long keys to a fixed-size digest, or raise ScalioMaxKeyBytes (up to 16384) with a CompilerVisibleProperty.",
        helpLinkUri: HelpLink + "#scalio003");

    public static readonly DiagnosticDescriptor ValueTooLarge = new(
        "SCALIO004",
        "Value is larger than the configured limit",
        "Value type '{0}' is {1} bytes, over the {2}-byte value limit (MSBuild property ScalioMaxValueBytes)",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Every slot reserves the full value size. Shrink the value or raise ScalioMaxValueBytes (up to 16384) with a CompilerVisibleProperty.",
        helpLinkUri: HelpLink + "#scalio004");

    public static readonly DiagnosticDescriptor BucketLimits = new(
        "SCALIO005",
        "Slot does not fit the bucket limits",
        "Schema '{0}': {1}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "A bucket holds 1..64 slots and is fetched with one RDMA READ, so SlotsPerBucket times the slot size (rounded up to 64 bytes) must stay within ScalioMaxBucketBytes (default 65536).",
        helpLinkUri: HelpLink + "#scalio005");

    public static readonly DiagnosticDescriptor DuplicateSchema = new(
        "SCALIO006",
        "Duplicate schema",
        "Schema '{0}' declares the same key/value pair ({1}, {2}) as schema '{3}'",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Declare each key/value pair once and share that schema type.",
        helpLinkUri: HelpLink + "#scalio006");

    public static readonly DiagnosticDescriptor SizeUnknown = new(
        "SCALIO007",
        "Size of a key or value type cannot be computed",
        "The size of {0} '{1}' cannot be computed: {2}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "The slot layout is fixed at compile time, so key and value types need a layout the generator can compute: sequential or explicit layout of non-generic structs.",
        helpLinkUri: HelpLink + "#scalio007");

    public static readonly DiagnosticDescriptor KeyPadding = new(
        "SCALIO008",
        "Key type has padding bytes",
        "Key type '{0}' has {1} padding byte(s); they are hashed and compared with the key, so equal keys whose padding differs are different keys",
        Category,
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true,
        description: "A typed key is stored, hashed and compared as its raw bytes, padding included. C# zero-initialises new structs, but a key copied from uninitialised or reused memory can carry garbage in its padding. Reorder the fields, add explicit filler fields, or use [StructLayout(LayoutKind.Sequential, Pack = 1)].",
        helpLinkUri: HelpLink + "#scalio008");

    public static bool IsError(string id) => ById(id).DefaultSeverity == DiagnosticSeverity.Error;

    public static DiagnosticDescriptor ById(string id) => id switch
    {
        "SCALIO001" => NotUnmanaged,
        "SCALIO002" => NotPartial,
        "SCALIO003" => KeyTooLarge,
        "SCALIO004" => ValueTooLarge,
        "SCALIO005" => BucketLimits,
        "SCALIO006" => DuplicateSchema,
        "SCALIO007" => SizeUnknown,
        "SCALIO008" => KeyPadding,
        _ => throw new ArgumentException("unknown diagnostic id " + id, nameof(id)),
    };
}
