using System.Globalization;
using Scalio.Checking;
using Scalio.Cluster;
using Scalio.Fast.Client;
using Scalio.Fast.Remote;
using Scalio.Fast;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary><c>scalio ycsb --cluster etcd://HOST:PORT</c>: YCSB client threads in this process, each operation routed to
/// its key's owner by the cluster map in etcd (followed while the run goes on); with <c>--history</c> every operation is
/// recorded for <c>scalio check --verify</c>, as <c>--connect</c> does.</summary>
internal static class ClusterYcsb
{
    public static int Run(string endpoint, string name, YcsbOptions options, string? historyFile = null)
    {
        using var etcd = ClusterCommand.Open(endpoint, name);
        if (etcd is null) return 2;
        ClusterStore store;
        try
        {
            // A dead server's sessions give up reconnecting after 1 s: failover moves the map on, and the operation follows it.
            store = ClusterStore.Connect(etcd, new RemoteStoreOptions { Client = new ScalioClientOptions { RequestTimeoutMilliseconds = 10_000 }, ReconnectTimeout = TimeSpan.FromSeconds(1) });
        }
        catch (Exception e) when (e is Grpc.Core.RpcException or InvalidDataException or InvalidOperationException || RemoteScalioStore.IsTransient(e))
        {
            return CliErrors.Fail($"ycsb --cluster: {CliErrors.OneLine(e)}");
        }
        using (store)
        {
            Console.WriteLine($"cluster: map {store.Map}");
            if (options.ValueSize > store.MaxValueLength)
            {
                // Replicated values carry an 8-byte version header inside the servers' value capacity.
                Console.WriteLine($"cluster: values of {store.MaxValueLength} bytes (the servers' value capacity less the version header)");
                options = options with { ValueSize = store.MaxValueLength };
            }
            // Tagged (unique) update values with a history: the checker judges what was read instead of the runner.
            if (historyFile is not null) options = options with { VerifyValues = false };
            var history = historyFile is null ? null : new HistoryRecorder(options.Threads * RemoteYcsbCommand.HistoryIdsPerThread, 1024, 96, epochTimestamp: 0);
            var target = new Target(store, history, options.Threads);
            YcsbResult r;
            try
            {
                // No warm-up phase: a cluster run is about routing while the map changes, and the run starts at once.
            r = new YcsbRunner(options with { WarmupOperations = 0 }).Run(target, new PhaseStart());
            }
            catch (Exception e) when (e is Fast.ScalioException or InvalidOperationException or AggregateException || RemoteScalioStore.IsTransient(e))
            {
                CliErrors.Report($"ycsb --cluster: the run failed: {e.Message}");
                WriteHistory(history, historyFile);
                return 1;
            }
            WriteHistory(history, historyFile);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"YCSB {r.Workload}: {r.Operations:N0} ops in {r.Seconds:F2} s, {r.OpsPerSecond:N0} ops/s, p50 {r.P50Micros:F1} µs, p99 {r.P99Micros:F1} µs; reads {r.Reads:N0}, updates {r.Updates:N0}, not found {r.NotFound:N0}, value mismatches {r.ValueMismatches:N0}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"cluster: map now {store.Map}; map changes seen {store.MapChanges}; client errors: {target.Errors} (GETs failed {target.FailedGets}, PUTs failed {target.FailedPuts}, of which outcome unknown {target.UnknownPuts}); writes retried after WrongOwner {target.Retries}, chain writes restarted {target.ChainRestarts}, operations that waited for the map lease {target.LeaseWaits}"));
            return target.Errors == 0 && r.ValueMismatches == 0 ? 0 : 1;
        }
    }

    private static void WriteHistory(HistoryRecorder? history, string? file)
    {
        if (history is null) return;
        var ops = history.ToOperations();
        HistoryJson.WriteFile(file!, ops);
        Console.WriteLine($"history: {ops.Count:N0} operations written to {file} (times: CLOCK_MONOTONIC ns)");
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

    /// <summary>The runner's target. With a history, a thread's operations are recorded under its client ids (a fresh
    /// one after a write whose outcome is unknown, which stays without an end), as <see cref="RemoteYcsbTarget"/> does.</summary>
    private sealed class Target(ClusterStore store, HistoryRecorder? history, int threads) : IYcsbTarget
    {
        private long _failedGets, _failedPuts, _unknownPuts, _retries, _restarts, _leaseWaits;
        private readonly int[] _nextId = [.. Enumerable.Range(0, threads).Select(t => t * RemoteYcsbCommand.HistoryIdsPerThread)];

        public string Name => "scalio (cluster)";

        public long FailedGets => Interlocked.Read(ref _failedGets);

        public long FailedPuts => Interlocked.Read(ref _failedPuts);

        public long UnknownPuts => Interlocked.Read(ref _unknownPuts);

        public long Errors => FailedGets + FailedPuts;

        public long Retries => Interlocked.Read(ref _retries);

        public long ChainRestarts => Interlocked.Read(ref _restarts);

        public long LeaseWaits => Interlocked.Read(ref _leaseWaits);

        public IYcsbSession OpenSession(int threadIndex) => new Session(this, store.OpenClient(), threadIndex);

        public TargetCounters ReadCounters() => new(0, 0, 0, 0, 0, 0, 0, 0);

        /// <summary>The thread's next history client id (its phases' sessions share the thread's id range, one after another).</summary>
        private ClientRecorder? NextRecorder(int thread)
        {
            if (history is null) return null;
            int id = _nextId[thread]++;
            if (id >= (thread + 1) * RemoteYcsbCommand.HistoryIdsPerThread)
                throw new InvalidOperationException($"thread {thread} used its {RemoteYcsbCommand.HistoryIdsPerThread} history client ids (too many writes with an unknown outcome)");
            return history.Client(id);
        }

        private sealed class Session(Target owner, ClusterClient client, int thread) : IYcsbSession
        {
            private long _retriesSeen, _restartsSeen;
            private readonly int _thread = thread;
            private ClientRecorder? _recorder = owner.NextRecorder(thread);
            private readonly byte[] _tagged = new byte[1024];
            private uint _sequence;
            private readonly int _tagId = (Environment.ProcessId << 8) | (thread & 0xFF); // unique across the client processes of one machine

            public bool Read(ReadOnlySpan<byte> key, Span<byte> value)
            {
                int op = _recorder?.BeginGet(key) ?? -1;
                var st = client.Get(key, value, out int length);
                if (st == OpStatus.Ok)
                {
                    _recorder?.CompleteGet(op, value[..length]);
                    return true;
                }
                if (st == OpStatus.NotFound)
                {
                    _recorder?.CompleteGetNotFound(op);
                    return false;
                }
                Interlocked.Increment(ref owner._failedGets);
                _recorder?.Discard(op); // a failed read observed nothing
                return false;
            }

            public void Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
                => Write(key, _recorder is null ? value : RemoteYcsbTarget.TagForHistory(_tagged, value, _tagId, ref _sequence));

            public void Insert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Write(key, value);

            private void Write(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
            {
                int op = _recorder?.BeginPut(key, value) ?? -1;
                var st = client.Put(key, value);
                long r = client.WrongOwnerRetries, c = client.ChainRestarts;
                if (r != _retriesSeen) { Interlocked.Add(ref owner._retries, r - _retriesSeen); _retriesSeen = r; }
                if (c != _restartsSeen) { Interlocked.Add(ref owner._restarts, c - _restartsSeen); _restartsSeen = c; }
                if (st == OpStatus.Ok)
                {
                    _recorder?.Complete(op);
                    return;
                }
                Interlocked.Increment(ref owner._failedPuts);
                if (st is not (OpStatus.Timeout or OpStatus.Unavailable))
                {
                    _recorder?.Discard(op); // answered with an error: not applied
                    return;
                }
                Interlocked.Increment(ref owner._unknownPuts);
                if (_recorder is not null) _recorder = owner.NextRecorder(_thread); // the op stays without an end
            }

            public void Dispose()
            {
                Interlocked.Add(ref owner._leaseWaits, client.LeaseWaits);
                client.Dispose();
            }
        }
    }
}
