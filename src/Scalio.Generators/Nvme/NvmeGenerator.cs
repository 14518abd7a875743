using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using Scalio.Generators.Helpers;

namespace Scalio.Generators.Nvme;

/// <summary>
/// Generates NVMe submission-queue-entry encoders, completion-queue-entry decoders and NVMe/TCP PDU header
/// encoders/decoders from declarative descriptions: <c>[NvmeCommand]</c>, <c>[NvmeCompletion]</c> and
/// <c>[NvmeTcpPdu]</c> on partial structs, each with <c>[NvmeField]</c> attributes (types in Scalio.Nvme,
/// namespace <c>Scalio.Nvme.Generation</c>). Pipeline: attribute lookup, parse to an equatable model,
/// emit; duplicate descriptions are found on the collected models.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class NvmeGenerator : IIncrementalGenerator
{
    /// <summary>Metadata name of the command attribute.</summary>
    public const string CommandAttributeName = "Scalio.Nvme.Generation.NvmeCommandAttribute";
    /// <summary>Metadata name of the completion attribute.</summary>
    public const string CompletionAttributeName = "Scalio.Nvme.Generation.NvmeCompletionAttribute";
    /// <summary>Metadata name of the PDU attribute.</summary>
    public const string PduAttributeName = "Scalio.Nvme.Generation.NvmeTcpPduAttribute";
    /// <summary>Metadata name of the field attribute.</summary>
    public const string FieldAttributeName = "Scalio.Nvme.Generation.NvmeFieldAttribute";

    /// <summary>Tracking name of the command parse step.</summary>
    public const string CommandStep = "Nvme.Command";
    /// <summary>Tracking name of the completion parse step.</summary>
    public const string CompletionStep = "Nvme.Completion";
    /// <summary>Tracking name of the PDU parse step.</summary>
    public const string PduStep = "Nvme.Pdu";
    /// <summary>Tracking name of the duplicate-detection step.</summary>
    public const string DuplicatesStep = "Nvme.Duplicates";

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<NvmeDescriptionModel> commands = Describe(context, CommandAttributeName, NvmeDescriptionKind.Command, CommandStep);
        IncrementalValuesProvider<NvmeDescriptionModel> completions = Describe(context, CompletionAttributeName, NvmeDescriptionKind.Completion, CompletionStep);
        IncrementalValuesProvider<NvmeDescriptionModel> pdus = Describe(context, PduAttributeName, NvmeDescriptionKind.Pdu, PduStep);

        Output(context, commands);
        Output(context, completions);
        Output(context, pdus);

        IncrementalValueProvider<EquatableArray<NvmeDiagnosticInfo>> duplicates = commands.Collect()
            .Combine(pdus.Collect())
            .Select(static (pair, _) => NvmeParser.FindDuplicates(pair.Left.AddRange(pair.Right)))
            .WithTrackingName(DuplicatesStep);
        context.RegisterSourceOutput(duplicates, static (spc, found) =>
        {
            foreach (NvmeDiagnosticInfo d in found) spc.ReportDiagnostic(d.ToDiagnostic());
        });
    }

    private static IncrementalValuesProvider<NvmeDescriptionModel> Describe(
        IncrementalGeneratorInitializationContext context, string attribute, NvmeDescriptionKind kind, string step)
        => context.SyntaxProvider
            .ForAttributeWithMetadataName(
                attribute,
                static (node, _) => node is StructDeclarationSyntax,
                (ctx, ct) => NvmeParser.Parse(ctx, kind, ct))
            .Where(static m => m is not null)
            .Select(static (m, _) => m!)
            .WithTrackingName(step);

    private static void Output(IncrementalGeneratorInitializationContext context, IncrementalValuesProvider<NvmeDescriptionModel> models)
        => context.RegisterSourceOutput(models, static (spc, model) =>
        {
            foreach (NvmeDiagnosticInfo d in model.Diagnostics) spc.ReportDiagnostic(d.ToDiagnostic());
            if (model.Diagnostics.Count == 0)
            {
                spc.AddSource(NvmeEmitter.HintName(model), SourceText.From(NvmeEmitter.Emit(model), System.Text.Encoding.UTF8));
            }
        });
}
