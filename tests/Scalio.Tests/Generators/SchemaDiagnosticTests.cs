using System.Collections.Immutable;
using Microsoft.CodeAnalysis;

namespace Scalio.Tests.Generators;

public class SchemaDiagnosticTests
{
    private const string Prelude = """
        #pragma warning disable CS1591, CS0169, CS0649
        using System;
        using System.Runtime.InteropServices;
        using Scalio.Fast.Schema;
        namespace Bad;
        public struct K { public long A; public long B; }
        public struct V { public long A; }
        public unsafe struct Bytes256 { public fixed byte D[256]; }
        public unsafe struct Bytes257 { public fixed byte D[257]; }
        public unsafe struct Bytes4096 { public fixed byte D[4096]; }
        public unsafe struct Bytes4097 { public fixed byte D[4097]; }

        """;

    private string _lastSource = string.Empty;

    private Diagnostic Single(string source, string id, Dictionary<string, string>? options = null)
    {
        _lastSource = Prelude + source;
        var (output, diagnostics, run) = GeneratorHarness.Run(Prelude + source, options is null ? null : new GlobalOptionsProvider(options));
        Diagnostic d = Assert.Single(diagnostics);
        Assert.Equal(id, d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.False(string.IsNullOrEmpty(d.Descriptor.Description.ToString()));
        Assert.StartsWith("https://", d.Descriptor.HelpLinkUri);
        Assert.Equal(LocationKind.ExternalFile, d.Location.Kind);
        Assert.Equal("Source0.cs", d.Location.GetLineSpan().Path);
        Assert.False(d.Location.SourceSpan.IsEmpty);
        Assert.Equal(d.Location.GetLineSpan().StartLinePosition.Line,
            output.SyntaxTrees.First().GetText().Lines.GetLineFromPosition(d.Location.SourceSpan.Start).LineNumber);
        _ = output;
        _ = run;
        return d;
    }

    private string Text(Diagnostic d) => _lastSource.Substring(d.Location.SourceSpan.Start, d.Location.SourceSpan.Length);

    [Fact]
    public void SCALIO001_reference_field_in_a_value_points_at_the_field()
    {
        Diagnostic d = Single("""
            public struct WithName { public long Id; public string Name; }
            [ScalioSchema(typeof(K), typeof(WithName))] public partial struct S { }
            """, "SCALIO001");
        Assert.Equal("Name", Text(d));
        Assert.Contains("WithName.Name", d.GetMessage());
        Assert.Contains("reference type", d.GetMessage());
    }

    [Fact]
    public void SCALIO001_nested_array_field_and_class_key()
    {
        Diagnostic d = Single("""
            public struct Inner { public int[] Items; }
            public struct Outer { public int A; public Inner I; }
            [ScalioSchema(typeof(Outer), typeof(V))] public partial struct S { }
            """, "SCALIO001");
        Assert.Equal("Items", Text(d));
        Assert.Contains("key type", d.GetMessage());

        Diagnostic c = Single("""
            public sealed class Boxed { public int A; }
            [ScalioSchema(typeof(K), typeof(Boxed))] public partial struct S { }
            """, "SCALIO001");
        Assert.Contains("value type 'Bad.Boxed'", c.GetMessage());
    }

    [Fact]
    public void SCALIO002_schema_or_container_not_partial()
    {
        Diagnostic d = Single("[ScalioSchema(typeof(K), typeof(V))] public struct S { }", "SCALIO002");
        Assert.Equal("S", Text(d));

        Single("""
            public static class Holder
            {
                [ScalioSchema(typeof(K), typeof(V))] public partial struct S { }
            }
            """, "SCALIO002");
    }

    [Fact]
    public void SCALIO003_key_over_the_limit_and_the_limit_is_configurable()
    {
        Diagnostic d = Single("[ScalioSchema(typeof(Bytes257), typeof(V))] public partial struct S { }", "SCALIO003");
        Assert.Contains("257 bytes, over the 256-byte key limit", d.GetMessage());

        var (_, ok, _) = GeneratorHarness.Run(Prelude + "[ScalioSchema(typeof(Bytes256), typeof(V))] public partial struct S { }");
        Assert.Empty(ok);

        var raised = new GlobalOptionsProvider(new() { ["build_property.ScalioMaxKeyBytes"] = "512" });
        var (_, none, _) = GeneratorHarness.Run(Prelude + "[ScalioSchema(typeof(Bytes257), typeof(V))] public partial struct S { }", raised);
        Assert.Empty(none);

        Diagnostic lowered = Single("[ScalioSchema(typeof(K), typeof(V))] public partial struct S { }", "SCALIO003",
            new() { ["build_property.ScalioMaxKeyBytes"] = "8" });
        Assert.Contains("16 bytes, over the 8-byte key limit", lowered.GetMessage());
    }

    [Fact]
    public void SCALIO004_value_over_the_limit()
    {
        Diagnostic d = Single("[ScalioSchema(typeof(K), typeof(Bytes4097))] public partial struct S { }", "SCALIO004");
        Assert.Contains("4097 bytes, over the 4096-byte value limit", d.GetMessage());

        var (_, ok, _) = GeneratorHarness.Run(Prelude + "[ScalioSchema(typeof(K), typeof(Bytes4096))] public partial struct S { }");
        Assert.Empty(ok);
    }

    [Fact]
    public void SCALIO005_slot_count_and_bucket_size()
    {
        Assert.Contains("SlotsPerBucket is 0", Single("[ScalioSchema(typeof(K), typeof(V), SlotsPerBucket = 0)] public partial struct S { }", "SCALIO005").GetMessage());
        Assert.Contains("SlotsPerBucket is 65", Single("[ScalioSchema(typeof(K), typeof(V), SlotsPerBucket = 65)] public partial struct S { }", "SCALIO005").GetMessage());

        // 256 + 4096 + 20 = 4372 -> 4376-byte slots; 16 of them = 70016 bytes > 65536.
        Diagnostic big = Single("[ScalioSchema(typeof(Bytes256), typeof(Bytes4096), SlotsPerBucket = 16)] public partial struct S { }", "SCALIO005");
        Assert.Contains("16 slots of 4376 bytes make a 70016-byte bucket, over the 65536-byte limit", big.GetMessage());

        var (_, ok, _) = GeneratorHarness.Run(Prelude + "[ScalioSchema(typeof(Bytes256), typeof(Bytes4096), SlotsPerBucket = 14)] public partial struct S { }");
        Assert.Empty(ok);
    }

    [Fact]
    public void SCALIO006_duplicate_pair_is_reported_on_the_second_schema()
    {
        Diagnostic d = Single("""
            [ScalioSchema(typeof(K), typeof(V))] public partial struct First { }
            [ScalioSchema(typeof(K), typeof(V), SlotsPerBucket = 4)] public partial struct Second { }
            [ScalioSchema(typeof(V), typeof(K))] public partial struct Swapped { }
            """, "SCALIO006");
        Assert.Equal("Second", Text(d));
        Assert.Contains("as schema 'First'", d.GetMessage());
    }

    [Fact]
    public void SCALIO007_auto_layout_and_type_parameter()
    {
        Diagnostic d = Single("""
            [StructLayout(LayoutKind.Auto)] public struct Loose { public byte A; public long B; }
            [ScalioSchema(typeof(K), typeof(Loose))] public partial struct S { }
            """, "SCALIO007");
        Assert.Contains("LayoutKind.Auto", d.GetMessage());

        Diagnostic g = Single("""
            public struct Generic<T> where T : unmanaged { public T Item; }
            [ScalioSchema(typeof(K), typeof(Generic<>))] public partial struct S { }
            """, "SCALIO007");
        Assert.Contains("open generic type", g.GetMessage());
    }

    [Fact]
    public void Bad_schemas_generate_no_code_but_good_ones_still_do()
    {
        var (_, diagnostics, run) = GeneratorHarness.Run(Prelude + """
            [ScalioSchema(typeof(Bytes257), typeof(V))] public partial struct Bad { }
            [ScalioSchema(typeof(K), typeof(V))] public partial struct Good { }
            """);
        Assert.Equal("SCALIO003", Assert.Single(diagnostics).Id);
        ImmutableArray<SyntaxTree> trees = run.GeneratedTrees;
        Assert.Equal(3, trees.Length); // EmbeddedAttribute, the schema attribute and Good
        Assert.Contains(trees, t => t.FilePath.EndsWith("Bad.Good.ScalioSchema.g.cs", StringComparison.Ordinal));
    }
}
