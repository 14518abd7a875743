using System;
using Microsoft.CodeAnalysis;
using Scalio.Generators.Helpers;

namespace Scalio.Generators.Steps;

/// <summary>Diagnostics of the work-request step generator. IDs are stable; see AnalyzerReleases.Unshipped.md.</summary>
internal static class StepsDiagnostics
{
    private const string Category = "Scalio.Steps";
    private const string HelpLink = "https://github.com/scalio-fast/scalio-fast/blob/main/docs/diagnostics.md";

    public static readonly DiagnosticDescriptor InvalidStep = new(
        "SCALIO010",
        "Invalid protocol step",
        "Protocol step '{0}': {1}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "A step is one work request: READ from any target into its matching buffer (Bucket->Bucket, SlotHeader->Atomic, LocationEntry->Location, SlotBody->SlotBody, SlotStamp->SlotStamp), WRITE only of a slot body or access stamp (a header changes only by CAS, the index is read-only), CompareSwap only of a slot header into the Atomic buffer. Names must be unique identifiers.",
        helpLinkUri: HelpLink + "#scalio010");

    public static readonly DiagnosticDescriptor InvalidChain = new(
        "SCALIO011",
        "Invalid step chain",
        "Step chain '{0}': {1}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "A chain names one or more declared steps, posted in order with one doorbell. Its operands are shared by name, so a chain holds at most one compare-and-swap (expected/desired would collide).",
        helpLinkUri: HelpLink + "#scalio011");

    public static readonly DiagnosticDescriptor NotPartial = new(
        "SCALIO012",
        "Step declarations must be on a partial class",
        "Type '{0}' must be a partial class (and so must every type that contains it) so the generator can add the work-request builders",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "The builders are added to the class that carries [WorkRequestSteps].",
        helpLinkUri: HelpLink + "#scalio012");

    public static DiagnosticDescriptor ById(string id) => id switch
    {
        "SCALIO010" => InvalidStep,
        "SCALIO011" => InvalidChain,
        "SCALIO012" => NotPartial,
        _ => throw new ArgumentException("unknown diagnostic id " + id, nameof(id)),
    };

    public static Diagnostic ToDiagnostic(DiagnosticInfo info)
    {
        object[] args = new object[info.Arguments.Count];
        for (int i = 0; i < args.Length; i++) args[i] = info.Arguments[i];
        return Diagnostic.Create(ById(info.DescriptorId), info.Location?.ToLocation() ?? Location.None, args);
    }
}
