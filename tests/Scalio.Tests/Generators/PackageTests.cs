using System.Diagnostics;
using System.IO.Compression;
using System.Text.RegularExpressions;

namespace Scalio.Tests.Generators;

/// <summary>
/// Packs Scalio.Verbs, Scalio.Nvme, Scalio.Offload, Scalio.Fast and the scalio tool into a temporary folder once (<see cref="PackedScalio"/>), then
/// uses them as a new user would, offline: restores see only that folder and this machine's NuGet cache (a
/// nuget.config with &lt;clear/&gt;), into a fresh packages folder so that no earlier 0.x copy is picked up.
/// Packing rebuilds the shipped projects (a few minutes on two cores); it runs in the default suite, and any missing
/// piece (SDK, cached dependency, package content) fails the tests rather than skipping them.
/// </summary>
public class PackageTests : IClassFixture<PackageTests.PackedScalio>
{
    private readonly PackedScalio _packed;

    /// <summary>Takes the packed folder shared by the tests of this class.</summary>
    public PackageTests(PackedScalio packed) => _packed = packed;

    [Fact]
    public void Scalio_Fast_ships_the_generator_its_props_a_readme_and_depends_on_the_packed_Verbs_Nvme_and_Offload()
    {
        using ZipArchive zip = ZipFile.OpenRead(_packed.Package("Scalio.Fast"));
        var names = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("analyzers/dotnet/cs/Scalio.Generators.dll", names);
        Assert.Contains("lib/net10.0/Scalio.Fast.dll", names);
        Assert.Contains("build/Scalio.Fast.props", names);
        Assert.Contains("buildTransitive/Scalio.Fast.props", names);
        Assert.Contains("README.md", names);
        Assert.DoesNotContain(names, n => n.StartsWith("lib/", StringComparison.Ordinal) && n.EndsWith("Scalio.Generators.dll", StringComparison.Ordinal));

        string props = Read(zip, "build/Scalio.Fast.props");
        foreach (string property in new[] { "ScalioMaxKeyBytes", "ScalioMaxValueBytes", "ScalioMaxBucketBytes" })
            Assert.Contains($"<CompilerVisibleProperty Include=\"{property}\" />", props, StringComparison.Ordinal);

        // The generator ships inside, so it is no dependency; the fabric, NVMe and offload packages are, at the one
        // version every package has.
        string manifest = Read(zip, "Scalio.Fast.nuspec");
        Assert.DoesNotContain("Scalio.Generators", manifest, StringComparison.Ordinal);
        Assert.Contains("System.IO.Hashing", manifest, StringComparison.Ordinal);
        foreach (string dependency in new[] { "Scalio.Verbs", "Scalio.Nvme", "Scalio.Offload" })
            Assert.Contains($"<dependency id=\"{dependency}\" version=\"{_packed.Version}\"", manifest, StringComparison.Ordinal);
        Assert.Contains("<readme>README.md</readme>", manifest, StringComparison.Ordinal);

        // Each library package: its assembly, a README, no generator; each depends on the ones below it (Verbs <- Nvme <- Offload).
        var below = new Dictionary<string, string[]>
        {
            ["Scalio.Verbs"] = [],
            ["Scalio.Nvme"] = ["Scalio.Verbs"],
            ["Scalio.Offload"] = ["Scalio.Verbs", "Scalio.Nvme"],
        };
        foreach (var (id, dependencies) in below)
        {
            using ZipArchive library = ZipFile.OpenRead(_packed.Package(id));
            Assert.Contains($"lib/net10.0/{id}.dll", library.Entries.Select(e => e.FullName));
            Assert.Contains("README.md", library.Entries.Select(e => e.FullName));
            string nuspec = Read(library, $"{id}.nuspec");
            Assert.DoesNotContain("Scalio.Generators", nuspec, StringComparison.Ordinal);
            foreach (string dependency in dependencies)
                Assert.Contains($"<dependency id=\"{dependency}\" version=\"{_packed.Version}\"", nuspec, StringComparison.Ordinal);
            Assert.Equal(dependencies.Length, Regex.Count(nuspec, "<dependency id=\"Scalio\\."));
        }
    }

    [Fact]
    public async Task The_scalio_tool_installs_from_the_local_folder_and_runs_ycsb()
    {
        using ZipArchive zip = ZipFile.OpenRead(_packed.Package("scalio"));
        string manifest = Read(zip, "scalio.nuspec");
        Assert.Contains("<packageType name=\"DotnetTool\"", manifest, StringComparison.Ordinal);
        Assert.Contains(zip.Entries, e => e.FullName.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal));

        string tools = Path.Combine(_packed.Root, "tools");
        await _packed.Dotnet(_packed.Root, TimeSpan.FromMinutes(3),
            "tool", "install", "--tool-path", tools, "--add-source", _packed.Output, "scalio", "--version", _packed.Version);
        string scalio = Path.Combine(tools, OperatingSystem.IsWindows() ? "scalio.exe" : "scalio");
        Assert.True(File.Exists(scalio), "dotnet tool install left no scalio command in " + tools);

        string output = await PackedScalio.Run(scalio, _packed.Root, TimeSpan.FromMinutes(2), _packed.Environment,
            "ycsb", "--records", "2000", "--operations", "20000", "--seconds", "1", "--saturation-seconds", "0");
        Assert.Contains("│ scalio │", output, StringComparison.Ordinal);
        Assert.Contains("value mismatches 0", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_new_console_app_with_its_own_schema_and_a_raised_value_limit_builds_and_runs_from_the_package()
    {
        string app = Path.Combine(_packed.Root, "consumer");
        Directory.CreateDirectory(app);
        // What a user writes: no Directory.Build.props above /tmp, no AllowUnsafeBlocks (the package's props give it for
        // the fixed buffers), a 6 KB value that only compiles with ScalioMaxValueBytes raised on the command line.
        await File.WriteAllTextAsync(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Scalio.Fast" Version="{_packed.Version}" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
            using Scalio.Fast;
            using Scalio.Fast.Client;
            using Scalio.Fast.Schema;

            using var store = new ScalioStore(new ScalioStoreOptions { Layout = ItemSchema.Layout, ExpectedRecords = 400, CacheFraction = 1.0 });
            using ScalioClient raw = store.OpenClient();
            var items = new ItemSchema.Client(raw);
            int bad = 0;
            for (int i = 0; i < 200; i++)
            {
                var key = new TenantItem { TenantId = 7, ItemId = i };
                var item = Item.Make(i);
                if (items.Put(in key, in item) != OpStatus.Ok) bad++;
            }
            for (int pass = 0; pass < 2; pass++)
            {
                for (int i = 0; i < 200; i++)
                {
                    var key = new TenantItem { TenantId = 7, ItemId = i };
                    if (items.Get(in key, out Item read) != OpStatus.Ok || !read.Matches(i)) bad++;
                }
            }
            Console.WriteLine($"value {ItemSchema.ValueCapacity} B, {raw.Counters.Hits} hits, {bad} bad");
            return bad == 0 ? 0 : 1;

            public struct TenantItem { public long TenantId; public long ItemId; }

            public unsafe struct Item
            {
                public fixed byte Name[32];
                public double Price;
                public int Stock;
                public fixed byte Notes[6000];

                public static Item Make(int i)
                {
                    var item = new Item { Price = i * 1.5, Stock = i };
                    item.Name[0] = (byte)i;
                    item.Notes[5999] = (byte)(i * 3);
                    return item;
                }

                public bool Matches(int i) => Price == i * 1.5 && Stock == i && Name[0] == (byte)i && Notes[5999] == (byte)(i * 3);
            }

            [ScalioSchema(typeof(TenantItem), typeof(Item), SlotsPerBucket = 4)]
            public partial struct ItemSchema;
            """);

        await _packed.Dotnet(app, TimeSpan.FromMinutes(4), "build", "-c", "Release", "-p:ScalioMaxValueBytes=8192");
        string output = await PackedScalio.Run("dotnet", app, TimeSpan.FromMinutes(1), _packed.Environment,
            Path.Combine(app, "bin", "Release", "net10.0", "Consumer.dll"));
        Assert.Matches(new Regex(@"value 60\d\d B, [1-9]\d* hits, 0 bad"), output);
    }

    private static string Read(ZipArchive zip, string name)
    {
        ZipArchiveEntry entry = zip.Entries.SingleOrDefault(e => e.FullName == name) ?? throw new Xunit.Sdk.XunitException(name + " is not in the package");
        using var reader = new StreamReader(entry.Open());
        return reader.ReadToEnd();
    }

    /// <summary>The shipped packages, packed once into a temporary folder with an offline nuget.config beside them.</summary>
    public sealed class PackedScalio : IAsyncLifetime
    {
        /// <summary>The temporary folder (nuget.config, packages folder, tool path, consumer app).</summary>
        public string Root { get; } = Path.Combine(Path.GetTempPath(), "scalio-pack-" + Guid.NewGuid().ToString("N"));

        /// <summary>Where dotnet pack put the .nupkg files.</summary>
        public string Output => Path.Combine(Root, "out");

        /// <summary>The one version all packages carry.</summary>
        public string Version { get; private set; } = "";

        /// <summary>Variables for restores: a fresh packages folder, no telemetry.</summary>
        public Dictionary<string, string> Environment { get; } = new();

        /// <summary>The path of the package with this id.</summary>
        public string Package(string id) => Path.Combine(Output, $"{id}.{Version}.nupkg");

        /// <summary>Packs Scalio.Verbs, Scalio.Nvme, Scalio.Offload, Scalio.Fast and the CLI, and writes the offline nuget.config.</summary>
        public async Task InitializeAsync()
        {
            string root = RepositoryRoot();
            Directory.CreateDirectory(Root);
            foreach (string project in new[] { "Scalio.Verbs", "Scalio.Nvme", "Scalio.Offload", "Scalio.Fast", "Scalio.Cli" })
            {
                await Run("dotnet", root, TimeSpan.FromMinutes(5), null,
                    "pack", Path.Combine("src", project), "-c", "Release", "-o", Output, "--artifacts-path", Path.Combine(Root, "art"));
            }
            string[] packages = Directory.GetFiles(Output, "*.nupkg").Select(p => Path.GetFileName(p)!).ToArray();
            Assert.Equal(5, packages.Length);
            string fast = Assert.Single(packages, p => p.StartsWith("Scalio.Fast.", StringComparison.Ordinal));
            Version = fast["Scalio.Fast.".Length..^".nupkg".Length];
            foreach (string library in new[] { "Scalio.Verbs", "Scalio.Nvme", "Scalio.Offload" })
                Assert.Contains($"{library}.{Version}.nupkg", packages);
            Assert.Contains($"scalio.{Version}.nupkg", packages);

            // Offline: this folder and the machine's NuGet cache (as a folder source) and nothing else; restores go
            // into a fresh packages folder, so the packages just made are the ones used.
            string cache = System.Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } set
                ? set : Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            Assert.True(Directory.Exists(cache), "no NuGet packages folder at " + cache + " to restore System.IO.Hashing from");
            await File.WriteAllTextAsync(Path.Combine(Root, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="scalio-local" value="{Output}" />
                    <add key="machine-cache" value="{cache}" />
                  </packageSources>
                </configuration>
                """);
            Environment["NUGET_PACKAGES"] = Path.Combine(Root, "packages");
            Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            Environment["DOTNET_NOLOGO"] = "1";
        }

        /// <summary>Deletes the temporary folder.</summary>
        public Task DisposeAsync()
        {
            try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            return Task.CompletedTask;
        }

        /// <summary>Runs dotnet with the offline environment in <paramref name="directory"/>; fails on a non-zero exit.</summary>
        public Task<string> Dotnet(string directory, TimeSpan timeout, params string[] args) => Run("dotnet", directory, timeout, Environment, args);

        /// <summary>Runs a command; fails the test with its output on a non-zero exit or a timeout.</summary>
        public static async Task<string> Run(string file, string directory, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment, params string[] args)
        {
            var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
            foreach (string arg in args) start.ArgumentList.Add(arg);
            if (environment is not null)
            {
                foreach (var (name, value) in environment) start.Environment[name] = value;
            }
            using var process = Process.Start(start) ?? throw new Xunit.Sdk.XunitException("could not start " + file);
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            using (var cancel = new CancellationTokenSource(timeout))
            {
                try
                {
                    await process.WaitForExitAsync(cancel.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    Assert.Fail($"{file} {string.Join(' ', args)} did not finish within {timeout}");
                }
            }
            string log = await stdout + await stderr;
            Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited with {process.ExitCode}:\n{log}");
            return log;
        }
    }

    private static string RepositoryRoot([System.Runtime.CompilerServices.CallerFilePath] string sourceFile = "")
    {
        // Builds with --artifacts-path put the test assembly outside the tree, so start from this source file too.
        foreach (string start in new[] { Path.GetDirectoryName(sourceFile) ?? string.Empty, AppContext.BaseDirectory })
        {
            for (DirectoryInfo? dir = start.Length > 0 ? new(start) : null; dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Scalio.Fast.sln"))) return dir.FullName;
            }
        }
        throw new InvalidOperationException("Scalio.Fast.sln not found above " + sourceFile + " or " + AppContext.BaseDirectory);
    }
}
