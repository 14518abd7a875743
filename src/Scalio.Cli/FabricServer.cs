using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using Scalio.Cluster;
using Scalio.Fast;
using Scalio.Fast.Diagnostics;
using Scalio.Fast.OffloadTcp;
using Scalio.Fast.Remote;
using Scalio.Fast.Server;
using Scalio.Verbs.Libfabric;

namespace Scalio.Cli;

/// <summary>A server's <c>--cluster etcd://HOST:PORT --cluster-name NAME --id N</c>.</summary>
internal sealed record ClusterJoin(string Endpoint, string Name, int Id, int Replicas = 1);

/// <summary><c>scalio server --fabric tcp --listen ADDRESS:PORT</c>: the server for clients of other processes.</summary>
internal static class FabricServer
{
    public static int Run(string fabricName, string? listen, string? dataDir, string? offloadTarget, string? nicListen, string subnqn, int selfLoad, string? metrics,
        string? authTokenFile, string? readerTokenFile, int maxConnections, ClusterJoin? cluster, ScalioStoreOptions baseOptions)
    {
        if (fabricName != "tcp")
        {
            CliErrors.Report($"scalio server: --fabric '{fabricName}' is not supported; use tcp (tcp;ofi_rxm){(fabricName is "shm" or "verbs" ? " (shm trusts every local process; verbs needs an RDMA device)" : "")}");
            return 2;
        }
        if (listen is null)
        {
            CliErrors.Report("scalio server: --fabric needs --listen ADDRESS:PORT (e.g. 127.0.0.1:7000)");
            return 2;
        }
        if (selfLoad > 0)
        {
            CliErrors.Report("scalio server: --self-load runs in-process clients, which a --fabric server does not have; run 'scalio ycsb --connect' instead");
            return 2;
        }
        IPEndPoint endPoint;
        IPEndPoint? nicEndPoint = null, metricsEndPoint = null;
        OffloadTargetEndpoint? target = null;
        try
        {
            if (metrics is not null) metricsEndPoint = MetricsEndpoint.Parse(metrics);
            if (!IPEndPoint.TryParse(listen, out endPoint!)) throw new FormatException($"--listen '{listen}' is not ADDRESS:PORT");
            if (offloadTarget is not null && nicListen is not null) throw new FormatException("--nic-listen places the in-process emulated NIC; --offload-target replaces it: give one of them");
            if (offloadTarget is not null) target = OffloadTargetEndpoint.Parse(offloadTarget, subnqn);
            else
            {
                // The NIC is part of the server (a DPU): by default it listens on the server's address, on a free port.
                if (nicListen is null) nicEndPoint = new IPEndPoint(endPoint.Address, 0);
                else if (!IPEndPoint.TryParse(nicListen, out nicEndPoint)) throw new FormatException($"--nic-listen '{nicListen}' is not ADDRESS:PORT");
                if (nicEndPoint.Address.Equals(IPAddress.Any) || nicEndPoint.Address.Equals(IPAddress.IPv6Any))
                    throw new FormatException("the emulated NIC needs an address clients can reach, not a wildcard: give --nic-listen ADDRESS:PORT (or --offload-target HOST:PORT)");
            }
        }
        catch (FormatException e)
        {
            CliErrors.Report($"scalio server: {e.Message}");
            return 2;
        }
        if (cluster is not null && (endPoint.Address.Equals(IPAddress.Any) || endPoint.Address.Equals(IPAddress.IPv6Any)))
            return CliErrors.Fail("scalio server: --cluster registers the --listen address for clients and peers: give one they can reach, not a wildcard");
        if (cluster is not null && authTokenFile is not null)
            return CliErrors.Fail("scalio server: --cluster with --auth-token-file is not supported yet (servers copying keys to each other would need the token)");
        EtcdCluster? etcd = null;
        if (cluster is not null)
        {
            try
            {
                etcd = new EtcdCluster(cluster.Endpoint, cluster.Name);
            }
            catch (FormatException e)
            {
                return CliErrors.Fail($"scalio server: {e.Message}");
            }
        }
        using var etcdScope = etcd;
        if (maxConnections is < 1 or > 65_536) return CliErrors.Fail($"scalio server: --max-connections must be 1..65536; got {maxConnections}");
        if (baseOptions.MaxRequestsInFlightPerClient is < 1 or > 1024) return CliErrors.Fail($"scalio server: --max-inflight must be 1..1024; got {baseOptions.MaxRequestsInFlightPerClient}");
        AuthToken? token = null, readerToken = null;
        if (readerTokenFile is not null && authTokenFile is null) return CliErrors.Fail("scalio server: --reader-token-file needs --auth-token-file (the writers' token)");
        try
        {
            if (authTokenFile is not null) token = AuthToken.FromFile(authTokenFile);
        }
        catch (AuthTokenFileException e)
        {
            return CliErrors.Fail($"scalio server: --auth-token-file: {e.Message}");
        }
        try
        {
            if (readerTokenFile is not null) readerToken = AuthToken.FromFile(readerTokenFile);
        }
        catch (AuthTokenFileException e)
        {
            return CliErrors.Fail($"scalio server: --reader-token-file: {e.Message}");
        }
        if (readerToken is not null && readerToken.SameSecretAs(token!)) return CliErrors.Fail("scalio server: --reader-token-file holds the same token as --auth-token-file; readers need their own");
        if (dataDir is not null && !CliErrors.TryCreateDirectory("--data-dir", dataDir)) return 2;

        ScalioFabricServer fabricServer;
        var opened = Stopwatch.StartNew();
        try
        {
            fabricServer = ScalioFabricServer.Start(new ScalioFabricServerOptions
            {
                Listen = endPoint,
                Store = new ScalioStoreOptions
                {
                    ExpectedRecords = baseOptions.ExpectedRecords,
                    Devices = baseOptions.Devices,
                    ServerWorkers = baseOptions.ServerWorkers,
                    BatchSize = baseOptions.BatchSize,
                    BatchIdleTimeout = baseOptions.BatchIdleTimeout,
                    MaxRequestsInFlightPerClient = baseOptions.MaxRequestsInFlightPerClient,
                    DataDirectory = dataDir,
                },
                NicListen = nicEndPoint,
                ExternalOffloadTarget = target,
                SubsystemNqn = subnqn,
                ListenOptions = new ServerListenOptions { Token = token, ReaderToken = readerToken, MaxConnections = maxConnections },
                // One line per refused client (admission, limits, bad handshakes): who, and why.
                ClientRefused = (peer, reason) => Console.Error.WriteLine($"scalio server: refused client {peer?.ToString() ?? "(unknown address)"}: {reason}"),
            });
        }
        catch (LibfabricException e)
        {
            CliErrors.Report($"scalio server: cannot open libfabric (tcp;ofi_rxm): {e.Message}");
            return 2;
        }
        catch (DataDirectoryInUseException) // the store holds its directory (scalio target opens the files read-only, not the lock)
        {
            return CliErrors.DataDirInUse(dataDir!);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException or InvalidOperationException)
        {
            CliErrors.Report($"scalio server: cannot start{(dataDir is null ? "" : " on " + dataDir)}: {e.Message}");
            return 2;
        }
        using (fabricServer)
        {
            var store = fabricServer.Store;
            var nic = fabricServer.Nic;
            var bound = fabricServer.EndPoint;
            target = fabricServer.OffloadTarget;
            {
                ServerCommand.PrintRecovery(store);
                using var stop = new ManualResetEventSlim();
                Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Set(); };
                using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Set(); });
                var server = store.Server;
                using var agent = etcd is null ? null : new ClusterServerAgent(etcd, cluster!.Id, bound.ToString(), server, log: Console.Out,
                    replicas: cluster.Replicas, expectedKeys: (int)Math.Min(baseOptions.ExpectedRecords, 1 << 24));
                if (agent is not null)
                {
                    try
                    {
                        agent.Start();
                    }
                    catch (Exception e) when (e is Grpc.Core.RpcException or InvalidDataException or InvalidOperationException)
                    {
                        return CliErrors.Fail($"scalio server: --cluster {cluster!.Endpoint}: {CliErrors.OneLine(e)}");
                    }
                    Console.WriteLine($"cluster: registered as server {agent.Id} at {bound} in etcd {etcd!.Endpoint} (cluster '{etcd.Name}'), map {agent.Map}");
                }
                if (token is null)
                    Console.Error.WriteLine($"scalio server: warning: no --auth-token-file given; any process that reaches {bound} gets the cache and index region keys and may PUT and DELETE.");
                using var meter = metricsEndPoint is null ? null : new ScalioServerMetrics(store, nic);
                using var scrape = metricsEndPoint is null ? null : ServerCommand.StartMetrics(metricsEndPoint);
                if (metricsEndPoint is not null && scrape is null) return 2;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"ready: listening on {bound} (tcp;ofi_rxm), {store.Options.Devices} SSD(s) {(dataDir is null ? "in RAM" : "in " + dataDir)}, {store.CacheSlots:N0} cache slots, batch {store.Options.BatchSize}, " +
                    $"offload target {(nic is null ? target!.ToString() + " (external)" : target!.ToString() + " (emulated NIC, in-process: a MODEL of the DPU's NVMe-oF target offload, its own threads, not server CPU)")}, slot headers via {(server.UsesFabricAtomics ? "fabric atomics" : "CPU atomics")}, " +
                    $"{(token is null ? "no admission token" : readerToken is null ? "clients must prove --auth-token-file" : "clients must prove --auth-token-file (writers) or --reader-token-file (readers)")}, opened in {opened.ElapsedMilliseconds} ms"));
                Console.Out.Flush();
                stop.Wait();
                var c = store.ReadCounters();
                long progress = server.Domain.ProgressThreadCpuNanoseconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"stopping: {server.RemoteClientsAccepted} client connection(s) accepted, {server.RemoteClientsDisconnected} disconnected, {server.RemoteClientsRefused} refused ({server.RemoteClientsDeniedAdmission} failed admission, {server.RemoteClientsOverLimit} over --max-connections); " +
                    $"{server.RequestsForbidden} reader PUT/DELETE refused; peak requests in flight per client {server.PeakRequestsInFlightPerConnection} (--max-inflight {store.Options.MaxRequestsInFlightPerClient}); " +
                    $"{c.ServerRequests:N0} requests, server CPU {c.ServerBusyNanoseconds / 1e6:F1} ms ({(c.ServerRequests > 0 ? c.ServerBusyNanoseconds / 1000.0 / c.ServerRequests : 0):F2} µs/request), {c.DeviceWrites} SSD writes, {server.BatchesCommitted} batches; " +
                    $"libfabric progress thread CPU {(progress < 0 ? "unknown" : (progress / 1e6).ToString("F1", CultureInfo.InvariantCulture) + " ms")} (serves clients' one-sided READs and atomics: server CPU on the GET path, not in the figure above)"));
                if (nic is not null)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"emulated NIC: {nic.Target.ConnectionsAccepted} connection(s), {nic.Commands:N0} NVMe commands, NIC time {nic.BusyNanoseconds / 1e6:F1} ms"));
                Console.Out.Flush();
            }
            fabricServer.Dispose(); // batches committed, checkpoint written, devices closed
            Console.WriteLine("stopped cleanly (checkpoint written)");
            return 0;
        }
    }
}
