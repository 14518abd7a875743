using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Scalio.Tests.Libfabric;

namespace Scalio.Tests.Remote;

/// <summary>
/// Issue 16, must-show 5, as a test: a <c>scalio ycsb --connect ... --workload A --history H</c> process runs while its
/// <c>scalio server --fabric tcp</c> is SIGTERMed and restarted on the same port and data; the YCSB threads reconnect
/// and finish the run, and <c>scalio check --verify H</c> passes (a PUT cut by the restart is recorded without an end).
/// </summary>
public sealed partial class RemoteRestartTests
{
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(30);

    [GeneratedRegex(@"^reconnects: (\d+); PUTs with unknown outcome: ([\d,]+)")]
    private static partial Regex Summary();

    /// <summary>CLOCK_MONOTONIC in ns, the clock of remote histories (Stopwatch reads it on Linux).</summary>
    private static long MonotonicNanoseconds() => (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));

    private static ScalioProcess StartServer(string dir, int port, int targetPort)
        => new("server", "server", "--fabric", "tcp", "--listen", $"127.0.0.1:{port}", "--data-dir", dir, "--records", "400",
            "--offload-target", $"127.0.0.1:{targetPort}");

    [LibfabricFact]
    public async Task Remote_ycsb_A_carries_on_through_a_server_restart_and_its_history_is_linearizable()
    {
        string dir = Path.Combine(Path.GetTempPath(), "scalio-restart-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        int port = ScalioProcess.FreePort(), targetPort = ScalioProcess.FreePort();
        string history = Path.Combine(dir, "a.jsonl");
        ScalioProcess? server = null, target = null, client = null;
        try
        {
            server = StartServer(dir, port, targetPort);
            await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Ready);
            target = new ScalioProcess("target", "target", "--data-dir", dir, "--listen", $"127.0.0.1:{targetPort}", "--threads", "1");
            await target.WaitForLineAsync(l => l.Contains("ready", StringComparison.Ordinal), Ready);

            // A run bounded by time only (the operation count is out of reach), long enough to outlast the restart.
            client = new ScalioProcess("ycsb A", "ycsb", "--connect", $"127.0.0.1:{port}", "--workload", "A", "--records", "400",
                "--operations", "100000000", "--threads", "2", "--seconds", "20", "--seed", "16", "--history", history);
            // Restart a second into the run phase (its first progress line comes within 0.2 s of its start).
            await client.WaitForLineAsync(l => l.StartsWith("run: ", StringComparison.Ordinal), TimeSpan.FromSeconds(90)); // the load is slow on a busy 2-vCPU host
            await Task.Delay(TimeSpan.FromSeconds(1));

            server.Terminate();
            Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(20)) == 0, server.Output);
            server.Dispose();
            server = StartServer(dir, port, targetPort); // same port, same data
            await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Ready);
            long restartedNs = MonotonicNanoseconds(); // the history's clock: operations starting later ran against the new server

            int exit = await client.WaitForExitAsync(TimeSpan.FromSeconds(90));
            Assert.True(exit == 0, $"the YCSB client did not finish its run ({exit})\n{client.Output}\n{server.Output}");
            Assert.Contains(client.Lines, l => l.Contains("scalio (remote)", StringComparison.Ordinal)); // the result table: every thread finished
            string summary = Assert.Single(client.Lines, l => Summary().IsMatch(l));
            long reconnects = long.Parse(Summary().Match(summary).Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.True(reconnects >= 1, $"no YCSB thread reconnected, so the restart was not under load\n{client.Output}");

            // The threads carried on: operations started after the restart completed (with a 20 s run, the restart
            // leaves several seconds even when starting a server takes 5-10 s on a busy host).
            var after = Scalio.Checking.HistoryJson.ReadFile(history).Count(o => o.Start > restartedNs && o.End is not null);
            Assert.True(after >= 10, $"only {after} operations completed after the restart\n{client.Output}");

            using var check = new ScalioProcess("check", "check", "--verify", history);
            int verdict = await check.WaitForExitAsync(TimeSpan.FromSeconds(60));
            Assert.True(verdict == 0, "check --verify did not pass\n" + check.Output);
            Assert.Contains(check.Lines, l => l == "verdict: LINEARIZABLE");
        }
        finally
        {
            client?.Dispose();
            server?.Dispose();
            target?.Dispose();
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
