using System.Diagnostics;
using System.IO.Compression;

namespace Scalio.Tests.Generators;

/// <summary>
/// <c>dotnet pack src/Scalio.Fast</c> ships the generator at analyzers/dotnet/cs. Packing rebuilds three projects
/// (a minute or more on two cores); it runs in the default suite, since packaging is a real part users depend on.
/// </summary>
public class PackageTests
{
    [Fact]
    public async Task Pack_puts_the_generator_under_analyzers_dotnet_cs()
    {
        string root = RepositoryRoot();
        string temp = Path.Combine(Path.GetTempPath(), "scalio-pack-" + Guid.NewGuid().ToString("N"));
        try
        {
            var start = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = root,
            };
            foreach (string arg in new[] { "pack", Path.Combine("src", "Scalio.Fast"), "-c", "Release", "-o", Path.Combine(temp, "out"), "--artifacts-path", Path.Combine(temp, "art") })
                start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5)))
            {
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    Assert.Fail("dotnet pack did not finish within 5 minutes");
                }
            }
            string log = await stdout + await stderr;
            Assert.True(process.ExitCode == 0, "dotnet pack failed:\n" + log);

            string package = Assert.Single(Directory.GetFiles(Path.Combine(temp, "out"), "Scalio.Fast.*.nupkg"));
            using ZipArchive zip = ZipFile.OpenRead(package);
            var names = zip.Entries.Select(e => e.FullName).ToList();
            Assert.Contains("analyzers/dotnet/cs/Scalio.Generators.dll", names);
            Assert.Contains("lib/net10.0/Scalio.Fast.dll", names);
            Assert.DoesNotContain(names, n => n.StartsWith("lib/", StringComparison.Ordinal) && n.EndsWith("Scalio.Generators.dll", StringComparison.Ordinal));

            // The generator is not a package dependency (it ships inside); Scalio.Verbs and System.IO.Hashing are.
            ZipArchiveEntry nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
            using var reader = new StreamReader(nuspec.Open());
            string manifest = reader.ReadToEnd();
            Assert.DoesNotContain("Scalio.Generators", manifest, StringComparison.Ordinal);
            Assert.Contains("System.IO.Hashing", manifest, StringComparison.Ordinal);
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
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
