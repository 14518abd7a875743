using System;
using Microsoft.CodeAnalysis;
using Scalio.Generators.Helpers;

namespace Scalio.Generators.Nvme;

/// <summary>A diagnostic of the NVMe generator kept as plain data (descriptor id, location, message arguments).</summary>
internal sealed record NvmeDiagnosticInfo(string DescriptorId, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static NvmeDiagnosticInfo Create(DiagnosticDescriptor descriptor, Location? location, params string[] arguments)
        => new(descriptor.Id, LocationInfo.From(location), new EquatableArray<string>(arguments));

    public Diagnostic ToDiagnostic()
    {
        DiagnosticDescriptor descriptor = NvmeDiagnostics.ById(DescriptorId);
        object[] args = new object[Arguments.Count];
        for (int i = 0; i < args.Length; i++) args[i] = Arguments[i];
        return Diagnostic.Create(descriptor, Location?.ToLocation() ?? Microsoft.CodeAnalysis.Location.None, args);
    }
}

/// <summary>Diagnostics of the NVMe encoder generator. IDs are stable; see AnalyzerReleases.Unshipped.md.</summary>
internal static class NvmeDiagnostics
{
    private const string Category = "Scalio.Nvme";
    private const string HelpLink = "https://github.com/scalio-fast/scalio-fast/blob/main/docs/diagnostics.md";

    public static readonly DiagnosticDescriptor NotPartial = new(
        "SCALIO101",
        "NVMe description must be partial",
        "NVMe description '{0}' must be declared partial (and so must every type that contains it)",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "The generator adds the fields, encoder and decoder to the described struct itself, which needs the 'partial' modifier.",
        helpLinkUri: HelpLink + "#scalio101");

    public static readonly DiagnosticDescriptor FieldOutOfRange = new(
        "SCALIO102",
        "NVMe field does not fit",
        "Field '{0}' of '{1}': {2}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "A field is a 1, 2, 4 or 8-byte little-endian integer inside the 64-byte SQE, the 16-byte CQE or the PDU header (HLEN bytes); a bit field's bits must lie inside that integer.",
        helpLinkUri: HelpLink + "#scalio102");

    public static readonly DiagnosticDescriptor FieldOverlap = new(
        "SCALIO103",
        "NVMe fields overlap",
        "Field '{0}' of '{1}' overlaps {2}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Fields may share bytes only as bit fields of the same integer (same offset and size) with disjoint bits. Bytes 0-3 of an SQE (and byte 4 of a Fabrics command), bytes 8-15 of a CQE and bytes 0-7 of a PDU belong to the generator.",
        helpLinkUri: HelpLink + "#scalio103");

    public static readonly DiagnosticDescriptor BadFieldName = new(
        "SCALIO104",
        "Invalid NVMe field name",
        "Field name '{0}' of '{1}' {2}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Field names become property names: they must be C# identifiers, unique within the description and different from the generated members.",
        helpLinkUri: HelpLink + "#scalio104");

    public static readonly DiagnosticDescriptor BadPduHeader = new(
        "SCALIO105",
        "Invalid NVMe/TCP PDU description",
        "PDU '{0}': {1}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "HLEN is 8..255 bytes (the 8-byte common header plus the PDU-specific header); the PDU type is 0..255; Fabrics types only apply to opcode 7Fh.",
        helpLinkUri: HelpLink + "#scalio105");

    public static readonly DiagnosticDescriptor Duplicate = new(
        "SCALIO106",
        "Duplicate NVMe description",
        "'{0}' describes the same {1} as '{2}'",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "Each command (opcode and fabrics type) and each PDU type is described once, so decoders cannot be ambiguous.",
        helpLinkUri: HelpLink + "#scalio106");

    public static DiagnosticDescriptor ById(string id) => id switch
    {
        "SCALIO101" => NotPartial,
        "SCALIO102" => FieldOutOfRange,
        "SCALIO103" => FieldOverlap,
        "SCALIO104" => BadFieldName,
        "SCALIO105" => BadPduHeader,
        "SCALIO106" => Duplicate,
        _ => throw new ArgumentException("unknown diagnostic id " + id, nameof(id)),
    };
}
