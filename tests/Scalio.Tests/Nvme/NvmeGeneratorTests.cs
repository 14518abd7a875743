using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Scalio.Generators.Nvme;

namespace Scalio.Tests.Nvme;

/// <summary>The NVMe encoder generator under CSharpGeneratorDriver: clean output, every diagnostic, incremental caching.</summary>
public sealed class NvmeGeneratorTests
{
    private static readonly CSharpParseOptions Parse = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var refs = ImmutableArray.CreateBuilder<MetadataReference>();
        foreach (string path in ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator))
        {
            if (path.Length > 0) refs.Add(MetadataReference.CreateFromFile(path));
        }
        if (!((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Contains("Scalio.Verbs.dll", StringComparison.Ordinal))
        {
            refs.Add(MetadataReference.CreateFromFile(typeof(Scalio.Verbs.Nvme.NvmeStatus).Assembly.Location));
        }
        return refs.ToImmutable();
    });

    private const string Usings = "using Scalio.Verbs.Nvme.Generation;\n";

    private static CSharpCompilation Compile(params string[] sources) => CSharpCompilation.Create(
        "NvmeGen" + Guid.NewGuid().ToString("N"),
        sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, Parse, path: $"S{i}.cs")),
        References.Value,
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    private static GeneratorDriver Driver(bool track = false) => CSharpGeneratorDriver.Create(
        [new NvmeGenerator().AsSourceGenerator()],
        parseOptions: Parse,
        driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: track));

    private static (Compilation Output, ImmutableArray<Diagnostic> Diagnostics) Run(string source)
    {
        Driver().RunGeneratorsAndUpdateCompilation(Compile(Usings + source), out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        return (output, diagnostics);
    }

    private const string Descriptions = """
        namespace User.Nvme
        {
            /// <summary>A vendor command.</summary>
            [NvmeCommand(0xC1)]
            [NvmeField("Nsid", 4, 4)]
            [NvmeField("Lba", 40, 8, Description = "Some LBA")]
            [NvmeField("Count", 48, 4, Bit = 0, Bits = 16)]
            [NvmeField("Urgent", 48, 4, Bit = 31, Bits = 1)]
            [NvmeField("Mode", 48, 4, Bit = 20, Bits = 3)]
            public partial struct VendorCommand { }

            /// <summary>A fabrics command.</summary>
            [NvmeCommand(0x7F, FabricsType = 0xC0)]
            [NvmeField("Value", 48, 8)]
            public partial struct VendorFabrics { }

            /// <summary>A completion.</summary>
            [NvmeCompletion]
            [NvmeField("Result", 0, 4)]
            [NvmeField("Flag", 4, 4, Bit = 3, Bits = 1)]
            public partial struct VendorCompletion { }

            /// <summary>A PDU.</summary>
            [NvmeTcpPdu(0x0A, 32, AllowedFlags = 0x05, CarriesData = true)]
            [NvmeField("Tag", 8, 2)]
            [NvmeField("Offset", 12, 4)]
            [NvmeField("Extra", 24, 8)]
            public partial struct VendorPdu { }

            /// <summary>A fixed-size PDU.</summary>
            [NvmeTcpPdu(0x0B, 16, NeverDigested = true)]
            [NvmeField("Code", 8, 1)]
            public partial struct FixedPdu { }
        }
        """;

    [Fact]
    public void Output_compiles_without_warnings_and_round_trips()
    {
        (Compilation output, ImmutableArray<Diagnostic> diagnostics) = Run(Descriptions);
        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Equal(5, output.SyntaxTrees.Count() - 1);

        using var stream = new MemoryStream();
        Assert.True(output.Emit(stream).Success);
        var assembly = System.Reflection.Assembly.Load(stream.ToArray());
        Type type = assembly.GetType("User.Nvme.VendorCommand")!;
        Assert.Equal((byte)0xC1, (byte)type.GetField("OpcodeValue")!.GetValue(null)!);
        Assert.Equal((byte)0xC0, (byte)assembly.GetType("User.Nvme.VendorFabrics")!.GetField("FabricsTypeValue")!.GetValue(null)!);
        Assert.Equal(32, (int)assembly.GetType("User.Nvme.VendorPdu")!.GetField("HeaderLength")!.GetValue(null)!);
    }

    [Fact]
    public void Generated_code_encodes_bit_fields_into_their_dword()
    {
        // Compile a tiny program that encodes through the generated API and returns the bytes.
        const string program = """
            namespace User.Nvme
            {
                public static class Probe
                {
                    public static byte[] Encode()
                    {
                        var b = new byte[64];
                        new VendorCommand { CommandId = 0x0102, Nsid = 7, Lba = 0x0A0B0C0D, Count = 9, Urgent = true, Mode = 5 }.WriteTo(b);
                        return b;
                    }

                    public static bool Decode(byte[] b) => VendorCommand.TryRead(b, out VendorCommand c) && c.Mode == 5 && c.Urgent && c.Count == 9;
                }
            }
            """;
        Driver().RunGeneratorsAndUpdateCompilation(Compile(Usings + Descriptions, program), out Compilation output, out _);
        using var stream = new MemoryStream();
        Assert.True(output.Emit(stream).Success);
        Type probe = System.Reflection.Assembly.Load(stream.ToArray()).GetType("User.Nvme.Probe")!;
        byte[] b = (byte[])probe.GetMethod("Encode")!.Invoke(null, null)!;
        var expected = new byte[64];
        new byte[] { 0xC1, 0x00, 0x02, 0x01, 0x07, 0, 0, 0 }.CopyTo(expected, 0);
        new byte[] { 0x0D, 0x0C, 0x0B, 0x0A, 0, 0, 0, 0 }.CopyTo(expected, 40);
        new byte[] { 0x09, 0x00, 0x50, 0x80 }.CopyTo(expected, 48); // Count bits 15:0, Mode bits 22:20 = 5, Urgent bit 31
        Assert.Equal(expected, b);
        Assert.True((bool)probe.GetMethod("Decode")!.Invoke(null, [b])!);
    }

    [Theory]
    [InlineData("[NvmeCommand(0x01)] public struct NotPartial { }", "SCALIO101")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"A\", 62, 4)] public partial struct Outside { }", "SCALIO102")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"A\", 40, 3)] public partial struct OddSize { }", "SCALIO102")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"A\", 40, 4, Bit = 30, Bits = 4)] public partial struct BitsOutside { }", "SCALIO102")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"A\", 40, 4)] [NvmeField(\"B\", 42, 2)] public partial struct Overlap { }", "SCALIO103")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"A\", 40, 4, Bit = 0, Bits = 8)] [NvmeField(\"B\", 40, 4, Bit = 4, Bits = 8)] public partial struct BitOverlap { }", "SCALIO103")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"A\", 2, 2)] public partial struct OverCid { }", "SCALIO103")]
    [InlineData("[NvmeCompletion] [NvmeField(\"A\", 12, 2)] public partial struct OverStatus { }", "SCALIO103")]
    [InlineData("[NvmeTcpPdu(0x20, 24)] [NvmeField(\"A\", 4, 4)] public partial struct OverCommonHeader { }", "SCALIO103")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"class\", 40, 4)] public partial struct Keyword { }", "SCALIO104")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"CommandId\", 40, 4)] public partial struct Clash { }", "SCALIO104")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"A\", 40, 4)] [NvmeField(\"A\", 44, 4)] public partial struct Twice { }", "SCALIO104")]
    [InlineData("[NvmeTcpPdu(0x20, 300)] public partial struct HugeHeader { }", "SCALIO105")]
    [InlineData("[NvmeCommand(0x01, FabricsType = 1)] public partial struct FabricsWithoutOpcode { }", "SCALIO105")]
    [InlineData("[NvmeCommand(0x55)] public partial struct First { } [NvmeCommand(0x55)] public partial struct Second { }", "SCALIO106")]
    [InlineData("[NvmeTcpPdu(0x21, 24)] public partial struct P1 { } [NvmeTcpPdu(0x21, 24)] public partial struct P2 { }", "SCALIO106")]
    public void Each_diagnostic_fires_on_its_bad_description(string source, string id)
    {
        (_, ImmutableArray<Diagnostic> diagnostics) = Run("namespace Bad { " + source + " }");
        Assert.Contains(diagnostics, d => d.Id == id && d.Severity == DiagnosticSeverity.Error);
        Assert.All(diagnostics, d => Assert.False(string.IsNullOrEmpty(d.Descriptor.HelpLinkUri)));
    }

    [Fact]
    public void An_unrelated_edit_leaves_every_step_cached_or_unchanged()
    {
        CSharpCompilation first = Compile(Usings + Descriptions, "namespace Other { public static class Unrelated { public const int X = 1; } }");
        GeneratorDriver driver = Driver(track: true).RunGenerators(first);
        SyntaxTree oldTree = first.SyntaxTrees.Last();
        CSharpCompilation second = first.ReplaceSyntaxTree(oldTree,
            CSharpSyntaxTree.ParseText("namespace Other { public static class Unrelated { public const int X = 2; public static int Y => X; } }", Parse, path: oldTree.FilePath));
        GeneratorRunResult result = driver.RunGenerators(second).GetRunResult().Results[0];

        string[] steps = [NvmeGenerator.CommandStep, NvmeGenerator.CompletionStep, NvmeGenerator.PduStep, NvmeGenerator.DuplicatesStep];
        foreach (string step in steps)
        {
            Assert.True(result.TrackedSteps.ContainsKey(step), step);
            foreach (IncrementalGeneratorRunStep run in result.TrackedSteps[step])
            {
                foreach ((object _, IncrementalStepRunReason reason) in run.Outputs)
                {
                    Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {reason}");
                }
            }
        }

        foreach (var (_, reason) in result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs))
        {
            Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, reason.ToString());
        }
    }
}
