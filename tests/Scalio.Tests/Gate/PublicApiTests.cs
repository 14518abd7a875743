using System.Text.RegularExpressions;

namespace Scalio.Tests.Gate;

/// <summary>
/// The public API is tracked: every packed project lists it in PublicAPI.Shipped.txt / PublicAPI.Unshipped.txt
/// (eng/public-api.sh), and a build of a commit that adds a public member without listing it fails with RS0016
/// naming the member. The commit is HEAD plus one new public type, built in a detached worktree.
/// </summary>
public sealed partial class PublicApiTests
{
    [Fact]
    public void Every_packed_project_tracks_its_public_api()
    {
        string root = RepositoryPaths.Root();
        var packed = Directory.GetFiles(Path.Combine(root, "src"), "*.csproj", SearchOption.AllDirectories)
            .Where(p => PackableProperty().IsMatch(File.ReadAllText(p))).ToArray();
        string[] expected = ["Scalio.Verbs", "Scalio.Nvme", "Scalio.Offload", "Scalio.Fast", "Scalio.Cli"];
        foreach (string name in expected)
            Assert.Contains(packed, p => Path.GetFileNameWithoutExtension(p) == name);
        // eng/public-api.sh updates exactly the packed projects' lists.
        string script = File.ReadAllText(Path.Combine(root, "eng", "public-api.sh"));
        Assert.Contains("projects=(" + string.Join(' ', packed.Select(p => Path.GetFileNameWithoutExtension(p)).OrderBy(n => Array.IndexOf(expected, n))) + ")", script, StringComparison.Ordinal);
        foreach (string project in packed)
        {
            string dir = Path.GetDirectoryName(project)!;
            foreach (string list in new[] { "PublicAPI.Shipped.txt", "PublicAPI.Unshipped.txt" })
                Assert.True(File.Exists(Path.Combine(dir, list)), $"{Path.GetFileName(project)} has no {list}");
            int entries = File.ReadLines(Path.Combine(dir, "PublicAPI.Shipped.txt")).Concat(File.ReadLines(Path.Combine(dir, "PublicAPI.Unshipped.txt")))
                .Count(l => l.Length > 0 && !l.StartsWith('#'));
            // A tool is a program, not a library: its types are internal and its lists stay empty (an added public type
            // still fails its build, RS0016). A library lists what it exposes.
            if (File.ReadAllText(project).Contains("<PackAsTool>true</PackAsTool>", StringComparison.Ordinal))
                Assert.True(entries == 0, $"{Path.GetFileName(project)} is a tool but lists {entries} public API entries");
            else Assert.True(entries > 0, $"{Path.GetFileName(project)} lists no public API");
        }
    }

    [Fact]
    public async Task A_public_member_added_without_listing_it_fails_the_build()
    {
        string root = RepositoryPaths.Root();
        string temp = Path.Combine(Path.GetTempPath(), "scalio-publicapi-test-" + Guid.NewGuid().ToString("N"));
        string tree = Path.Combine(temp, "tree");
        try
        {
            var add = await Run(root, TimeSpan.FromMinutes(2), "git", "worktree", "add", "--detach", "-q", tree, "HEAD");
            Assert.True(add.ExitCode == 0, "git worktree add: " + add.Output);
            await File.WriteAllTextAsync(Path.Combine(tree, "src", "Scalio.Fast", "PublicApiProbe.cs"), """
                namespace Scalio.Fast;

                /// <summary>A public type no list names.</summary>
                public static class PublicApiProbe
                {
                    /// <summary>One.</summary>
                    public static int One => 1;
                }
                """);
            var build = await Run(tree, TimeSpan.FromMinutes(10), "dotnet", "build", "-c", "Release", Path.Combine("src", "Scalio.Fast"));
            Assert.True(build.ExitCode != 0, "the build passed with an untracked public type:\n" + Tail(build.Output));
            Assert.Contains("RS0016", build.Output, StringComparison.Ordinal);
            Assert.Contains("Scalio.Fast.PublicApiProbe", build.Output, StringComparison.Ordinal);
        }
        finally
        {
            await Run(root, TimeSpan.FromMinutes(1), "git", "worktree", "remove", "--force", tree);
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
            await Run(root, TimeSpan.FromMinutes(1), "git", "worktree", "prune");
        }
    }

    [GeneratedRegex(@"<IsPackable>\s*true\s*</IsPackable>", RegexOptions.IgnoreCase)]
    private static partial Regex PackableProperty();

    private static string Tail(string s) => s.Length > 4000 ? s[^4000..] : s;

    private static Task<ToolResult> Run(string dir, TimeSpan limit, string file, params string[] args) => ToolRun.Run(dir, limit, file, args);
}
