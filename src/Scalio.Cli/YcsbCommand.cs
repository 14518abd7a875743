using System.CommandLine;
using Scalio.Fast;
using Scalio.Ycsb;
using Spectre.Console;

namespace Scalio.Cli;

/// <summary><c>scalio ycsb</c>: load an embedded store and run a YCSB workload against it.</summary>
internal static class YcsbCommand
{
    public static Command Create()
    {
        var workload = new Option<string>("--workload", "-w") { Description = "YCSB workload: A, B, C, D or F (E needs range scans, which a hash store does not have)", DefaultValueFactory = _ => "C" };
        var records = new Option<long>("--records") { Description = "Records loaded before the run", DefaultValueFactory = _ => 200_000 };
        var operations = new Option<long>("--operations") { Description = "Operations in the run phase", DefaultValueFactory = _ => 400_000 };
        var seconds = new Option<double>("--seconds") { Description = "Upper bound on the run phase in seconds (0: none)", DefaultValueFactory = _ => 30 };
        var threads = new Option<int>("--threads", "-t") { Description = "Client threads", DefaultValueFactory = _ => 2 };
        var cache = new Option<double>("--cache-fraction") { Description = "Cache slots as a fraction of the records", DefaultValueFactory = _ => 0.10 };
        var ssds = new Option<int>("--ssds") { Description = "Number of SSD namespaces", DefaultValueFactory = _ => 1 };
        var dataDir = new Option<string?>("--data-dir") { Description = "Put the namespaces in files in this directory (real I/O, O_DIRECT where the filesystem allows) instead of RAM; existing files are recovered and reused (same --records and --ssds)" };
        var variant = new Option<string>("--variant") { Description = "Key choice: ycsb-c (the C++ port used by LEED and Scalio) or official (Java CoreWorkload)", DefaultValueFactory = _ => "ycsb-c" };
        var seed = new Option<long>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 1 };
        var workers = new Option<int>("--server-workers") { Description = "Server worker threads (0: 1, or 4 with --scale-down)", DefaultValueFactory = _ => 0 };
        var serverCores = new Option<double>("--server-cores") { Description = "MODEL: limit the server's serving work (requests, commits, invalidations, fills) to this many core-seconds per second, for every system (0: unlimited)", DefaultValueFactory = _ => 0 };
        var iopsPerSsd = new Option<int>("--iops-per-ssd") { Description = "MODEL: wrap each RAM namespace in an SSD model of this many IOPS (80 us reads; 0: no model)", DefaultValueFactory = _ => 0 };
        var scaleDown = new Option<int>("--scale-down") { Description = "Scale the paper's server down by K: CPU budget = 8 Arm cores / K (calibrated to this host by LEED's cost per GET at saturation, measured first), SSDs of 500K / K IOPS; sets --server-cores and --iops-per-ssd (0: off). Its SSDs are files in a fresh temporary directory (real I/O), removed afterwards, unless --data-dir or --ram", DefaultValueFactory = _ => 0 };
        var ram = new Option<bool>("--ram") { Description = "With --scale-down: RAM namespaces instead of temporary files. A RAM namespace's commands cost the server nothing, unlike an SSD's (driver, submission, completion), so per-command costs the write path shares do not show" };
        var offloadThreads = new Option<int>("--offload-threads") { Description = "Threads of the emulated offload engine (NIC). 0 (default): none, each offloaded read runs on the client thread that sends it, as RDMA requests do on the loopback fabric; N: N engine threads, each keeping many device reads in flight on its io_uring with --data-dir", DefaultValueFactory = _ => 0 };
        var saturationSeconds = new Option<double>("--saturation-seconds") { Description = "Length of each saturation phase (16 threads of PUTs, then of uniform GETs) after the measured rounds, for the server's cost per request at saturation (0: skip)", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch-size") { Description = "PUTs/DELETEs packed into one SSD write per device (1 turns batching off; up to 128)", DefaultValueFactory = _ => 8 };

        var system = new Option<string>("--system", "-s") { Description = "System(s) to run: scalio, scalio-nobatch (batch size 1), scalio-nooffload (batch size 1, SSD reads by a software NVMe-oF target on the server CPU), leed, leed-ditto, or all (the four but scalio-nooffload) (comma-separated lists allowed); ratios are against leed-ditto of the same run", DefaultValueFactory = _ => "scalio" };
        var rounds = new Option<int>("--rounds") { Description = "Measured rounds per system, interleaved across systems (each system loaded once); the table shows the median round and ratio ranges", DefaultValueFactory = _ => 1 };
        var json = new Option<string?>("--json") { Description = "Also write the results (with projections and ratios) to this JSON file" };
        var connect = new Option<string?>("--connect") { Description = "Run the clients in this process against a 'scalio server --fabric tcp' at ADDRESS:PORT (tcp;ofi_rxm); the store options (--records excepted) are the server's" };
        var history = new Option<string?>("--history") { Description = "With --connect or --cluster: record every operation (load included) to this file in the checker's format (docs/history-format.md; times: CLOCK_MONOTONIC ns); updates then write unique tagged values" };
        var writeErrors = new Option<double>("--inject-write-errors") { Description = "Embedded scalio only: from the run phase on, fail this fraction of SSD writes (refused, short or unconfirmed, seeded); failed PUTs are counted and answered with an error", DefaultValueFactory = _ => 0 };
        var readErrors = new Option<double>("--inject-read-errors") { Description = "Embedded scalio only: from the run phase on, fail this fraction of SSD reads (seeded)", DefaultValueFactory = _ => 0 };
        var offloadDepth = new Option<int>("--offload-depth") { Description = "NVMe commands each client connection may have in flight at the emulated offload engine (1..64; each slot holds a 128 KiB buffer); with --connect, the NVMe/TCP reads a thread's batch keeps in flight", DefaultValueFactory = _ => 8 };
        var readBatch = new Option<int>("--read-batch") { Description = "GETs each client thread keeps in flight: consecutive reads run as one batch (one doorbell per protocol step, SSD reads up to the offload queue's depth); 1 (default): one operation at a time. Embedded scalio systems batch; the baselines run one at a time", DefaultValueFactory = _ => 1 };
        var authToken = new Option<string?>("--auth-token-file") { Description = "With --connect: file holding the token of a server started with --auth-token-file (proven by HMAC challenge-response; the token never crosses the wire)" };
        var cluster = ClusterCommand.EtcdOption(false);
        cluster.Description = "Run the clients in this process against a sharded cluster whose map is in etcd at etcd://HOST:PORT, routing each key to its owner and following map changes while running";
        var clusterName = ClusterCommand.NameOption();
        var skipLoad = new Option<bool>("--skip-load") { Description = "Skip the load phase: with --connect, another client process loads (loading the same records twice is idempotent: same values); embedded, --data-dir must hold a store an earlier run loaded with the same --records and --ssds (reads are value-checked)" };

        var cmd = new Command("ycsb", "Load an embedded Scalio store (loopback fabric, emulated NVMe-oF offload, RAM or file namespaces) and run a YCSB workload; --system also runs the LEED and LEED+Ditto baselines on the same fabric, namespaces and SSD store")
        {
            workload, records, operations, seconds, threads, cache, ssds, dataDir, variant, seed, workers, serverCores, iopsPerSsd, scaleDown, ram, offloadThreads, saturationSeconds, batch, system, rounds, json,
            connect, history, skipLoad, writeErrors, readErrors, readBatch, offloadDepth, authToken, cluster, clusterName,
        };
        cmd.SetAction(parse =>
        {
            YcsbWorkload parsed;
            try
            {
                parsed = WorkloadSpec.ParseWorkload(parse.GetValue(workload)!);
            }
            catch (Exception e) when (e is NotSupportedException or ArgumentException)
            {
                CliErrors.Report(e.Message);
                return 2;
            }
            var v = ParseVariant(parse.GetValue(variant)!);
            long n = parse.GetValue(records);
            double secs = parse.GetValue(seconds);
            var options = new YcsbOptions
            {
                Workload = parsed,
                Variant = v,
                RecordCount = n,
                OperationCount = parse.GetValue(operations),
                Duration = secs > 0 ? TimeSpan.FromSeconds(secs) : null,
                Threads = parse.GetValue(threads),
                Seed = parse.GetValue(seed),
                WarmupOperations = Math.Min(20_000, parse.GetValue(operations) / 10),
                ReadBatch = parse.GetValue(readBatch),
            };
            options.Validate();
            if (parse.GetValue(cluster) is { } etcd)
            {
                if (parse.GetValue(connect) is not null || parse.GetValue(authToken) is not null)
                    return CliErrors.Fail("--cluster routes by the map: it does not take --connect, and --auth-token-file is not supported with it yet");
                return ClusterYcsb.Run(etcd, parse.GetValue(clusterName)!, options with { Load = !parse.GetValue(skipLoad) }, parse.GetValue(history));
            }
            if (parse.GetValue(connect) is { } server)
            {
                int remoteDepth = parse.GetValue(offloadDepth);
                if (remoteDepth is < 1 or > 64) return CliErrors.Fail($"--offload-depth must be 1..64, not {remoteDepth}");
                return RemoteYcsbCommand.Run(server, options with { Load = !parse.GetValue(skipLoad) }, parse.GetValue(history), requestTimeoutMs: 10_000, parse.GetValue(authToken), remoteDepth);
            }
            if (parse.GetValue(authToken) is not null) return CliErrors.Fail("--auth-token-file needs --connect (the embedded store has no side channel)");
            double pw = parse.GetValue(writeErrors), pr = parse.GetValue(readErrors);
            if (!(pw >= 0 && pw <= 1) || !(pr >= 0 && pr <= 1))
            {
                CliErrors.Report("--inject-write-errors and --inject-read-errors must be in [0, 1]");
                return 2;
            }
            if (pw > 0 || pr > 0)
            {
                if (parse.GetValue(skipLoad) || parse.GetResult(system) is { Implicit: false } || parse.GetValue(rounds) != 1)
                {
                    CliErrors.Report("--inject-write-errors/--inject-read-errors run the embedded scalio system once: drop --system, --rounds and --skip-load");
                    return 2;
                }
                string? faultDir = parse.GetValue(dataDir);
                if (faultDir is not null) Directory.CreateDirectory(faultDir);
                return FaultYcsbCommand.Run(options, new StoreSettings
                {
                    Records = n,
                    CacheFraction = parse.GetValue(cache),
                    Ssds = parse.GetValue(ssds),
                    DataDirectory = faultDir,
                    SubdirectoryPerSystem = false,
                    ServerWorkers = Math.Max(1, parse.GetValue(workers)),
                    BatchSize = parse.GetValue(batch),
                }, pw, pr, parse.GetValue(history));
            }
            if (parse.GetValue(history) is not null)
            {
                CliErrors.Report("--history needs --connect or --inject-write-errors/--inject-read-errors (the embedded store's histories otherwise come from 'scalio check')");
                return 2;
            }
            if (parse.GetValue(skipLoad))
            {
                // Only a recovered store has records to read; an empty one would fail every value check.
                string? existing = parse.GetValue(dataDir);
                if (existing is null || !Directory.Exists(existing) || !Directory.EnumerateFiles(existing, "ssd*.img", SearchOption.AllDirectories).Any())
                {
                    CliErrors.Report("--skip-load needs --connect, or a --data-dir that holds a store an earlier run loaded");
                    return 2;
                }
                options = options with { Load = false };
            }
            IReadOnlyList<YcsbSystem> systems;
            try
            {
                systems = SystemComparison.Parse(parse.GetValue(system)!);
            }
            catch (ArgumentException e)
            {
                CliErrors.Report(e.Message);
                return 2;
            }
            string? dir = parse.GetValue(dataDir);
            int k = parse.GetValue(scaleDown), w = parse.GetValue(workers), iops = parse.GetValue(iopsPerSsd);
            double cores = parse.GetValue(serverCores), satSeconds = parse.GetValue(saturationSeconds);
            if (k < 0 || k > 100_000) { CliErrors.Report($"--scale-down must be 0 (off) or 1..100000, not {k}"); return 2; }
            if (w < 0 || w > 64) { CliErrors.Report($"--server-workers must be 0 (default) or 1..64, not {w}"); return 2; }
            if (iops < 0) { CliErrors.Report($"--iops-per-ssd must not be negative, not {iops}"); return 2; }
            if (!(cores >= 0 && cores <= 1024)) { CliErrors.Report($"--server-cores must be 0 (unlimited) or in (0, 1024], not {cores}"); return 2; }
            int engines = parse.GetValue(offloadThreads);
            if (engines < 0 || engines > 64) { CliErrors.Report($"--offload-threads must be 0..64, not {engines}"); return 2; }
            int depth = parse.GetValue(offloadDepth);
            if (depth < 1 || depth > 64) { CliErrors.Report($"--offload-depth must be 1..64, not {depth}"); return 2; }
            double cacheFraction = parse.GetValue(cache);
            if (!(cacheFraction > 0 && cacheFraction <= 1)) { CliErrors.Report($"--cache-fraction must be in (0, 1], not {cacheFraction}"); return 2; }
            if (!(secs >= 0)) { CliErrors.Report($"--seconds must be 0 (no bound) or more, not {secs}"); return 2; }
            if (!(satSeconds >= 0 && satSeconds <= 600)) { CliErrors.Report($"--saturation-seconds must be 0..600, not {satSeconds}"); return 2; }
            if (k > 0 && (cores > 0 || iops > 0)) { CliErrors.Report("--scale-down sets --server-cores and --iops-per-ssd: give one or the other"); return 2; }
            bool useRam = parse.GetValue(ram);
            if (useRam && (k == 0 || dir is not null)) { CliErrors.Report("--ram goes with --scale-down and without --data-dir (RAM is the default otherwise)"); return 2; }
            if (dir is not null && !CliErrors.TryCreateDirectory("--data-dir", dir)) return 2;
            // The paper's server has SSDs: each command costs it driver work, which a RAM namespace would not charge.
            string? scratchDir = k > 0 && dir is null && !useRam ? Directory.CreateTempSubdirectory("scalio-scale-down-").FullName : null;
            dir ??= scratchDir;
            try
            {
                return RunSystems();
            }
            finally
            {
                if (scratchDir is not null) Directory.Delete(scratchDir, recursive: true);
            }

            int RunSystems()
            {
                if (scratchDir is not null) AnsiConsole.MarkupLine($"[grey]file namespaces in {Markup.Escape(dir!)} (real I/O, removed afterwards; --ram for RAM namespaces, whose commands cost the server nothing)[/]");
                var settings = new StoreSettings
                {
                    Records = n,
                    CacheFraction = cacheFraction,
                    Ssds = parse.GetValue(ssds),
                    DataDirectory = dir,
                    SubdirectoryPerSystem = systems.Count > 1,
                    ServerWorkers = w > 0 ? w : k > 0 ? ScaleDown.ServerWorkers : 1,
                    BatchSize = parse.GetValue(batch),
                    ServerCores = cores,
                    IopsPerSsd = iops,
                    OffloadThreads = engines,
                    OffloadQueueDepth = depth,
                    SaturationPhases = satSeconds > 0,
                    SaturationDuration = TimeSpan.FromSeconds(Math.Max(satSeconds, 0.01)),
                };
                if (k > 0)
                {
                    AnsiConsole.MarkupLine("[grey]calibrating: LEED's server cost per GET at saturation on this host...[/]");
                    var sd = ScaleDown.Calibrate(k, settings, options);
                    settings = settings with { ScaleDown = sd, ServerCores = sd.ServerCores, IopsPerSsd = sd.IopsPerSsd };
                }
                int roundCount = parse.GetValue(rounds);
                if (roundCount < 1 || roundCount > 100) { CliErrors.Report("--rounds must be 1..100"); return 2; }
                AnsiConsole.MarkupLine("[grey]" + Markup.Escape(ResultTable.DescribeModels(settings)) + "[/]");
                AnsiConsole.MarkupLine($"[grey]{string.Join(", ", systems.Select(SystemComparison.Name))}: {n:N0} records, cache {settings.CacheFraction:P0}, {settings.Ssds} SSD ({(dir is null ? "RAM" : "file: " + Markup.Escape(dir))}), {options.Threads} client thread(s), workload {parsed}, {v}, {roundCount} round(s); host: {Environment.ProcessorCount} CPUs[/]");
                IReadOnlyList<SystemResult> rows = [];
                try
                {
                    AnsiConsole.Progress()
                        .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                        .Start(ctx =>
                        {
                            rows = SystemComparison.Run(options, settings, systems, roundCount, PaperHardware.Paper,
                                (sys, round) => new PhaseProgress(ctx.AddTask(round < 0 ? $"{SystemComparison.Name(sys)} load" : $"{SystemComparison.Name(sys)} run {round + 1}")));
                        });
                }
                catch (Exception e) when (dir is not null && e is InvalidDataException or InvalidOperationException or IOException)
                {
                    CliErrors.Report($"cannot open the store in {dir}: {e.Message}");
                    return 2;
                }
                catch (ArgumentException e)
                {
                    CliErrors.Report($"invalid store options: {e.Message}");
                    return 2;
                }
                catch (ScalioException e)
                {
                    // An operation the store could not complete (e.g. a request past the client's timeout under overload).
                    CliErrors.Report($"the run stopped: {e.Message}");
                    return 1;
                }
                ResultTable.Print(rows, PaperHardware.Paper, settings);
                string? jsonPath = parse.GetValue(json);
                if (jsonPath is not null) SystemComparison.WriteJson(jsonPath, rows, settings, PaperHardware.Paper);
                foreach (var r in rows) if (r.Result.ValueMismatches != 0) return 1;
                return 0;
            }
        });
        cmd.Subcommands.Add(CreateKeys());
        return cmd;
    }

    /// <summary><c>scalio ycsb keys</c>: the key names the load phase inserts, in order.</summary>
    private static Command CreateKeys()
    {
        var variant = new Option<string>("--variant") { Description = "official (Java CoreWorkload) or ycsb-c (the C++ port)", DefaultValueFactory = _ => "official" };
        var count = new Option<long>("--count") { Description = "How many keys", DefaultValueFactory = _ => 10 };
        var start = new Option<long>("--start") { Description = "First record number", DefaultValueFactory = _ => 0 };
        var cmd = new Command("keys", "Print the keys the YCSB load phase inserts, in order, one per line") { variant, count, start };
        cmd.SetAction(parse =>
        {
            var v = ParseVariant(parse.GetValue(variant)!);
            long first = parse.GetValue(start), n = parse.GetValue(count);
            if (first < 0 || n < 0) { CliErrors.Report("--start and --count must not be negative"); return 2; }
            using var output = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false };
            for (long i = first; i < first + n; i++) output.WriteLine(KeyCodec.KeyName(v, i));
            return 0;
        });
        return cmd;
    }

    private static YcsbVariant ParseVariant(string text) => text switch
    {
        "official" => YcsbVariant.Official,
        "ycsb-c" => YcsbVariant.YcsbC,
        _ => throw new ArgumentException($"unknown variant '{text}': use ycsb-c or official"),
    };

    private sealed class PhaseProgress(ProgressTask task) : IProgress<YcsbProgress>
    {
        public void Report(YcsbProgress value)
        {
            task.MaxValue = Math.Max(1, value.Total);
            task.Value = value.Done;
        }
    }
}
