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
        if (!((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Contains("Scalio.Nvme.dll", StringComparison.Ordinal))
        {
            refs.Add(MetadataReference.CreateFromFile(typeof(Scalio.Nvme.NvmeStatus).Assembly.Location));
        }
        return refs.ToImmutable();
    });

    private const string Usings = "using Scalio.Nvme.Generation;\n";

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

    private const string AnyOpcode = """
        namespace User.Nvme
        {
            /// <summary>Eight bytes stored as one field.</summary>
            public struct Pair { public uint A; public uint B; }

            /// <summary>An entry of any opcode.</summary>
            [NvmeCommand]
            [NvmeField("Nsid", 4, 4)]
            [NvmeField("Pointer", 24, 8, Type = typeof(Pair))]
            [NvmeField("Count", 48, 4, Bit = 0, Bits = 16)]
            [NvmeField("Urgent", 48, 4, Bit = 31, Bits = 1)]
            public partial struct AnyEntry { }

            /// <summary>A second one: entries of any opcode never collide.</summary>
            [NvmeCommand]
            public partial struct OtherEntry { }

            public static class AnyProbe
            {
                public static int Size => System.Runtime.CompilerServices.Unsafe.SizeOf<AnyEntry>();

                public static byte[] Encode()
                {
                    var b = new byte[64];
                    new AnyEntry
                    {
                        Opcode = 0x99, CommandId = 0x0102, Fuse = global::Scalio.Nvme.FusedOperation.First,
                        Psdt = global::Scalio.Nvme.DataPointerKind.SglMetadataBuffer, Nsid = 7,
                        Pointer = new Pair { A = 0x11223344, B = 0x55667788 }, Count = 0xABCD, Urgent = true,
                    }.WriteTo(b);
                    return b;
                }

                // The struct's bytes are the wire bytes: explicit layout puts every field at its offset.
                public static byte[] Raw()
                {
                    var e = new AnyEntry { Opcode = 0x99, CommandId = 0x0102, Nsid = 7, Count = 0xABCD, Urgent = true };
                    e.Pointer = new Pair { A = 0x11223344, B = 0x55667788 };
                    e.Fuse = global::Scalio.Nvme.FusedOperation.First;
                    e.Psdt = global::Scalio.Nvme.DataPointerKind.SglMetadataBuffer;
                    var b = new byte[64];
                    System.Runtime.InteropServices.MemoryMarshal.Write(b, in e);
                    return b;
                }

                public static bool Decode(byte[] b) => AnyEntry.TryRead(b, out AnyEntry e) && e.Opcode == b[0] && e.Pointer.B == 0x55667788
                    && e.Count == 0xABCD && e.Urgent && e.Fuse == global::Scalio.Nvme.FusedOperation.First;

                public static bool ClearsOneBitOnly()
                {
                    var e = new AnyEntry { Count = 0xFFFF, Urgent = true };
                    e.Urgent = false;
                    return e.Count == 0xFFFF && !e.Urgent;
                }
            }
        }
        """;

    [Fact]
    public void An_entry_without_an_opcode_takes_every_opcode_and_lays_out_as_the_wire_form()
    {
        (Compilation output, ImmutableArray<Diagnostic> diagnostics) = Run(AnyOpcode);
        Assert.Empty(diagnostics);
        // The probe itself is undocumented; the generated code must document every public member.
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning
            && (d.Id != "CS1591" || d.Location.SourceTree?.FilePath.EndsWith(".g.cs", StringComparison.Ordinal) == true)));
        using var stream = new MemoryStream();
        Assert.True(output.Emit(stream).Success);
        var assembly = System.Reflection.Assembly.Load(stream.ToArray());
        Assert.Null(assembly.GetType("User.Nvme.AnyEntry")!.GetField("OpcodeValue"));
        Type probe = assembly.GetType("User.Nvme.AnyProbe")!;
        Assert.Equal(64, (int)probe.GetProperty("Size")!.GetValue(null)!);

        byte[] b = (byte[])probe.GetMethod("Encode")!.Invoke(null, null)!;
        var expected = new byte[64];
        new byte[] { 0x99, 0x41, 0x02, 0x01, 0x07, 0, 0, 0 }.CopyTo(expected, 0); // byte 1: FUSE 01b bits 1:0, PSDT 01b bits 7:6
        new byte[] { 0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55 }.CopyTo(expected, 24);
        new byte[] { 0xCD, 0xAB, 0x00, 0x80 }.CopyTo(expected, 48);
        Assert.Equal(expected, b);
        Assert.Equal(expected, (byte[])probe.GetMethod("Raw")!.Invoke(null, null)!);
        Assert.True((bool)probe.GetMethod("Decode")!.Invoke(null, [b])!);
        b[0] = 0x02;
        Assert.True((bool)probe.GetMethod("Decode")!.Invoke(null, [b])!);
        Assert.True((bool)probe.GetMethod("ClearsOneBitOnly")!.Invoke(null, null)!);
    }

    [Fact]
    public void Bit_fields_are_range_checked_when_set()
    {
        const string program = """
            namespace User.Nvme
            {
                public static class RangeProbe
                {
                    public static void SetMode(byte mode) => _ = new VendorCommand { Mode = mode };
                    public static void SetFuse(byte fuse) => _ = new VendorCommand { Fuse = (global::Scalio.Nvme.FusedOperation)fuse };
                }
            }
            """;
        Driver().RunGeneratorsAndUpdateCompilation(Compile(Usings + Descriptions, program), out Compilation output, out _);
        using var stream = new MemoryStream();
        Assert.True(output.Emit(stream).Success);
        Type probe = System.Reflection.Assembly.Load(stream.ToArray()).GetType("User.Nvme.RangeProbe")!;
        probe.GetMethod("SetMode")!.Invoke(null, [(byte)7]); // Mode is 3 bits wide
        var e = Assert.Throws<System.Reflection.TargetInvocationException>(() => probe.GetMethod("SetMode")!.Invoke(null, [(byte)8]));
        Assert.IsType<ArgumentOutOfRangeException>(e.InnerException);
        e = Assert.Throws<System.Reflection.TargetInvocationException>(() => probe.GetMethod("SetFuse")!.Invoke(null, [(byte)4]));
        Assert.IsType<ArgumentOutOfRangeException>(e.InnerException);
    }

    [Theory]
    [InlineData("[NvmeCommand(0x01)] public struct NotPartial { }", "SCALIO101")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"A\", 62, 4)] public partial struct Outside { }", "SCALIO102")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"A\", 40, 3)] public partial struct OddSize { }", "SCALIO102")]
    [InlineData("[NvmeCommand] [NvmeField(\"A\", 40, 8, Type = typeof(string))] public partial struct NotAStruct { }", "SCALIO102")]
    [InlineData("[NvmeCommand] [NvmeField(\"A\", 40, 8, Type = typeof(System.DayOfWeek))] public partial struct AnEnum { }", "SCALIO102")]
    [InlineData("[NvmeCommand] [NvmeField(\"A\", 40, 8, Type = typeof(System.Guid), Bits = 3)] public partial struct StructBits { }", "SCALIO102")]
    [InlineData("[NvmeCommand] [NvmeField(\"A\", 56, 16, Type = typeof(System.Guid))] public partial struct StructOutside { }", "SCALIO102")]
    [InlineData("[NvmeCommand] [NvmeField(\"Opcode\", 40, 4)] public partial struct OpcodeClash { }", "SCALIO104")]
    [InlineData("[NvmeCommand(0x01)] [NvmeField(\"Fuse\", 40, 4)] public partial struct FuseClash { }", "SCALIO104")]
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
    [InlineData("[NvmeCommand(0x02, Admin = true)] public partial struct Log1 { } [NvmeCommand(0x02, Admin = true)] public partial struct Log2 { }", "SCALIO106")]
    public void Each_diagnostic_fires_on_its_bad_description(string source, string id)
    {
        (_, ImmutableArray<Diagnostic> diagnostics) = Run("namespace Bad { " + source + " }");
        Assert.Contains(diagnostics, d => d.Id == id && d.Severity == DiagnosticSeverity.Error);
        Assert.All(diagnostics, d => Assert.False(string.IsNullOrEmpty(d.Descriptor.HelpLinkUri)));
    }

    [Fact]
    public void An_admin_opcode_may_equal_an_nvm_opcode()
    {
        // Get Log Page (admin 02h) and Read (NVM 02h) are different commands, not duplicates.
        (_, ImmutableArray<Diagnostic> diagnostics) = Run("namespace Ok { [NvmeCommand(0x02, Admin = true)] public partial struct GetLog { } [NvmeCommand(0x02)] public partial struct Read { } }");
        Assert.DoesNotContain(diagnostics, d => d.Id == "SCALIO106");
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
