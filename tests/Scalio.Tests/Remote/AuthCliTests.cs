using System.Globalization;
using System.Text.RegularExpressions;
using Scalio.Tests.Libfabric;
using Scalio.Tests.Storage;

namespace Scalio.Tests.Remote;

/// <summary>
/// Issue 18 must-show 3 with the command line: <c>scalio server --auth-token-file F</c> and <c>scalio target
/// --auth-token-file F</c> processes on 127.0.0.1; <c>scalio ycsb --connect</c> without the token or with a wrong one
/// exits non-zero with one <c>error:</c> line and the server logs one refusal line each; with F it runs.
/// (That no region key reaches a refused client is read off the wire in <see cref="SideChannelAdmissionTests"/>.)
/// </summary>
public sealed partial class AuthCliTests
{
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(30);

    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();

    private static string[] Ycsb(int port, params string[] extra)
        => ["ycsb", "--connect", $"127.0.0.1:{port}", "--workload", "C", "--records", "200", "--operations", "400", "--threads", "1", .. extra];

    private static string[] StderrOf(ScalioProcess p) => [.. p.Lines.Where(l => l.StartsWith("[stderr] ", StringComparison.Ordinal)).Select(l => l["[stderr] ".Length..])];

    [LibfabricFact]
    public async Task Ycsb_without_the_token_or_with_a_wrong_one_exits_with_one_error_line_and_with_the_token_it_runs()
    {
        using var dir = new TempDir();
        string token = Path.Combine(dir.Path, "token"), wrong = Path.Combine(dir.Path, "wrong");
        await File.WriteAllTextAsync(token, "k3y-for-the-cli-test-0123456789\n");
        await File.WriteAllTextAsync(wrong, "not-the-key-for-this-test-98765\n");
        string data = Path.Combine(dir.Path, "data");
        int targetPort = ScalioProcess.FreePort();
        using var server = new ScalioProcess("server", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--data-dir", data, "--records", "200",
            "--offload-target", $"127.0.0.1:{targetPort}", "--auth-token-file", token);
        int port = int.Parse(Listening().Match(await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Ready)).Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.Contains("clients must prove --auth-token-file", string.Join('\n', server.Lines));
        Assert.DoesNotContain(StderrOf(server), l => l.Contains("warning", StringComparison.Ordinal));
        using var target = new ScalioProcess("target", "target", "--data-dir", data, "--listen", $"127.0.0.1:{targetPort}", "--threads", "1", "--auth-token-file", token);
        await target.WaitForLineAsync(l => l.Contains("ready", StringComparison.Ordinal), Ready);

        foreach (var (args, expected) in new[] { (Array.Empty<string>(), "requires an auth token"), (["--auth-token-file", wrong], "wrong auth token") })
        {
            using var refused = new ScalioProcess("refused client", Ycsb(port, args));
            int exit = await refused.WaitForExitAsync(TimeSpan.FromSeconds(60));
            Assert.True(exit != 0, refused.Output);
            var err = StderrOf(refused);
            Assert.True(err.Length == 1 && err[0].StartsWith("error: ", StringComparison.Ordinal) && err[0].Contains(expected, StringComparison.Ordinal), refused.Output);
            Assert.DoesNotContain(refused.Lines, l => l.StartsWith("connected to", StringComparison.Ordinal));
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (StderrOf(server).Count(l => l.Contains("refused client", StringComparison.Ordinal)) < 2 && DateTime.UtcNow < deadline) await Task.Delay(50);
        var refusals = StderrOf(server).Where(l => l.Contains("refused client 127.0.0.1:", StringComparison.Ordinal)).ToArray();
        Assert.True(refusals.Length == 2, server.Output);
        Assert.Contains(refusals, l => l.EndsWith("admission refused: no auth token (the server requires --auth-token-file)", StringComparison.Ordinal));
        Assert.Contains(refusals, l => l.EndsWith("admission refused: wrong auth token", StringComparison.Ordinal));

        using var admitted = new ScalioProcess("admitted client", Ycsb(port, "--auth-token-file", token));
        Assert.True(await admitted.WaitForExitAsync(TimeSpan.FromSeconds(90)) == 0, admitted.Output);
        Assert.Contains(admitted.Lines, l => l.StartsWith("connected to", StringComparison.Ordinal));
        Assert.DoesNotContain(StderrOf(target), l => l.Contains("refused Connect", StringComparison.Ordinal)); // the derived host NQN was admitted
    }

    [GeneratedRegex(@"offload target 127\.0\.0\.1:(\d+) \(([^)]+)\) \(emulated NIC")]
    private static partial Regex InProcessNic();

    [LibfabricFact]
    public async Task A_server_with_a_token_lets_its_in_process_nic_admit_only_the_derived_host()
    {
        using var dir = new TempDir();
        string token = Path.Combine(dir.Path, "token");
        await File.WriteAllTextAsync(token, "k3y-for-the-in-process-nic-test\n");
        using var server = new ScalioProcess("server", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--records", "200", "--auth-token-file", token);
        string ready = await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Ready);
        int port = int.Parse(Listening().Match(ready).Groups[1].Value, CultureInfo.InvariantCulture);
        var nic = InProcessNic().Match(ready);
        Assert.True(nic.Success, ready);
        int nicPort = int.Parse(nic.Groups[1].Value, CultureInfo.InvariantCulture);

        var e = await Assert.ThrowsAsync<Scalio.Nvme.Tcp.NvmeCommandException>(() =>
            Scalio.Nvme.Tcp.NvmeTcpInitiator.ConnectAsync("127.0.0.1", nicPort, nic.Groups[2].Value, "nqn.2024-01.io.example:not-admitted"));
        Assert.Equal(Scalio.Nvme.NvmeStatus.ConnectInvalidHost, e.Status);

        using var admitted = new ScalioProcess("admitted client", Ycsb(port, "--auth-token-file", token));
        Assert.True(await admitted.WaitForExitAsync(TimeSpan.FromSeconds(90)) == 0, admitted.Output);
        Assert.Contains(admitted.Lines, l => l.StartsWith("connected to", StringComparison.Ordinal));
    }

    [LibfabricFact]
    public async Task Token_files_that_cannot_be_used_and_an_open_server_are_reported_in_one_line()
    {
        using var dir = new TempDir();
        string shortToken = Path.Combine(dir.Path, "short");
        await File.WriteAllTextAsync(shortToken, "tiny\n");
        foreach (var (file, expected) in new[] { (shortToken, "holds 4 bytes; a token needs at least 16"), (Path.Combine(dir.Path, "missing"), "does not exist") })
        {
            using var server = new ScalioProcess("server", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--auth-token-file", file);
            Assert.Equal(2, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            var err = StderrOf(server);
            Assert.True(err.Length == 1 && err[0].StartsWith("error: server: --auth-token-file: auth token file", StringComparison.Ordinal) && err[0].Contains(expected, StringComparison.Ordinal), server.Output);
        }

        using var open = new ScalioProcess("open server", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0");
        await open.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Ready);
        for (int i = 0; i < 100 && StderrOf(open).Length == 0; i++) await Task.Delay(50); // stderr is read on its own thread
        var warning = Assert.Single(StderrOf(open));
        Assert.Contains("warning: no --auth-token-file given; any process that reaches 127.0.0.1:", warning);
        open.Terminate();
        Assert.Equal(0, await open.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }
}
