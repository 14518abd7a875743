using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Scalio.Fast.Client;
using Scalio.Generators.Schema;

namespace Scalio.Tests.Generators;

/// <summary>Runs the schema generator over in-memory sources against the real Scalio.Fast, Scalio.Verbs, Scalio.Nvme and Scalio.Offload assemblies.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        var paths = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string tpa = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        foreach (string path in tpa.Split(Path.PathSeparator))
        {
            if (path.Length > 0) paths.Add(path);
        }
        paths.Add(typeof(ScalioClient).Assembly.Location);
        paths.Add(typeof(Scalio.Verbs.WorkRequest).Assembly.Location);
        paths.Add(typeof(Scalio.Nvme.SubmissionQueueEntry).Assembly.Location);
        paths.Add(typeof(Scalio.Offload.IOffloadReadPath).Assembly.Location);
        var refs = ImmutableArray.CreateBuilder<MetadataReference>();
        foreach (string path in paths) refs.Add(MetadataReference.CreateFromFile(path));
        return refs.ToImmutable();
    });

    public static CSharpCompilation Compile(params string[] sources)
    {
        var trees = new SyntaxTree[sources.Length];
        for (int i = 0; i < sources.Length; i++) trees[i] = CSharpSyntaxTree.ParseText(sources[i], ParseOptions, path: $"Source{i}.cs");
        return CSharpCompilation.Create(
            "GeneratorTest" + Guid.NewGuid().ToString("N"),
            trees,
            References.Value,
            new CSharpCompilationOptions(
                OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable,
                allowUnsafe: true));
    }

    public static GeneratorDriver Driver(AnalyzerConfigOptionsProvider? options = null, bool track = false)
        => CSharpGeneratorDriver.Create(
            [new SchemaGenerator().AsSourceGenerator()],
            parseOptions: ParseOptions,
            optionsProvider: options,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: track));

    /// <summary>Runs the generator; returns the output compilation and the generator's own diagnostics.</summary>
    public static (Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics, GeneratorDriverRunResult Run) Run(
        string source, AnalyzerConfigOptionsProvider? options = null)
    {
        CSharpCompilation input = Compile(source);
        GeneratorDriver driver = Driver(options).RunGeneratorsAndUpdateCompilation(input, out Compilation output, out ImmutableArray<Diagnostic> diagnostics);
        return (output, diagnostics, driver.GetRunResult());
    }

    /// <summary>Compiler warnings and errors of a compilation (hidden and info diagnostics left out).</summary>
    public static List<Diagnostic> Problems(Compilation compilation)
    {
        var list = new List<Diagnostic>();
        foreach (Diagnostic d in compilation.GetDiagnostics())
        {
            if (d.Severity >= DiagnosticSeverity.Warning) list.Add(d);
        }
        return list;
    }

    public static Assembly Load(Compilation compilation)
    {
        using var stream = new MemoryStream();
        var result = compilation.Emit(stream);
        if (!result.Success) throw new InvalidOperationException(string.Join(Environment.NewLine, result.Diagnostics));
        return Assembly.Load(stream.ToArray());
    }
}

/// <summary>An options provider with a fixed set of global (build_property) options.</summary>
internal sealed class GlobalOptionsProvider(Dictionary<string, string> values) : AnalyzerConfigOptionsProvider
{
    private readonly Options _global = new(values);

    public override AnalyzerConfigOptions GlobalOptions => _global;

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => Options.Empty;

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => Options.Empty;

    private sealed class Options(Dictionary<string, string> values) : AnalyzerConfigOptions
    {
        public static readonly Options Empty = new([]);

        public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
            => values.TryGetValue(key, out value);
    }
}
