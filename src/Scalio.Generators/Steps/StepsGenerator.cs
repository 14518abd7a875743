using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using Scalio.Fast.Client;
using Scalio.Generators.Helpers;

namespace Scalio.Generators.Steps;

/// <summary>
/// Generates unsafe work-request builders from protocol steps declared with <c>[ProtocolStep]</c> and
/// <c>[StepChain]</c> on a <c>[WorkRequestSteps]</c> partial class (Scalio.Fast's <c>ProtocolSteps</c>). The attribute
/// types live in Scalio.Fast; compilations without them produce nothing.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class StepsGenerator : IIncrementalGenerator
{
    /// <summary>Metadata name of the marker attribute.</summary>
    public const string MarkerMetadataName = "Scalio.Fast.Client.WorkRequestStepsAttribute";

    /// <summary>Metadata name of the step attribute.</summary>
    public const string StepAttributeName = "Scalio.Fast.Client.ProtocolStepAttribute";

    /// <summary>Metadata name of the chain attribute.</summary>
    public const string ChainAttributeName = "Scalio.Fast.Client.StepChainAttribute";

    /// <summary>Tracking name of the parse step (for incremental tests).</summary>
    public const string ParseStep = "WorkRequestSteps.Parse";

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<StepsModel> models = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                MarkerMetadataName,
                static (node, _) => node is ClassDeclarationSyntax,
                static (ctx, ct) => Parse(ctx, ct))
            .Where(static m => m is not null)
            .Select(static (m, _) => m!)
            .WithTrackingName(ParseStep);

        context.RegisterSourceOutput(models, static (spc, model) =>
        {
            foreach (DiagnosticInfo diagnostic in model.Diagnostics) spc.ReportDiagnostic(StepsDiagnostics.ToDiagnostic(diagnostic));
            if (model.Diagnostics.Count == 0)
            {
                spc.AddSource(StepsEmitter.HintName(model), SourceText.From(StepsEmitter.Emit(model), System.Text.Encoding.UTF8));
            }
        });
    }

    internal static StepsModel? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type || context.TargetNode is not ClassDeclarationSyntax syntax) return null;
        cancellationToken.ThrowIfCancellationRequested();
        var diagnostics = new List<DiagnosticInfo>();
        Location nameLocation = syntax.Identifier.GetLocation();
        for (SyntaxNode? node = syntax; node is not null; node = node.Parent)
        {
            if (node is TypeDeclarationSyntax t && !t.Modifiers.Any(SyntaxKind.PartialKeyword))
            {
                diagnostics.Add(DiagnosticInfo.Create(StepsDiagnostics.NotPartial, nameLocation, type.Name));
                break;
            }
        }

        var steps = new List<StepModel>();
        var chains = new List<ChainModel>();
        var names = new HashSet<string>();
        var chainSites = new List<(ChainModel Chain, Location Site)>();
        foreach (AttributeData attribute in type.GetAttributes())
        {
            string? name = attribute.AttributeClass?.ToDisplayString();
            Location site = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken).GetLocation() ?? nameLocation;
            if (name == StepAttributeName && attribute.ConstructorArguments.Length == 4)
            {
                string stepName = attribute.ConstructorArguments[0].Value as string ?? string.Empty;
                int op = ToInt(attribute.ConstructorArguments[1].Value);
                int buffer = ToInt(attribute.ConstructorArguments[2].Value);
                int target = ToInt(attribute.ConstructorArguments[3].Value);
                string? problem = CheckName(stepName, names) ?? CheckStep(op, buffer, target);
                if (problem is not null)
                {
                    diagnostics.Add(DiagnosticInfo.Create(StepsDiagnostics.InvalidStep, site, stepName, problem));
                    continue;
                }
                steps.Add(new StepModel(stepName, (StepOperation)op, (StepBuffer)buffer, (StepTarget)target));
            }
            else if (name == ChainAttributeName && attribute.ConstructorArguments.Length == 2)
            {
                string chainName = attribute.ConstructorArguments[0].Value as string ?? string.Empty;
                var members = new List<string>();
                TypedConstant list = attribute.ConstructorArguments[1];
                if (list.Kind == TypedConstantKind.Array && !list.IsNull)
                {
                    foreach (TypedConstant item in list.Values) members.Add(item.Value as string ?? string.Empty);
                }
                string? problem = CheckName(chainName, names);
                if (problem is not null)
                {
                    diagnostics.Add(DiagnosticInfo.Create(StepsDiagnostics.InvalidChain, site, chainName, problem));
                    continue;
                }
                var chain = new ChainModel(chainName, new EquatableArray<string>(members.ToArray()));
                chains.Add(chain);
                chainSites.Add((chain, site));
            }
        }

        // Chains are checked once every step is known (attribute order does not matter).
        foreach (var (chain, site) in chainSites)
        {
            string? problem = CheckChain(chain, steps);
            if (problem is not null) diagnostics.Add(DiagnosticInfo.Create(StepsDiagnostics.InvalidChain, site, chain.Name, problem));
        }

        var containing = new List<string>();
        for (INamedTypeSymbol? outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
        {
            containing.Insert(0, Declaration(outer));
        }
        string ns = type.ContainingNamespace.IsGlobalNamespace ? string.Empty : type.ContainingNamespace.ToDisplayString();
        return new StepsModel(
            ns,
            new EquatableArray<string>(containing.ToArray()),
            Declaration(type),
            type.Name,
            new EquatableArray<StepModel>(steps.ToArray()),
            new EquatableArray<ChainModel>(chains.ToArray()),
            new EquatableArray<DiagnosticInfo>(diagnostics.ToArray()));
    }

    private static int ToInt(object? value) => value is null ? -1 : System.Convert.ToInt32(value, CultureInfo.InvariantCulture);

    private static string? CheckName(string name, HashSet<string> names)
    {
        if (!SyntaxFacts.IsValidIdentifier(name) || SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None) return $"'{name}' is not a valid method name";
        if (name.StartsWith("Post", System.StringComparison.Ordinal)) return "names starting with 'Post' are reserved for the generated posters";
        if (!names.Add(name)) return "another step or chain has this name";
        return null;
    }

    internal static string? CheckStep(int op, int buffer, int target)
    {
        if (op is < 0 or > 2) return $"unknown operation {op}";
        if (buffer is < 0 or > 4) return $"unknown buffer {buffer}";
        if (target is < 0 or > 4) return $"unknown target {target}";
        var b = (StepBuffer)buffer;
        var t = (StepTarget)target;
        bool paired = (b, t) switch
        {
            (StepBuffer.Bucket, StepTarget.Bucket) => true,
            (StepBuffer.Atomic, StepTarget.SlotHeader) => true,
            (StepBuffer.Location, StepTarget.LocationEntry) => true,
            (StepBuffer.SlotBody, StepTarget.SlotBody) => true,
            (StepBuffer.SlotStamp, StepTarget.SlotStamp) => true,
            _ => false,
        };
        if (!paired) return $"buffer {b} does not match target {t} (Bucket->Bucket, Atomic->SlotHeader, Location->LocationEntry, SlotBody->SlotBody, SlotStamp->SlotStamp)";
        switch ((StepOperation)op)
        {
            case StepOperation.Write when t == StepTarget.SlotHeader:
                return "a slot header changes only by compare-and-swap, never by WRITE";
            case StepOperation.Write when t != StepTarget.SlotBody && t != StepTarget.SlotStamp:
                return $"clients WRITE only slot bodies and access stamps; {t} is read-only to them";
            case StepOperation.CompareSwap when t != StepTarget.SlotHeader:
                return "compare-and-swap works on the 8-byte slot header only";
        }
        return null;
    }

    private static string? CheckChain(ChainModel chain, List<StepModel> steps)
    {
        if (chain.Steps.Count == 0) return "a chain needs at least one step";
        int atomics = 0;
        foreach (string member in chain.Steps)
        {
            StepModel? step = steps.Find(s => s.Name == member);
            if (step is null) return $"'{member}' is not a declared step";
            if (step.Operation == StepOperation.CompareSwap) atomics++;
        }
        if (atomics > 1) return "more than one compare-and-swap: their expected/desired operands would collide";
        return null;
    }

    private static string Declaration(INamedTypeSymbol type)
    {
        string modifiers = type.IsStatic ? "static unsafe partial " : "unsafe partial ";
        string keyword = type.TypeKind == TypeKind.Struct ? (type.IsRecord ? "record struct" : "struct") : (type.IsRecord ? "record" : "class");
        string name = type.Name;
        if (type.TypeParameters.Length > 0)
        {
            var names = new string[type.TypeParameters.Length];
            for (int i = 0; i < names.Length; i++) names[i] = type.TypeParameters[i].Name;
            name += "<" + string.Join(", ", names) + ">";
        }
        return modifiers + keyword + " " + name;
    }
}
