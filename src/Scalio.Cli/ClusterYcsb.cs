using System.Globalization;
using Scalio.Cluster;
using Scalio.Fast.Client;
using Scalio.Fast.Remote;
using Scalio.Fast.Rpc;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary><c>scalio ycsb --cluster etcd://HOST:PORT</c>: YCSB client threads in this process, each operation routed to
/// its key's owner by the cluster map in etcd (followed while the run goes on).</summary>
internal static class ClusterYcsb
{
    public static int Run(string endpoint, string name, YcsbOptions options)
    {
        using var etcd = ClusterCommand.Open(endpoint, name);
        if (etcd is null) return 2;
        ClusterStore store;
        try
        {
            store = ClusterStore.Connect(etcd, new RemoteStoreOptions { Client = new ScalioClientOptions { RequestTimeoutMilliseconds = 10_000 } });
        }
        catch (Exception e) when (e is Grpc.Core.RpcException or InvalidDataException or InvalidOperationException || RemoteScalioStore.IsTransient(e))
        {
            return CliErrors.Fail($"ycsb --cluster: {CliErrors.OneLine(e)}");
        }
        using (store)
        {
            Console.WriteLine($"cluster: map {store.Map}");
            var target = new Target(store);
            YcsbResult r;
            try
            {
                // No warm-up phase: a cluster run is about routing while the map changes, and the run starts at once.
            r = new YcsbRunner(options with { WarmupOperations = 0 }).Run(target, new PhaseStart());
            }
            catch (Exception e) when (e is Fast.ScalioException or InvalidOperationException or AggregateException || RemoteScalioStore.IsTransient(e))
            {
                CliErrors.Report($"ycsb --cluster: the run failed: {e.Message}");
                return 1;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"YCSB {r.Workload}: {r.Operations:N0} ops in {r.Seconds:F2} s, {r.OpsPerSecond:N0} ops/s, p50 {r.P50Micros:F1} µs, p99 {r.P99Micros:F1} µs; reads {r.Reads:N0}, updates {r.Updates:N0}, not found {r.NotFound:N0}, value mismatches {r.ValueMismatches:N0}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"cluster: map now {store.Map}; map changes seen {store.MapChanges}; client errors: {target.Errors} (GETs failed {target.FailedGets}, PUTs failed {target.FailedPuts}); writes retried after WrongOwner {target.Retries}, operations that waited for the map lease {target.LeaseWaits}"));
            return target.Errors == 0 && r.ValueMismatches == 0 ? 0 : 1;
        }
    }

    /// <summary>Prints "load: started" and "run: started" (a script adds a server once the run is under way).</summary>
    private sealed class PhaseStart : IProgress<YcsbProgress>
    {
        private YcsbPhase? _phase;
        private TimeSpan _last;

        public void Report(YcsbProgress value)
        {
            string phase = value.Phase == YcsbPhase.Load ? "load" : "run";
            if (value.Phase != _phase) Console.WriteLine($"{phase}: started");
            else if (value.Elapsed - _last >= TimeSpan.FromSeconds(1))
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{phase}: {value.Elapsed.TotalSeconds:F1} s, at least {value.Done:N0} operations"));
            else return;
            _phase = value.Phase;
            _last = value.Elapsed;
            Console.Out.Flush();
        }
    }

    private sealed class Target(ClusterStore store) : IYcsbTarget
    {
        private long _failedGets, _failedPuts, _retries, _leaseWaits;

        public string Name => "scalio (cluster)";

        public long FailedGets => Interlocked.Read(ref _failedGets);

        public long FailedPuts => Interlocked.Read(ref _failedPuts);

        public long Errors => FailedGets + FailedPuts;

        public long Retries => Interlocked.Read(ref _retries);

        public long LeaseWaits => Interlocked.Read(ref _leaseWaits);

        public IYcsbSession OpenSession(int threadIndex) => new Session(this, store.OpenClient());

        public TargetCounters ReadCounters() => new(0, 0, 0, 0, 0, 0, 0, 0);

        private sealed class Session(Target owner, ClusterClient client) : IYcsbSession
        {
            private long _retriesSeen;

            public bool Read(ReadOnlySpan<byte> key, Span<byte> value)
            {
                var st = client.Get(key, value, out _);
                if (st == OpStatus.Ok) return true;
                if (st != OpStatus.NotFound) Interlocked.Increment(ref owner._failedGets);
                return false;
            }

            public void Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Write(key, value);

            public void Insert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Write(key, value);

            private void Write(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
            {
                if (client.Put(key, value) != OpStatus.Ok) Interlocked.Increment(ref owner._failedPuts);
                long r = client.WrongOwnerRetries;
                if (r != _retriesSeen) { Interlocked.Add(ref owner._retries, r - _retriesSeen); _retriesSeen = r; }
            }

            public void Dispose()
            {
                Interlocked.Add(ref owner._leaseWaits, client.LeaseWaits);
                client.Dispose();
            }
        }
    }
}
