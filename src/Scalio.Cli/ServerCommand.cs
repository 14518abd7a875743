using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Scalio.Fast;

namespace Scalio.Cli;

/// <summary><c>scalio server</c>: open (or create) a file-backed store, recover it, stay up until Ctrl-C/SIGTERM.</summary>
internal static class ServerCommand
{
    public static Command Create()
    {
        var dataDir = new Option<string?>("--data-dir") { Description = "Directory of the namespace files (ssd0.img, ...); created if missing, recovered if present (required without --fabric; with --fabric, RAM namespaces when omitted)" };
        var fabricOption = new Option<string?>("--fabric") { Description = "Serve clients of other processes over libfabric: tcp (tcp;ofi_rxm); needs --listen" };
        var listen = new Option<string?>("--listen") { Description = "With --fabric: side-channel address ADDRESS:PORT clients connect to (e.g. 127.0.0.1:7000; port 0 picks one)" };
        var offloadTarget = new Option<string?>("--offload-target") { Description = "With --fabric: HOST:PORT of an external NVMe/TCP offload target ('scalio target') serving this store's --data-dir, told to clients for their misses instead of the in-process emulated NIC" };
        var nicListen = new Option<string?>("--nic-listen") { Description = "With --fabric: ADDRESS:PORT of the in-process emulated NIC (the NVMe/TCP offload target clients read the SSDs through); default: the --listen address, a free port" };
        var metrics = new Option<string?>("--metrics") { Description = "Serve Prometheus metrics at http://ADDRESS:PORT/metrics (PORT alone: 127.0.0.1:PORT); read-only, no authentication: keep it on loopback or a trusted network" };
        var subnqn = new Option<string>("--subnqn") { Description = "Subsystem NQN of the offload target", DefaultValueFactory = _ => Scalio.Offload.NvmeTcpOffloadReadPath.DefaultSubsystemNqn };
        var authToken = new Option<string?>("--auth-token-file") { Description = "With --fabric: admit only clients that prove this file's token (HMAC challenge-response before any region key is sent; at least 16 bytes). Without it any client that reaches --listen is admitted (a warning says so)" };
        var readerToken = new Option<string?>("--reader-token-file") { Description = "With --auth-token-file: clients proving this file's token (which must differ) are admitted as readers: GET only, their PUT and DELETE are refused" };
        var maxConnections = new Option<int>("--max-connections") { Description = "With --fabric: most clients connected plus handshaking at once; more are refused at accept", DefaultValueFactory = _ => 256 };
        var maxInflight = new Option<int>("--max-inflight") { Description = "Requests one client connection may have at the server at once (1..1024; further ones wait in the client's fabric)", DefaultValueFactory = _ => 2 };
        var cluster = ClusterCommand.EtcdOption(false);
        cluster.Description = "With --fabric: join the sharded cluster whose map is in etcd at etcd://HOST:PORT (registers this server under a lease as --id; 'scalio cluster add --id N' then adds it); needs --id";
        var clusterName = ClusterCommand.NameOption();
        var serverId = new Option<int?>("--id") { Description = "With --cluster: this server's id in the cluster (0 or more, unique)" };
        var replicas = new Option<int>("--replicas") { Description = "With --cluster: replicas of each key (chain replication, 1..8); a new cluster takes it, an existing one must have it", DefaultValueFactory = _ => 1 };
        var records = new Option<long>("--records") { Description = "Records the store is sized for (reopen with the value it was created with)", DefaultValueFactory = _ => 200_000 };
        var ssds = new Option<int>("--ssds") { Description = "Number of SSD namespaces (reopen with the value it was created with)", DefaultValueFactory = _ => 1 };
        var workers = new Option<int>("--server-workers") { Description = "Server worker threads", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch-size") { Description = "Writes per batched SSD write, 1..128 (1: unbatched)", DefaultValueFactory = _ => 8 };
        var timeout = new Option<int>("--batch-timeout-us") { Description = "Longest a write waits for its batch to fill, in microseconds", DefaultValueFactory = _ => 1000 };
        var load = new Option<int>("--self-load") { Description = "In-process writer threads that PUT continuously until shutdown (0: none)", DefaultValueFactory = _ => 0 };
        // For 'scalio soak' only: the store gets the soak schema, recovered keys are printed, --self-load runs YCSB-A and logs acks.
        var soakKeys = new Option<int>("--soak-keys") { Hidden = true, DefaultValueFactory = _ => 0 };
        var soakRound = new Option<long>("--soak-round") { Hidden = true, DefaultValueFactory = _ => 1 };
        var soakSeed = new Option<long>("--soak-seed") { Hidden = true, DefaultValueFactory = _ => 1 };
        var soakWriteErrors = new Option<double>("--soak-write-errors") { Hidden = true, DefaultValueFactory = _ => 0 };

        var cmd = new Command("server",
            "Open a Scalio server on file-backed namespaces in --data-dir (recovering an existing store: checkpoint plus log replay), " +
            "print a line with 'ready', and stay up until Ctrl-C or SIGTERM, then shut down cleanly (pending batches committed, checkpoint written). " +
            "Without --fabric it serves only in-process clients (the writers of --self-load); with --fabric tcp --listen ADDRESS:PORT it serves " +
            "'scalio ycsb --connect' clients in other processes over libfabric tcp;ofi_rxm, and starts the emulated NIC in the same process " +
            "(an NVMe/TCP offload target on the server's own devices, as a DPU's NIC serves NVMe-oF with target offload) that clients read " +
            "the SSDs through for their misses; --offload-target HOST:PORT names an external one ('scalio target --data-dir DIR') instead.")
        {
            dataDir, records, ssds, workers, batch, timeout, load, fabricOption, listen, offloadTarget, nicListen, metrics, subnqn, authToken, readerToken, maxConnections, maxInflight, cluster, clusterName, serverId, replicas, soakKeys, soakRound, soakSeed, soakWriteErrors,
        };
        cmd.SetAction(parse =>
        {
            if ((parse.GetValue(cluster) is null) != (parse.GetValue(serverId) is null))
                return CliErrors.Fail("scalio server: --cluster and --id go together");
            if (parse.GetValue(serverId) is < 0) return CliErrors.Fail("scalio server: --id must not be negative");
            if (parse.GetValue(replicas) is < 1 or > 8) return CliErrors.Fail("scalio server: --replicas must be 1..8");
            if (parse.GetResult(replicas) is { Implicit: false } && parse.GetValue(cluster) is null) return CliErrors.Fail("scalio server: --replicas needs --cluster");
            if (parse.GetValue(cluster) is not null && parse.GetValue(fabricOption) is null)
                return CliErrors.Fail("scalio server: --cluster needs --fabric tcp --listen ADDRESS:PORT (cluster clients connect over the fabric)");
            if (parse.GetValue(fabricOption) is { } fabricName)
            {
                return FabricServer.Run(fabricName, parse.GetValue(listen), parse.GetValue(dataDir), parse.GetValue(offloadTarget), parse.GetValue(nicListen), parse.GetValue(subnqn)!,
                    parse.GetValue(load), parse.GetValue(metrics), parse.GetValue(authToken), parse.GetValue(readerToken), parse.GetValue(maxConnections),
                    parse.GetValue(cluster) is { } etcd ? new ClusterJoin(etcd, parse.GetValue(clusterName)!, parse.GetValue(serverId)!.Value, parse.GetValue(replicas)) : null, new ScalioStoreOptions
                    {
                        MaxRequestsInFlightPerClient = parse.GetValue(maxInflight),
                        ExpectedRecords = parse.GetValue(records),
                        Devices = parse.GetValue(ssds),
                        ServerWorkers = parse.GetValue(workers),
                        BatchSize = parse.GetValue(batch),
                        BatchIdleTimeout = TimeSpan.FromMicroseconds(parse.GetValue(timeout)),
                    });
            }
            if (parse.GetValue(listen) is not null || parse.GetValue(offloadTarget) is not null || parse.GetValue(nicListen) is not null || parse.GetValue(authToken) is not null || parse.GetValue(readerToken) is not null || parse.GetResult(maxConnections) is { Implicit: false })
            {
                CliErrors.Report("scalio server: --listen, --offload-target, --nic-listen, --auth-token-file, --reader-token-file and --max-connections need --fabric tcp");
                return 2;
            }
            if (parse.GetValue(dataDir) is not { } dir)
            {
                CliErrors.Report("scalio server: --data-dir is required (or serve other processes with --fabric tcp --listen ADDRESS:PORT)");
                return 2;
            }
            long n = parse.GetValue(records);
            int soakKeyCount = parse.GetValue(soakKeys);
            double writeErrors = parse.GetValue(soakWriteErrors);
            if (soakKeyCount < 0 || soakKeyCount > n || !(writeErrors >= 0 && writeErrors <= 1))
            {
                CliErrors.Report("server: --soak-keys must be 0..--records and --soak-write-errors in [0, 1]");
                return 2;
            }
            IPEndPoint? metricsEndPoint = null;
            if (parse.GetValue(metrics) is { } m)
            {
                try
                {
                    metricsEndPoint = MetricsEndpoint.Parse(m);
                }
                catch (FormatException e)
                {
                    return CliErrors.Fail("server: " + e.Message);
                }
            }
            var faulty = new List<Scalio.Nvme.FaultyNamespace>();
            if (!CliErrors.TryCreateDirectory("--data-dir", dir)) return 2;
            ScalioStore store;
            var opened = Stopwatch.StartNew();
            try
            {
                store = new ScalioStore(new ScalioStoreOptions
                {
                    ExpectedRecords = n,
                    Devices = parse.GetValue(ssds),
                    DataDirectory = dir,
                    ServerWorkers = parse.GetValue(workers),
                    BatchSize = parse.GetValue(batch),
                    BatchIdleTimeout = TimeSpan.FromMicroseconds(parse.GetValue(timeout)),
                    MaxRequestsInFlightPerClient = parse.GetValue(maxInflight),
                    Layout = soakKeyCount > 0 ? SoakLoad.Layout : Scalio.Fast.Cache.SlotLayout.Default,
                    WrapDevice = writeErrors > 0 ? (i, ns) =>
                    {
                        var f = new Scalio.Nvme.FaultyNamespace(ns, parse.GetValue(soakSeed) * 1_000_003 + parse.GetValue(soakRound) * 31 + i);
                        faulty.Add(f);
                        return f;
                    } : null,
                });
            }
            catch (DataDirectoryInUseException) // one process per store: `scalio get --data-dir` must not open it under a running server
            {
                return CliErrors.DataDirInUse(dir);
            }
            catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException or InvalidOperationException)
            {
                CliErrors.Report($"scalio server: cannot open the store in {dir}: {e.Message}");
                return 2;
            }
            using (store)
            {
                ServerCommand.PrintRecovery(store);
                using var stop = new ManualResetEventSlim();
                Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Set(); };
                using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Set(); });

                using var meter = metricsEndPoint is null ? null : new Scalio.Fast.Diagnostics.ScalioServerMetrics(store);
                using var scrape = metricsEndPoint is null ? null : StartMetrics(metricsEndPoint);
                if (metricsEndPoint is not null && scrape is null) return 2;
                long openedMs = opened.ElapsedMilliseconds;
                int loaders = parse.GetValue(load);
                long acked = 0, failed = 0;
                SoakLoad? soak = soakKeyCount > 0 ? new SoakLoad(store, soakKeyCount, parse.GetValue(soakRound), parse.GetValue(soakSeed), Console.Out) : null;
                soak?.DumpRecovered();
                foreach (var f in faulty) f.WriteErrorProbability = writeErrors; // recovery and the read-back ran clean
                var threads = soak?.Start(loaders) ?? new Thread[loaders];
                for (int t = 0; t < loaders && soak is null; t++)
                {
                    int id = t;
                    threads[t] = new Thread(() =>
                    {
                        using var c = store.OpenClient();
                        var key = new byte[16];
                        var value = new byte[64];
                        var rng = new Random(id + 1);
                        while (!stop.IsSet)
                        {
                            Encoding.ASCII.GetBytes($"load{rng.NextInt64(n):D12}").CopyTo(key, 0);
                            rng.NextBytes(value);
                            if (c.Put(key, value) == OpStatus.Ok) Interlocked.Increment(ref acked);
                            else Interlocked.Increment(ref failed);
                        }
                    }) { IsBackground = true, Name = $"self-load-{t}" };
                    threads[t].Start();
                }
                Console.WriteLine($"ready: {store.Options.Devices} SSD(s) in {dir}, batch {store.Options.BatchSize}, opened in {openedMs} ms" +
                    (loaders > 0 ? $", {loaders} in-process writer(s)" : ", no clients (serve other processes with --fabric tcp --listen ADDRESS:PORT)"));
                Console.Out.Flush();
                var stats = soak is null ? null : ReportCleanerWhileRunning(store, stop);
                stop.Wait();
                soak?.Stop();
                stats?.Join(); // it waits on 'stop', which is disposed when this scope ends
                foreach (var t in threads) t.Join(TimeSpan.FromSeconds(10));
                var c0 = store.ReadCounters();
                Console.WriteLine($"stopping: {acked} PUTs acknowledged, {failed} failed; {c0.DeviceWrites} SSD writes, {c0.DeviceReads} SSD reads, {store.Server.BatchesCommitted} batches, {store.Server.Relocations} blocks moved by the cleaner");
            }
            Console.WriteLine("stopped cleanly (checkpoint written)");
            return 0;
        });
        return cmd;
    }

    /// <summary>Soak rounds: every 10 ms, a line with the cleaner's block moves and the checkpoints so far, so that the
    /// campaign can tell which kills landed while the cleaner or a checkpoint was at work.</summary>
    private static Thread ReportCleanerWhileRunning(ScalioStore store, ManualResetEventSlim stop)
    {
        var server = store.Server;
        var t = new Thread(() =>
        {
            while (!stop.Wait(10))
            {
                lock (Console.Out)
                {
                    Console.Out.WriteLine($"stat {server.Relocations} {server.Checkpoints} {server.BatchesCommitted}");
                    Console.Out.Flush();
                }
            }
        }) { IsBackground = true, Name = "soak-stat" };
        t.Start();
        return t;
    }

    /// <summary>Starts the metrics endpoint and prints where it serves, or says in one <c>error:</c> line why it cannot (null).</summary>
    internal static MetricsEndpoint? StartMetrics(IPEndPoint endPoint)
    {
        try
        {
            var e = MetricsEndpoint.Start(endPoint);
            Console.WriteLine($"metrics: http://{e.EndPoint}/metrics (Prometheus text format; read-only, no authentication)");
            return e;
        }
        catch (System.Net.Sockets.SocketException e)
        {
            CliErrors.Report($"server: --metrics cannot listen on {endPoint}: {e.Message}");
            return null;
        }
    }

    /// <summary>Prints, per SSD, whether the store formatted it or what recovery rebuilt from it.</summary>
    internal static void PrintRecovery(Scalio.Fast.ScalioStore store)
    {
        var recovery = store.Server.Recovery;
        for (int d = 0; d < recovery.Count; d++)
        {
            var r = recovery[d];
            Console.WriteLine(r.Formatted
                ? $"ssd{d}: formatted (epoch {r.Epoch})"
                : $"ssd{d}: recovered epoch {r.Epoch}: {r.CheckpointBuckets} buckets from the checkpoint, {r.ScannedPages} log pages replayed, {r.TornPagesAtEnd} torn page(s) at the end of the log");
        }
    }
}
