using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Scalio.Fast;
using Scalio.Fast.Client;
using Scalio.Fast.Remote;
using Scalio.Tests.Libfabric;

namespace Scalio.Tests.Remote;

/// <summary>
/// Issue 8, must-show 1, as a test: a <c>scalio server --fabric tcp</c> process, a <c>scalio target</c> process and two
/// <c>scalio ycsb --connect</c> client processes over tcp;ofi_rxm on 127.0.0.1 run YCSB-C, then YCSB-A; each client
/// writes its history and <c>scalio check --verify</c> passes on the merged histories. Then the server process is
/// restarted under a client of this process, which reconnects.
/// </summary>
public sealed partial class MultiProcessTests
{
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ClientRun = TimeSpan.FromSeconds(60);

    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();

    private static int PortOf(string readyLine) => int.Parse(Listening().Match(readyLine).Groups[1].Value, CultureInfo.InvariantCulture);

    private static ScalioProcess StartServer(string dir, int port, int targetPort)
        => new("server", "server", "--fabric", "tcp", "--listen", $"127.0.0.1:{port}", "--data-dir", dir, "--records", "400",
            "--offload-target", $"127.0.0.1:{targetPort}");

    private static ScalioProcess StartTarget(string dir, int port)
        => new("target", "target", "--data-dir", dir, "--listen", $"127.0.0.1:{port}", "--threads", "1");

    private static ScalioProcess Ycsb(string name, int port, string workload, long seed, bool load, string history)
        => new(name, ["ycsb", "--connect", $"127.0.0.1:{port}", "--workload", workload, "--records", "400", "--operations", "400",
            "--threads", "2", "--seconds", "6", "--seed", seed.ToString(CultureInfo.InvariantCulture), "--history", history, .. (load ? Array.Empty<string>() : ["--skip-load"])]);

    [LibfabricFact]
    public async Task Server_target_and_two_client_processes_run_ycsb_C_and_A_and_the_merged_histories_are_linearizable()
    {
        using var dir = new TempDir();
        int targetPort = ScalioProcess.FreePort();
        var all = new List<ScalioProcess>();
        try
        {
            var server = StartServer(dir.Path, 0, targetPort);
            all.Add(server);
            int port = PortOf(await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Ready));
            var target = StartTarget(dir.Path, targetPort);
            all.Add(target);
            await target.WaitForLineAsync(l => l.Contains("ready", StringComparison.Ordinal), Ready);

            string[] histories = [Path.Combine(dir.Path, "c1.jsonl"), Path.Combine(dir.Path, "c2.jsonl"), Path.Combine(dir.Path, "a1.jsonl"), Path.Combine(dir.Path, "a2.jsonl")];
            // YCSB-C: both processes load (the same records; a second load only rewrites them) and read.
            await RunPair(all, Ycsb("client C1", port, "C", 1, load: true, histories[0]), Ycsb("client C2", port, "C", 2, load: true, histories[1]));
            // YCSB-A: the records are there; different seeds give the two processes different key streams.
            await RunPair(all, Ycsb("client A1", port, "A", 3, load: false, histories[2]), Ycsb("client A2", port, "A", 4, load: false, histories[3]));

            using var check = new ScalioProcess("check", ["check", "--verify", .. histories]);
            all.Add(check);
            int verdict = await check.WaitForExitAsync(ClientRun);
            Assert.True(verdict == 0, "check --verify did not pass\n" + check.Output);
            Assert.Contains(check.Lines, l => l.Contains("4 files merged", StringComparison.Ordinal));
            Assert.Contains(check.Lines, l => l == "verdict: LINEARIZABLE");

            server.Terminate();
            target.Terminate();
            Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(20)) == 0, server.Output);
            Assert.Contains(server.Lines, l => l.StartsWith("stopped cleanly", StringComparison.Ordinal));
            Assert.Contains(server.Lines, l => l.Contains("client connection(s) accepted", StringComparison.Ordinal));
            Assert.True(await target.WaitForExitAsync(TimeSpan.FromSeconds(20)) == 0, target.Output);
        }
        finally
        {
            foreach (var p in all) p.Dispose();
        }
    }

    private static async Task RunPair(List<ScalioProcess> all, ScalioProcess a, ScalioProcess b)
    {
        all.Add(a);
        all.Add(b);
        int ea = await a.WaitForExitAsync(ClientRun);
        int eb = await b.WaitForExitAsync(ClientRun);
        foreach (var (p, e) in new[] { (a, ea), (b, eb) })
        {
            Assert.True(e == 0, $"{p.Name} exited with {e}\n{p.Output}");
            Assert.Contains(p.Lines, l => l.Contains("scalio (remote)", StringComparison.Ordinal)); // the result table's row
            Assert.Contains(p.Lines, l => l.StartsWith("history:", StringComparison.Ordinal));
        }
    }

    [LibfabricFact]
    public async Task A_client_of_this_process_reconnects_after_the_server_process_restarts()
    {
        using var dir = new TempDir();
        int port = ScalioProcess.FreePort(), targetPort = ScalioProcess.FreePort();
        ScalioProcess? server = null, target = null;
        try
        {
            server = StartServer(dir.Path, port, targetPort);
            await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Ready);
            target = StartTarget(dir.Path, targetPort);
            await target.WaitForLineAsync(l => l.Contains("ready", StringComparison.Ordinal), Ready);

            using var store = RemoteScalioStore.Connect(new IPEndPoint(IPAddress.Loopback, port), new RemoteStoreOptions
            {
                Client = new ScalioClientOptions { RequestTimeoutMilliseconds = 5000 },
                ReconnectTimeout = TimeSpan.FromSeconds(1), // an operation gives up fast while the server is down
            });
            using var client = store.OpenClient();
            byte[] key = "restart-key-0001"u8.ToArray(), value = new byte[64], read = new byte[64];
            value.AsSpan().Fill(0x5A);
            Assert.Equal(OpStatus.Ok, client.Put(key, value));
            Assert.Equal(OpStatus.Ok, client.Get(key, read, out int n));
            Assert.Equal(value, read[..n]);

            // Server gone (SIGTERM: clean shutdown, checkpoint written): the client's next operation fails as Unavailable.
            server.Terminate();
            Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(20)));
            server.Dispose();
            server = null;
            OpStatus down = client.Put(key, value);
            Assert.Equal(OpStatus.Unavailable, down);
            Assert.False(client.IsConnected);

            // Same port, same data: the client reconnects on its own and reads what it wrote before the restart.
            server = StartServer(dir.Path, port, targetPort);
            await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Ready);
            OpStatus st = OpStatus.Unavailable;
            for (int i = 0; i < 20 && st == OpStatus.Unavailable; i++) st = client.Get(key, read, out n); // each try is bounded by ReconnectTimeout
            Assert.True(st == OpStatus.Ok, $"after the restart: {st} ({client.LastFailure?.Message})\n{server.Output}");
            Assert.Equal(value, read[..n]);
            Assert.True(client.IsConnected);
            Assert.True(store.Reconnects >= 1);
            Assert.Equal(OpStatus.Ok, client.Put(key, read));
        }
        finally
        {
            server?.Dispose();
            target?.Dispose();
        }
    }

    private sealed class TempDir : IDisposable
    {
        public TempDir()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "scalio-remote-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
