using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Scalio.Generators.Schema;

namespace Scalio.Tests.Generators;

public class SchemaIncrementalTests
{
    private const string Schemas = """
        using Scalio.Fast.Schema;
        namespace Inc;
        public struct K { public long A; public long B; }
        public struct V { public long A; }
        public struct W { public int A; }
        [ScalioSchema(typeof(K), typeof(V))] public partial struct S1 { }
        [ScalioSchema(typeof(K), typeof(W), SlotsPerBucket = 4)] public partial struct S2 { }
        """;

    private static readonly string[] Steps =
        [SchemaGenerator.ParseStep, SchemaGenerator.LimitsStep, SchemaGenerator.CheckStep, SchemaGenerator.DuplicatesStep];

    private static Dictionary<string, List<IncrementalStepRunReason>> Reasons(GeneratorDriverRunResult run)
    {
        var reasons = new Dictionary<string, List<IncrementalStepRunReason>>();
        foreach (var (name, steps) in run.Results[0].TrackedSteps)
        {
            var list = new List<IncrementalStepRunReason>();
            foreach (IncrementalGeneratorRunStep step in steps)
            {
                foreach (var (_, reason) in step.Outputs) list.Add(reason);
            }
            reasons[name] = list;
        }
        return reasons;
    }

    [Fact]
    public void Unrelated_edit_leaves_every_step_cached_or_unchanged()
    {
        CSharpCompilation first = GeneratorHarness.Compile(Schemas, "namespace Other; public class Unrelated { public int X; }");
        GeneratorDriver driver = GeneratorHarness.Driver(track: true).RunGenerators(first);
        Dictionary<string, List<IncrementalStepRunReason>> initial = Reasons(driver.GetRunResult());
        foreach (string step in Steps) Assert.True(initial.ContainsKey(step), $"step {step} is tracked");

        // Edit the unrelated file and add another one.
        SyntaxTree old = first.SyntaxTrees.Last();
        SyntaxTree edited = CSharpSyntaxTree.ParseText("namespace Other; public class Unrelated { public int X; public long Y; }", GeneratorHarness.ParseOptions, path: old.FilePath);
        Compilation second = first.ReplaceSyntaxTree(old, edited)
            .AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Other; public class More { }", GeneratorHarness.ParseOptions, path: "More.cs"));
        GeneratorDriverRunResult run = driver.RunGenerators(second).GetRunResult();

        Dictionary<string, List<IncrementalStepRunReason>> after = Reasons(run);
        foreach (string step in Steps)
        {
            Assert.NotEmpty(after[step]);
            foreach (IncrementalStepRunReason reason in after[step])
            {
                Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"step {step} was {reason}");
            }
        }
        foreach (var output in run.Results[0].TrackedOutputSteps)
        {
            foreach (IncrementalGeneratorRunStep step in output.Value)
            {
                foreach (var (_, reason) in step.Outputs)
                {
                    Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"output {output.Key} was {reason}");
                }
            }
        }
    }

    [Fact]
    public void Editing_a_schema_reruns_only_that_schema()
    {
        CSharpCompilation first = GeneratorHarness.Compile(Schemas);
        GeneratorDriver driver = GeneratorHarness.Driver(track: true).RunGenerators(first);

        SyntaxTree old = first.SyntaxTrees.First();
        SyntaxTree edited = CSharpSyntaxTree.ParseText(Schemas.Replace("SlotsPerBucket = 4", "SlotsPerBucket = 2"), GeneratorHarness.ParseOptions, path: old.FilePath);
        GeneratorDriverRunResult run = driver.RunGenerators(first.ReplaceSyntaxTree(old, edited)).GetRunResult();

        List<IncrementalStepRunReason> check = Reasons(run)[SchemaGenerator.CheckStep];
        Assert.Equal(2, check.Count);
        Assert.Equal(1, check.Count(r => r == IncrementalStepRunReason.Modified));
        Assert.Equal(1, check.Count(r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged));
        Assert.Contains(run.GeneratedTrees, t => t.ToString().Contains("SlotsPerBucket = 2;", StringComparison.Ordinal));
    }
}
