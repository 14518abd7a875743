using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Scalio.Generators.Steps;

namespace Scalio.Tests.Generators;

/// <summary>The work-request step generator run with CSharpGeneratorDriver over in-memory declarations.</summary>
public class WorkRequestStepGeneratorTests
{
    // The step enums are compiled from the product's own file (declared once); the other declaration types are
    // internal to Scalio.Fast, so a test compilation declares them itself (same metadata names).
    private static readonly string Vocabulary = File.ReadAllText(Path.Combine(RepositoryPaths.Root(), "src", "Scalio.Fast", "Client", "StepVocabulary.cs"));

    private const string Declarations = """
        #pragma warning disable CS1591, CS9113, CS0649
        using System;
        using System.Collections.Generic;
        namespace Scalio.Fast.Client
        {
            [AttributeUsage(AttributeTargets.Class)] internal sealed class WorkRequestStepsAttribute : Attribute;
            [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
            internal sealed class ProtocolStepAttribute(string name, StepOperation operation, StepBuffer buffer, StepTarget target) : Attribute;
            [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
            internal sealed class StepChainAttribute(string name, params string[] steps) : Attribute;
            internal readonly struct StepContext
            {
                public readonly ulong LocalBase, BucketsOffset;
                public readonly uint LocalKey, CacheKey, IndexKey;
                public readonly int BucketBuffer, AtomicBuffer, LocationBuffer, SlotBuffer, BucketSize, SlotSize, ValueOffset, LocationEntrySize;
            }
        }
        """;

    private static (Compilation Output, ImmutableArray<Diagnostic> Diagnostics, GeneratorDriver Driver) Run(string source, bool track = false)
    {
        CSharpCompilation input = GeneratorHarness.Compile(Vocabulary, Declarations, source);
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            [new StepsGenerator().AsSourceGenerator()],
            parseOptions: GeneratorHarness.ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: track));
        driver = driver.RunGeneratorsAndUpdateCompilation(input, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        return (output, diagnostics, driver);
    }

    [Fact]
    public void A_custom_step_set_generates_code_that_compiles_without_warnings()
    {
        const string source = """
            using Scalio.Fast.Client;
            namespace App.Steps
            {
                internal static partial class Outer
                {
                    [WorkRequestSteps]
                    [ProtocolStep("PeekHeader", StepOperation.Read, StepBuffer.Atomic, StepTarget.SlotHeader)]
                    [ProtocolStep("Lock", StepOperation.CompareSwap, StepBuffer.Atomic, StepTarget.SlotHeader)]
                    [ProtocolStep("Bucket", StepOperation.Read, StepBuffer.Bucket, StepTarget.Bucket)]
                    [ProtocolStep("Where", StepOperation.Read, StepBuffer.Location, StepTarget.LocationEntry)]
                    [StepChain("LockReadWhere", "Lock", "Bucket", "Where")]
                    [StepChain("JustPeek", "PeekHeader")]
                    internal static unsafe partial class MySteps;
                }
            }
            """;
        var (output, diagnostics, driver) = Run(source);
        Assert.Empty(diagnostics);
        Assert.Empty(GeneratorHarness.Problems(output));
        SyntaxTree generated = Assert.Single(driver.GetRunResult().GeneratedTrees);
        string text = generated.ToString();
        Assert.Contains("public const int MaxChainLength = 3;", text, StringComparison.Ordinal);
        // Only the last request is signaled; the READs after the CAS are fenced; the first is unsignaled.
        Assert.Contains("Lock(chain + 0, in context, firstId + 0, global::Scalio.Verbs.WorkFlags.None, bucket, slot, expected, desired);", text, StringComparison.Ordinal);
        Assert.Contains("Bucket(chain + 1, in context, firstId + 1, global::Scalio.Verbs.WorkFlags.Fence, bucket);", text, StringComparison.Ordinal);
        Assert.Contains("Where(chain + 2, in context, firstId + 2, global::Scalio.Verbs.WorkFlags.Signaled | global::Scalio.Verbs.WorkFlags.Fence, ssdBucket);", text, StringComparison.Ordinal);
        Assert.Contains("public static ulong PostLockReadWhere(global::Scalio.Verbs.QueuePair queuePair, global::Scalio.Verbs.WorkRequest* chain, in global::Scalio.Fast.Client.StepContext context, ulong firstId, int bucket, int slot, int ssdBucket, ulong expected, ulong desired)", text, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> BadDeclarations => new()
    {
        { "[ProtocolStep(\"W\", StepOperation.Write, StepBuffer.Atomic, StepTarget.SlotHeader)]", "SCALIO010", "only by compare-and-swap" },
        { "[ProtocolStep(\"W\", StepOperation.Write, StepBuffer.Bucket, StepTarget.Bucket)]", "SCALIO010", "read-only" },
        { "[ProtocolStep(\"C\", StepOperation.CompareSwap, StepBuffer.Bucket, StepTarget.Bucket)]", "SCALIO010", "slot header only" },
        { "[ProtocolStep(\"R\", StepOperation.Read, StepBuffer.Bucket, StepTarget.SlotBody)]", "SCALIO010", "does not match target" },
        { "[ProtocolStep(\"R\", (StepOperation)7, StepBuffer.Bucket, StepTarget.Bucket)]", "SCALIO010", "unknown operation 7" },
        { "[ProtocolStep(\"class\", StepOperation.Read, StepBuffer.Bucket, StepTarget.Bucket)]", "SCALIO010", "not a valid method name" },
        { "[ProtocolStep(\"PostIt\", StepOperation.Read, StepBuffer.Bucket, StepTarget.Bucket)]", "SCALIO010", "reserved" },
        { "[ProtocolStep(\"R\", StepOperation.Read, StepBuffer.Bucket, StepTarget.Bucket)][ProtocolStep(\"R\", StepOperation.Read, StepBuffer.Location, StepTarget.LocationEntry)]", "SCALIO010", "another step or chain" },
        { "[ProtocolStep(\"R\", StepOperation.Read, StepBuffer.Bucket, StepTarget.Bucket)][StepChain(\"C\", \"R\", \"Missing\")]", "SCALIO011", "'Missing' is not a declared step" },
        { "[ProtocolStep(\"A\", StepOperation.CompareSwap, StepBuffer.Atomic, StepTarget.SlotHeader)][ProtocolStep(\"B\", StepOperation.CompareSwap, StepBuffer.Atomic, StepTarget.SlotHeader)][StepChain(\"C\", \"A\", \"B\")]", "SCALIO011", "more than one compare-and-swap" },
        { "[StepChain(\"Empty\")]", "SCALIO011", "at least one step" },
    };

    [Theory]
    [MemberData(nameof(BadDeclarations))]
    public void Each_bad_declaration_reports_its_diagnostic_and_emits_nothing(string attributes, string id, string message)
    {
        string source = "using Scalio.Fast.Client;\nnamespace Bad;\n[WorkRequestSteps]\n" + attributes + "\ninternal static unsafe partial class S;\n";
        var (_, diagnostics, driver) = Run(source);
        Diagnostic diagnostic = Assert.Single(diagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.Contains(message, diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Equal("Source2.cs", diagnostic.Location.GetLineSpan().Path); // the declaration, not the marker
        Assert.True(diagnostic.Location.GetLineSpan().StartLinePosition.Line >= 3);
        Assert.False(string.IsNullOrEmpty(diagnostic.Descriptor.HelpLinkUri));
        Assert.Empty(driver.GetRunResult().GeneratedTrees);
    }

    [Fact]
    public void A_class_that_is_not_partial_is_reported()
    {
        const string source = """
            using Scalio.Fast.Client;
            namespace Bad;
            [WorkRequestSteps]
            [ProtocolStep("R", StepOperation.Read, StepBuffer.Bucket, StepTarget.Bucket)]
            internal static class NotPartial { }
            """;
        var (_, diagnostics, _) = Run(source);
        Assert.Equal("SCALIO012", Assert.Single(diagnostics).Id);
    }

    [Fact]
    public void Unrelated_edit_leaves_the_parse_step_cached()
    {
        const string source = """
            using Scalio.Fast.Client;
            namespace Inc;
            [WorkRequestSteps]
            [ProtocolStep("R", StepOperation.Read, StepBuffer.Bucket, StepTarget.Bucket)]
            [StepChain("C", "R")]
            internal static unsafe partial class S;
            """;
        CSharpCompilation first = GeneratorHarness.Compile(Vocabulary, Declarations, source, "namespace Other; public class U { public int X; }");
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            [new StepsGenerator().AsSourceGenerator()],
            parseOptions: GeneratorHarness.ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true)).RunGenerators(first);
        SyntaxTree old = first.SyntaxTrees.Last();
        Compilation second = first.ReplaceSyntaxTree(old, CSharpSyntaxTree.ParseText("namespace Other; public class U { public long Y; }", GeneratorHarness.ParseOptions, path: old.FilePath));
        GeneratorRunResult result = driver.RunGenerators(second).GetRunResult().Results[0];

        Assert.True(result.TrackedSteps.ContainsKey(StepsGenerator.ParseStep));
        foreach (IncrementalGeneratorRunStep step in result.TrackedSteps[StepsGenerator.ParseStep])
        {
            foreach (var (_, reason) in step.Outputs) Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"parse step was {reason}");
        }
        foreach (var output in result.TrackedOutputSteps)
        {
            foreach (IncrementalGeneratorRunStep step in output.Value)
            {
                foreach (var (_, reason) in step.Outputs) Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"output {output.Key} was {reason}");
            }
        }
    }
}
