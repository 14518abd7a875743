using Microsoft.CodeAnalysis;

namespace Scalio.Tests.Generators;

/// <summary>SCALIO008: padding inside a key is hashed and compared with it.</summary>
public class SchemaPaddingTests
{
    private static (List<Diagnostic> Generator, Compilation Output) Run(string keyDeclaration)
    {
        string source = """
            #pragma warning disable CS1591, CS0649
            using System;
            using System.Runtime.InteropServices;
            using Scalio.Fast.Schema;
            namespace Pad;
            public struct V { public long A; }

            """ + keyDeclaration + """

            [ScalioSchema(typeof(Key), typeof(V))] public partial struct S { }
            """;
        var (output, diagnostics, _) = GeneratorHarness.Run(source);
        return (diagnostics.ToList(), output);
    }

    [Theory]
    [InlineData("public struct Key { public byte A; public long B; }", 7)]
    [InlineData("public struct Key { public long B; public byte A; }", 7)]
    [InlineData("public struct Key { public Guid Id; public short Tenant; }", 2)]
    [InlineData("public struct Key { public DateTimeOffset At; }", 6)]
    [InlineData("[StructLayout(LayoutKind.Sequential, Size = 24)] public struct Key { public long A; }", 16)]
    [InlineData("public struct Key { }", 1)]
    public void Padded_keys_get_a_warning_and_code_is_still_generated(string key, int padding)
    {
        var (diagnostics, output) = Run(key);
        Diagnostic d = Assert.Single(diagnostics);
        Assert.Equal("SCALIO008", d.Id);
        Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
        Assert.Contains($"has {padding} padding byte(s)", d.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        Assert.Empty(GeneratorHarness.Problems(output)); // the warning does not stop generation
        Assert.NotNull(output.GetTypeByMetadataName("Pad.S+Client"));
    }

    [Theory]
    [InlineData("public struct Key { public long A; public long B; }")]
    [InlineData("public struct Key { public Guid Id; public int Tenant; }")]
    [InlineData("[StructLayout(LayoutKind.Sequential, Pack = 1)] public struct Key { public byte A; public long B; }")]
    [InlineData("public unsafe struct Key { public fixed byte Name[13]; }")]
    [InlineData("[System.Runtime.CompilerServices.InlineArray(16)] public struct Key { private byte _e; }")]
    [InlineData("[StructLayout(LayoutKind.Explicit)] public struct Key { [FieldOffset(0)] public long A; [FieldOffset(0)] public int B; }")]
    public void Keys_without_padding_get_no_warning(string key)
    {
        var (diagnostics, output) = Run(key);
        Assert.Empty(diagnostics);
        Assert.Empty(GeneratorHarness.Problems(output));
    }
}
