using System.Globalization;
using System.Net;
using Scalio.Checking;
using Scalio.Fast.Client;
using Scalio.Fast.Remote;
using Scalio.Verbs.Libfabric;
using Scalio.Offload;
using Scalio.Ycsb;
using Spectre.Console;

namespace Scalio.Cli;

/// <summary>
/// <c>scalio ycsb --connect HOST:PORT</c>: YCSB client threads in this process against a <c>scalio server --fabric tcp</c>
/// in another process (misses read through the offload target the server names).
/// </summary>
internal static class RemoteYcsbCommand
{
    /// <summary>History client ids each YCSB thread may use (a new one after each failed operation).</summary>
    internal const int HistoryIdsPerThread = 64;

    public static int Run(string connect, YcsbOptions options, string? historyFile, int requestTimeoutMs, string? authTokenFile = null, int offloadDepth = 8)
    {
        IPEndPoint server;
        try
        {
            server = ParseEndPoint(connect);
        }
        catch (FormatException e)
        {
            CliErrors.Report($"--connect: {e.Message}");
            return 2;
        }
        AuthToken? token = null;
        if (authTokenFile is not null)
        {
            try
            {
                token = AuthToken.FromFile(authTokenFile);
            }
            catch (AuthTokenFileException e)
            {
                return CliErrors.Fail($"--auth-token-file: {e.Message}");
            }
        }
        if (historyFile is not null && options.ReadBatch > 1)
            return CliErrors.Fail("--history records one operation at a time per client: it does not take --read-batch above 1");
        // With a history, updates write tagged (unique) values, so the runner's check of YCSB's deterministic values is off:
        // the linearizability checker judges the values read instead.
        if (historyFile is not null) options = options with { VerifyValues = false };
        RemoteScalioStore store;
        try
        {
            store = RemoteScalioStore.Connect(server, new RemoteStoreOptions
            {
                Client = new ScalioClientOptions { RequestTimeoutMilliseconds = requestTimeoutMs },
                NvmeTcp = new NvmeTcpOffloadReadPathOptions { QueueDepth = offloadDepth },
                AuthToken = token,
            });
        }
        catch (BootstrapRefusedException e)
        {
            // Not transient: the same token would be refused again, so no retry and one line.
            CliErrors.Report($"scalio ycsb --connect: {e.Message}");
            return 2;
        }
        catch (LibfabricUnavailableException e)
        {
            CliErrors.Report($"scalio ycsb --connect: libfabric cannot be loaded: {e.Message}");
            return 2;
        }
        catch (Exception e) when (RemoteScalioStore.IsTransient(e) || e is InvalidOperationException)
        {
            CliErrors.Report($"scalio ycsb --connect: cannot connect to {server}: {e.Message}");
            return 2;
        }
        using (store)
        {
            var d = store.Descriptor;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"connected to {server} over tcp;ofi_rxm as a {(store.Role == BootstrapRole.Reader ? "reader (PUT/DELETE refused)" : "writer")}: {d.CacheBuckets * d.Layout.SlotsPerBucket:N0} cache slots, {d.DeviceLbaSizes.Length} SSD(s), offload target {d.OffloadTarget?.ToString() ?? "none"}, clock offset bound ±{d.ClockUncertainty.TotalMicroseconds:F0} µs"));
            // Raw CLOCK_MONOTONIC nanoseconds: shared by every process on this machine, so histories of several processes merge.
            var history = historyFile is null ? null : new HistoryRecorder(options.Threads * HistoryIdsPerThread, 1024, 96, epochTimestamp: 0);
            var target = new RemoteYcsbTarget(store, history, HistoryIdsPerThread);
            var runner = new YcsbRunner(options);
            YcsbResult result;
            int exit = 0;
            try
            {
                result = runner.Run(target, new PhaseLines());
            }
            catch (Exception e) when (e is Fast.ScalioException or InvalidOperationException or AggregateException || RemoteScalioStore.IsTransient(e))
            {
                CliErrors.Report($"scalio ycsb --connect: the run failed: {e.Message}");
                result = null!;
                exit = 1;
            }
            if (history is not null)
            {
                var ops = history.ToOperations();
                HistoryJson.WriteFile(historyFile!, ops);
                Console.WriteLine($"history: {ops.Count:N0} operations written to {historyFile} (times: CLOCK_MONOTONIC ns)");
            }
            // After a server restart these say what the run went through: every thread carried on.
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"reconnects: {store.Reconnects}; PUTs with unknown outcome: {target.UnknownPuts:N0} (recorded without an end); PUTs refused: {target.FailedPuts:N0}; GETs failed: {target.FailedGets:N0}"));
            if (exit != 0) return exit;
            Print(result, server, store.Reconnects);
            return result.ValueMismatches != 0 ? 1 : 0;
        }
    }

    private static void Print(YcsbResult r, IPEndPoint server, long reconnects)
    {
        var t = new Table().Border(TableBorder.Rounded)
            .Title($"[bold]YCSB {r.Workload} ({r.Variant}), {r.RecordCount:N0} records, {r.Threads} thread(s), server {Markup.Escape(server.ToString())} (tcp;ofi_rxm)[/]");
        t.AddColumn("system");
        // Only what a client process measures: server CPU, offload-target time and SSD writes are in the server's and target's shutdown lines.
        var cells = new (string Column, string Value)[]
        {
            ("ops/s", F(r.OpsPerSecond, "N0")), ("hit ratio", double.IsNaN(r.HitRatio) ? "-" : F(r.HitRatio, "P1")), ("p50 µs", F(r.P50Micros, "F1")),
            ("p99 µs", F(r.P99Micros, "F1")), ("p99.9 µs", F(r.P999Micros, "F1")), ("RT/op", F(r.RoundTripsPerOp, "F2")), ("SSD rd/op", F(r.SsdReadsPerOp, "F3")),
        }.Where(c => c.Value is not ("-" or "NaN")).ToArray();
        foreach (var c in cells) t.AddColumn(new TableColumn(Markup.Escape(c.Column)).RightAligned());
        t.AddRow(["scalio (remote)", .. cells.Select(c => c.Value)]);
        AnsiConsole.Write(t);
        AnsiConsole.MarkupLine("[grey]server CPU, offload-target (NIC) time and SSD writes are counted in the server (and target) process: see its shutdown line; SSD rd/op = NVMe/TCP reads this process sent to the offload target[/]");
        AnsiConsole.MarkupLine(CultureInfo.InvariantCulture,
            "[grey]{0:N0} ops in {1:F2} s after a {2:F1} s load; reads {3:N0}, updates {4:N0}, inserts {5:N0}, read-modify-writes {6:N0}, not found {7:N0}, value mismatches {8:N0}; reconnects {9}[/]",
            r.Operations, r.Seconds, r.LoadSeconds, r.Reads, r.Updates, r.Inserts, r.ReadModifyWrites, r.NotFound, r.ValueMismatches, reconnects);
    }

    /// <summary>One line per phase and second (<c>run: 2.0 s, at least 1,024 operations</c>; threads report in steps of 1,024): a remote run is watched from outside
    /// (a server restart under load waits for the run phase to be under way).</summary>
    private sealed class PhaseLines : IProgress<YcsbProgress>
    {
        private YcsbPhase? _phase;
        private TimeSpan _last;

        public void Report(YcsbProgress value)
        {
            if (value.Phase == _phase && value.Elapsed - _last < TimeSpan.FromSeconds(1)) return;
            _phase = value.Phase;
            _last = value.Elapsed;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(value.Phase == YcsbPhase.Load ? "load" : "run")}: {value.Elapsed.TotalSeconds:F1} s, at least {value.Done:N0} operations"));
        }
    }

    internal static IPEndPoint ParseEndPoint(string text)
    {
        if (!IPEndPoint.TryParse(text, out var ep) || ep.Port == 0)
            throw new FormatException($"'{text}' is not an address:port (e.g. 127.0.0.1:7000)");
        return ep;
    }

    private static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}
