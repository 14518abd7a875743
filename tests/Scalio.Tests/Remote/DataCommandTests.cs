using System.Globalization;
using System.Text.RegularExpressions;
using Scalio.Tests.Libfabric;

namespace Scalio.Tests.Remote;

/// <summary>
/// Issue 15, must-show 6: <c>scalio put|get|delete|stats</c>, each in its own process, embedded on <c>--data-dir</c>
/// and against a running server with <c>--connect</c>. Not found is exit 1 with one line; bad input one
/// <c>error:</c> line and exit 2.
/// </summary>
public sealed partial class DataCommandTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();

    private static async Task<(int Exit, List<string> Out, List<string> Err)> Run(params string[] args)
    {
        using var p = new ScalioProcess(string.Join(' ', args), args);
        int exit = await p.WaitForExitAsync(Limit);
        var lines = p.Lines.ToList();
        return (exit,
            lines.Where(l => !l.StartsWith("[stderr] ", StringComparison.Ordinal)).ToList(),
            lines.Where(l => l.StartsWith("[stderr] ", StringComparison.Ordinal)).Select(l => l["[stderr] ".Length..]).ToList());
    }

    private static void AssertOk((int Exit, List<string> Out, List<string> Err) r, string what)
        => Assert.True(r.Exit == 0 && r.Err.Count == 0, $"{what}: exit {r.Exit}\n{string.Join('\n', r.Out)}\n{string.Join('\n', r.Err)}");

    private static void AssertNotFound((int Exit, List<string> Out, List<string> Err) r, string key)
    {
        Assert.True(r.Exit == 1, $"exit {r.Exit}\n{string.Join('\n', r.Out)}\n{string.Join('\n', r.Err)}");
        Assert.Empty(r.Out);
        Assert.Equal($"not found: {key}", Assert.Single(r.Err));
    }

    private static void AssertUsage((int Exit, List<string> Out, List<string> Err) r, string expected)
    {
        Assert.True(r.Exit == 2, $"exit {r.Exit}\n{string.Join('\n', r.Out)}\n{string.Join('\n', r.Err)}");
        string line = Assert.Single(r.Err);
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Put_then_get_in_a_new_process_prints_the_value_and_delete_removes_it()
    {
        using var dir = new TempDir();
        string d = dir.Path;
        AssertOk(await Run("put", "k1", "v1", "--data-dir", d), "put");
        var get = await Run("get", "k1", "--data-dir", d);
        AssertOk(get, "get");
        Assert.Equal("v1", Assert.Single(get.Out));

        AssertNotFound(await Run("get", "k2", "--data-dir", d), "k2");
        AssertOk(await Run("put", "--hex", "6b32", "00ff10", "--data-dir", d), "put --hex");
        var hex = await Run("get", "k2", "--hex", "--data-dir", d); // --hex applies to the key too: "k2" is not hex
        AssertUsage(hex, "KEY 'k2' is not hexadecimal");
        hex = await Run("get", "6b32", "--hex", "--data-dir", d);
        AssertOk(hex, "get --hex");
        Assert.Equal("00ff10", Assert.Single(hex.Out));

        AssertOk(await Run("delete", "k1", "--data-dir", d), "delete");
        AssertNotFound(await Run("get", "k1", "--data-dir", d), "k1");
        AssertOk(await Run("delete", "never-stored", "--data-dir", d), "delete of a key never stored (idempotent)");

        var stats = await Run("stats", "--data-dir", d);
        AssertOk(stats, "stats");
        Assert.Contains(stats.Out, l => l.StartsWith("store ", StringComparison.Ordinal) && l.Contains("1 SSD(s)", StringComparison.Ordinal));
        Assert.Contains(stats.Out, l => l.StartsWith("ssd0: recovered", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bad_input_is_one_error_line_and_exit_2()
    {
        using var dir = new TempDir();
        AssertUsage(await Run("get", "k1"), "give exactly one of --data-dir DIR and --connect ADDRESS:PORT");
        AssertUsage(await Run("get", "k1", "--data-dir", dir.Path, "--connect", "127.0.0.1:1"), "give exactly one of");
        AssertUsage(await Run("get", "k1", "--data-dir", dir.Path), "holds no store");
        Assert.Empty(Directory.GetFiles(dir.Path)); // a read never creates a store
        AssertUsage(await Run("put", "k1", "--data-dir", dir.Path), "Required argument missing");
        AssertUsage(await Run("put", "a-key-of-17-bytes", "v", "--data-dir", dir.Path), "the key is 17 bytes; this store's keys are 1..16 bytes");
        AssertUsage(await Run("put", "k", new string('v', 65), "--data-dir", dir.Path), "the value is 65 bytes; this store's values are at most 64 bytes");
        AssertUsage(await Run("put", "--hex", "zz", "00", "--data-dir", dir.Path), "KEY 'zz' is not hexadecimal");
        AssertUsage(await Run("put", "k", "v", "--data-dir", "/proc/scalio-no-such-dir"), "--data-dir /proc/scalio-no-such-dir cannot be used");
        AssertUsage(await Run("get", "k", "--connect", "nope"), "--connect: 'nope' is not an address:port");
    }

    [Fact]
    public async Task A_data_dir_held_by_a_running_server_is_refused_with_exit_2()
    {
        using var dir = new TempDir();
        using var server = new ScalioProcess("server", "server", "--data-dir", dir.Path, "--records", "400");
        await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Limit);
        AssertUsage(await Run("put", "k1", "v1", "--data-dir", dir.Path, "--records", "400"), "is in use by another scalio process");
        server.Terminate();
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        AssertOk(await Run("put", "k1", "v1", "--data-dir", dir.Path, "--records", "400"), "put after the server stopped");
    }

    [LibfabricFact]
    public async Task Against_a_running_server_connect_works_the_same()
    {
        using var server = new ScalioProcess("server", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--records", "400");
        string ready = await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Limit);
        string addr = "127.0.0.1:" + int.Parse(Listening().Match(ready).Groups[1].Value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture);

        AssertOk(await Run("put", "k1", "v1", "--connect", addr), "put --connect");
        var get = await Run("get", "k1", "--connect", addr);
        AssertOk(get, "get --connect");
        Assert.Equal("v1", Assert.Single(get.Out));
        AssertNotFound(await Run("get", "k2", "--connect", addr), "k2");
        AssertOk(await Run("delete", "k1", "--connect", addr), "delete --connect");
        AssertNotFound(await Run("get", "k1", "--connect", addr), "k1");
        var stats = await Run("stats", "--connect", addr);
        AssertOk(stats, "stats --connect");
        Assert.Contains(stats.Out, l => l.StartsWith("server 127.0.0.1:", StringComparison.Ordinal) && l.Contains("offload target 127.0.0.1:", StringComparison.Ordinal));

        server.Terminate();
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    private sealed class TempDir : IDisposable
    {
        public TempDir()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "scalio-data-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
