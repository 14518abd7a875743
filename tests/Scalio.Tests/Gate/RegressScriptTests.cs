using System.Text.RegularExpressions;

namespace Scalio.Tests.Gate;

/// <summary>
/// perf/regress.sh, the perf-regression check (short form): against a fixture commit that spins 2 us in the GET-hit
/// path it exits 1 and names GetHit; HEAD against itself exits 0. The fixture is a commit object made in a worktree of
/// this repository and never referenced by a branch. Two builds and three rounds of step timings: a few minutes.
/// </summary>
public sealed partial class RegressScriptTests
{
    [Fact]
    public async Task Regress_names_a_2us_spin_in_the_get_hit_path_and_passes_head_against_itself()
    {
        string root = RepositoryPaths.Root();
        string temp = Path.Combine(Path.GetTempPath(), "scalio-regress-test-" + Guid.NewGuid().ToString("N"));
        string tree = Path.Combine(temp, "fixture");
        string cache = Path.Combine(temp, "builds");
        try
        {
            string head = (await Run(root, TimeSpan.FromMinutes(1), "git", "rev-parse", "HEAD")).Output.Trim();
            (await Run(root, TimeSpan.FromMinutes(2), "git", "worktree", "add", "--detach", "-q", tree, head)).Check("git worktree add");
            string fixture;
            try
            {
                string get = Path.Combine(tree, "src", "Scalio.Fast", "Client", "BlockFetch.cs");
                string source = await File.ReadAllTextAsync(get);
                var anchor = TakeHitOpening().Match(source);
                Assert.True(anchor.Success, "the fixture patches ScalioClient.TakeHit in Client/BlockFetch.cs; update it if the hit path moved");
                string spin = "\n        { long until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 500_000; while (System.Diagnostics.Stopwatch.GetTimestamp() < until) { } } // regress fixture: 2 us\n";
                await File.WriteAllTextAsync(get, source.Insert(anchor.Index + anchor.Length, spin));
                (await Run(tree, TimeSpan.FromMinutes(1), "git", "-c", "user.name=regress-fixture", "-c", "user.email=fixture@scalio.invalid",
                    "commit", "-q", "-am", "fixture: 2 us spin in the GET-hit path")).Check("git commit");
                fixture = (await Run(tree, TimeSpan.FromMinutes(1), "git", "rev-parse", "HEAD")).Output.Trim();
            }
            finally
            {
                await Run(root, TimeSpan.FromMinutes(1), "git", "worktree", "remove", "--force", tree);
            }

            var slower = await Run(root, TimeSpan.FromMinutes(12), "bash", ["perf/regress.sh", "--quick", head, fixture], cache);
            Assert.True(slower.ExitCode == 1, $"regress.sh HEAD fixture exited {slower.ExitCode}, not 1:\n{slower.Output}");
            string regressed = Assert.Single(slower.Output.Split('\n'), l => l.StartsWith("regressed: ", StringComparison.Ordinal));
            Assert.Contains("GetHit", regressed, StringComparison.Ordinal);

            var same = await Run(root, TimeSpan.FromMinutes(8), "bash", ["perf/regress.sh", "--quick", head, head], cache);
            Assert.True(same.ExitCode == 0, $"regress.sh HEAD HEAD exited {same.ExitCode}, not 0:\n{same.Output}");
            Assert.Contains("no step regressed", same.Output, StringComparison.Ordinal);
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
            await Run(root, TimeSpan.FromMinutes(1), "git", "worktree", "prune");
        }
    }

    [GeneratedRegex(@"private int TakeHit\([^)]*\)\s*\{")]
    private static partial Regex TakeHitOpening();

    private static Task<ToolResult> Run(string dir, TimeSpan limit, string file, params string[] args) => ToolRun.Run(dir, limit, file, args);

    private static Task<ToolResult> Run(string dir, TimeSpan limit, string file, string[] args, string regressCache)
        => ToolRun.Run(dir, limit, file, args, new Dictionary<string, string> { ["SCALIO_REGRESS_CACHE"] = regressCache });
}
