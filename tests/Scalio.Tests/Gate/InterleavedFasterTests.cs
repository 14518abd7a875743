using System.Text.RegularExpressions;

namespace Scalio.Tests.Gate;

/// <summary>
/// perf/Scalio.Perf's <c>interleaved-faster</c> (the batched-hit comparison with FASTER, interleaved in one process), short
/// form: it builds (the suite builds no perf project otherwise), runs two rounds to its summary with every measured
/// batched GET a hit and 0 B allocated by each of the three benchmarks, and refuses a bad value with one error line.
/// Which is faster is not asserted here: the figure is taken on demand (docs/bench/faster.md), not on a shared CI host.
/// </summary>
[Collection(nameof(InterleavedFasterCollection))]
public sealed partial class InterleavedFasterTests
{
    [Fact(Timeout = 900_000)]
    public async Task Interleaved_faster_runs_two_rounds_all_hits_with_nothing_allocated_and_refuses_bad_values()
    {
        string root = RepositoryPaths.Root();
        string artifacts = Path.Combine(Path.GetTempPath(), "scalio-perf-" + Guid.NewGuid().ToString("N"));
        try
        {
            var build = await ToolRun.Run(root, TimeSpan.FromMinutes(8), "dotnet",
                ["build", Path.Combine("perf", "Scalio.Perf"), "-c", "Release", "--artifacts-path", artifacts]);
            Assert.True(build.ExitCode == 0, "perf/Scalio.Perf did not build:\n" + build.Output);
            string dll = Path.Combine(artifacts, "bin", "Scalio.Perf", "release", "Scalio.Perf.dll");
            Assert.True(File.Exists(dll), dll + " is missing after the build");

            var run = await ToolRun.Run(root, TimeSpan.FromMinutes(4), "dotnet", [dll, "interleaved-faster", "--rounds", "2", "--seconds", "0.1"]);
            Assert.True(run.ExitCode == 0, $"interleaved-faster exited {run.ExitCode}:\n{run.Output}");
            Assert.Equal(2, RoundRow().Count(run.Output));
            Assert.Matches(Summary(), run.Output);
            Assert.Contains("allocated in measured windows (process-wide): batch 0 B, FASTER 0 B, reference 0 B", run.Output, StringComparison.Ordinal);

            foreach (string[] wrong in new[] { new[] { "--rounds", "0" }, ["--seconds", "x"], ["--round", "2"] })
            {
                var bad = await ToolRun.Run(root, TimeSpan.FromMinutes(1), "dotnet", [dll, "interleaved-faster", .. wrong]);
                Assert.True(bad.ExitCode == 2, $"{string.Join(' ', wrong)}: exit {bad.ExitCode}\n{bad.Output}");
                string error = Assert.Single(bad.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                Assert.StartsWith("error: ", error, StringComparison.Ordinal);
            }
        }
        finally
        {
            try { Directory.Delete(artifacts, recursive: true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    [GeneratedRegex(@"^\| [12] \| [0-9.]+ ns \| [0-9.]+ ns \| [0-9.]+ ns \| [0-9.]+ \|$", RegexOptions.Multiline)]
    private static partial Regex RoundRow();

    [GeneratedRegex(@"batch ops/s / FASTER ops/s: median [0-9.]+ \(range [0-9.]+-[0-9.]+\); batch ahead in [0-2] of 2 rounds")]
    private static partial Regex Summary();
}

/// <summary>Alone: its Release build of the perf project would take a core from CPU-timed tests running beside it.</summary>
[CollectionDefinition(nameof(InterleavedFasterCollection), DisableParallelization = true)]
public sealed class InterleavedFasterCollection;
