using System.Buffers.Binary;
using System.Globalization;
using Scalio.Checking;
using Scalio.Fast;
using Scalio.Fast.Client;
using Scalio.Nvme;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary>
/// <c>scalio ycsb --inject-write-errors P --inject-read-errors P [--history FILE]</c>: an embedded Scalio store whose
/// namespaces fail a seeded fraction of their I/O (<see cref="FaultyNamespace"/>) from the run phase on (the load is
/// clean). A failed operation is counted and the run carries on; the server must stay up.
/// </summary>
internal static class FaultYcsbCommand
{
    public static int Run(YcsbOptions options, StoreSettings settings, double writeErrors, double readErrors, string? historyFile)
    {
        var inv = CultureInfo.InvariantCulture;
        // Tagged (unique) update values with a history: the checker judges the values read, not the runner.
        if (historyFile is not null) options = options with { VerifyValues = false };
        var faulty = new List<FaultyNamespace>();
        var store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = (long)(settings.Records * 1.25),
            CacheFraction = settings.CacheFraction,
            Devices = settings.Ssds,
            DataDirectory = settings.DataDirectory,
            ServerWorkers = settings.ServerWorkers,
            BatchSize = settings.BatchSize,
            WrapDevice = (i, ns) =>
            {
                var f = new FaultyNamespace(ns, options.Seed * 31 + i);
                lock (faulty) faulty.Add(f);
                return f;
            },
        });
        using (store)
        {
            // Only an operation whose outcome is unknown (a timeout) stays without an end; its thread then goes on under a fresh id.
            int ids = RemoteYcsbCommand.HistoryIdsPerThread;
            var history = historyFile is null ? null : new HistoryRecorder(options.Threads * ids, 1024, 96, epochTimestamp: 0);
            var target = new Target(store, history, ids);
            var runner = new YcsbRunner(options with { Load = false });
            Console.WriteLine(string.Create(inv,
                $"scalio ycsb (faults): workload {options.Workload}, {options.RecordCount:N0} records, {options.Threads} thread(s), {settings.Ssds} SSD(s) ({(settings.DataDirectory is null ? "RAM" : "file")}); from the run phase on, writes fail with p = {writeErrors}, reads with p = {readErrors} (seed {options.Seed})"));
            var load = runner.Load(target);
            if (target.FailedPuts + target.FailedGets > 0)
            {
                CliErrors.Report($"ycsb: the load failed before any fault was injected ({target.FailedPuts} PUTs)");
                return 1;
            }
            foreach (var f in faulty)
            {
                f.WriteErrorProbability = writeErrors;
                f.ReadErrorProbability = readErrors;
            }
            YcsbResult result;
            try
            {
                result = runner.Run(target);
            }
            catch (Exception e) when (e is ScalioException or InvalidOperationException or AggregateException)
            {
                CliErrors.Report($"ycsb: the run failed: {e.Message}");
                return 1;
            }
            foreach (var f in faulty)
            {
                f.WriteErrorProbability = 0;
                f.ReadErrorProbability = 0;
            }
            long injectedWrites = 0, injectedReads = 0;
            foreach (var f in faulty)
            {
                injectedWrites += f.InjectedWriteErrors;
                injectedReads += f.InjectedReadErrors;
            }
            // The server must still serve: one clean PUT and GET after the faults stop.
            bool serves = target.Probe();
            Console.WriteLine(string.Create(inv,
                $"{result.Operations:N0} operations in {result.Seconds:F2} s after a {load.TotalSeconds:F1} s load ({result.OpsPerSecond:N0} ops/s): reads {result.Reads:N0}, updates {result.Updates:N0}, not found {result.NotFound:N0}"));
            Console.WriteLine(string.Create(inv, $"injected: {injectedWrites:N0} failed device writes, {injectedReads:N0} failed device reads"));
            Console.WriteLine(string.Create(inv, $"PUTs failed: {target.FailedPuts:N0} (answered with an error, never acknowledged; left out of the history, so a read of one's value would be a violation); GETs failed: {target.FailedGets:N0}"));
            Console.WriteLine(serves ? "server still serving after the faults: yes" : "server still serving after the faults: NO");
            if (history is not null)
            {
                var ops = history.ToOperations();
                HistoryJson.WriteFile(historyFile!, ops);
                Console.WriteLine($"history: {ops.Count:N0} operations written to {historyFile} (times: CLOCK_MONOTONIC ns; failed operations left out, timed-out ones without an end)");
            }
            return serves && result.ValueMismatches == 0 ? 0 : 1;
        }
    }

    /// <summary>Embedded sessions that count a failed operation and go on (recorded without an end, then a fresh history client id).</summary>
    private sealed class Target(ScalioStore store, HistoryRecorder? history, int idsPerThread) : IYcsbTarget
    {
        private readonly HistoryRecorder? _history = history;
        private long _failedPuts, _failedGets;

        public string Name => "scalio (faults)";

        public long FailedPuts => Volatile.Read(ref _failedPuts);

        public long FailedGets => Volatile.Read(ref _failedGets);

        public IYcsbSession OpenSession(int threadIndex) => new Session(this, store.OpenClient(), threadIndex * idsPerThread, idsPerThread);

        public TargetCounters ReadCounters()
        {
            var c = store.ReadCounters();
            return new TargetCounters(c.Clients.RoundTrips, c.ServerBusyNanoseconds, c.OffloadBusyNanoseconds, c.DeviceReads, c.DeviceWrites,
                c.Clients.Hits, c.Clients.Gets - c.Clients.Hits, c.Clients.BytesMoved);
        }

        /// <summary>A PUT and a GET of a probe key, after the faults stopped.</summary>
        public bool Probe()
        {
            using var c = store.OpenClient();
            byte[] key = "fault-probe-key"u8.ToArray();
            byte[] value = "still serving"u8.ToArray();
            var buffer = new byte[store.Layout.ValueCapacity];
            return c.Put(key, value) == OpStatus.Ok && c.Get(key, buffer, out int n) == OpStatus.Ok && buffer.AsSpan(0, n).SequenceEqual(value);
        }

        private sealed class Session(Target owner, ScalioClient client, int firstId, int ids) : IYcsbSession
        {
            private readonly int _lastId = firstId + ids - 1;
            private int _id = firstId;
            private ClientRecorder? _recorder = owner._history?.Client(firstId);
            private readonly byte[] _tagged = new byte[1024];
            private uint _sequence;

            private HistoryRecorder? History => owner._history;

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
                Failed(op, st);
                return false; // the runner counts it as not found
            }

            public void Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
                => Write(key, _recorder is null ? value : RemoteYcsbTarget.TagForHistory(_tagged, value, _id, ref _sequence));

            public void Insert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Write(key, value);

            private void Write(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
            {
                int op = _recorder?.BeginPut(key, value) ?? -1;
                var st = client.Put(key, value);
                if (st == OpStatus.Ok)
                {
                    _recorder?.Complete(op);
                    return;
                }
                Interlocked.Increment(ref owner._failedPuts);
                Failed(op, st);
            }

            /// <summary>A failure the server (or the device) answered did not take effect: it leaves the history, so a
            /// reader that sees a refused PUT's value is a violation. A timeout may have: it stays incomplete and this
            /// thread goes on under a fresh client id.</summary>
            private void Failed(int op, OpStatus status)
            {
                if (_recorder is null) return;
                if (status is not (OpStatus.Timeout or OpStatus.Unavailable))
                {
                    _recorder.Discard(op);
                    return;
                }
                if (_id >= _lastId) throw new InvalidOperationException($"more failed operations than the history client ids of this thread");
                _id++;
                _recorder = History!.Client(_id);
            }

            public void Dispose() => client.Dispose();
        }
    }
}
