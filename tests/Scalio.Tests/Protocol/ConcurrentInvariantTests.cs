using System.Text;
using Scalio.Checking;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Verbs;

namespace Scalio.Tests.Protocol;

/// <summary>Invariants checked while many clients hammer a tiny cache with faults on.</summary>
public class ConcurrentInvariantTests
{
    private static LoopbackFaultInjector Faults(long seed) => new(seed)
    {
        DelayProbability = 0.05,
        MaxDelayMicroseconds = 100,
        CompletionDelayProbability = 0.05,
        MaxCompletionDelayMicroseconds = 100,
        SlowWriteProbability = 0.1,
        MinSlowWriteMicroseconds = 200,
        MaxSlowWriteMicroseconds = 1000,
        TearProbability = 0.05,
        TearUnit = SlotLayout.Default.SlotSize,
        TearBoundaries = [8, 20, SlotLayout.Default.ValueOffset + 8],
    };

    /// <summary>Runs <paramref name="threads"/> clients doing a get/put/delete mix for <paramref name="ms"/>, recording.</summary>
    private static List<HistoryOperation> Hammer(ScalioStore store, int threads, int keys, int ms, Action? whileRunning = null)
    {
        var recorder = new HistoryRecorder(threads, 8192, 32);
        var errors = new List<string>();
        long deadline = Environment.TickCount64 + ms;
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            var c = store.OpenClient();
            workers[t] = new Thread(() =>
            {
                var rec = recorder.Client(id);
                var rnd = new Random(id * 31 + 5);
                var buf = new byte[64];
                for (int i = 0; Environment.TickCount64 < deadline; i++)
                {
                    var key = Encoding.ASCII.GetBytes($"key{rnd.Next(keys)}");
                    int roll = rnd.Next(100);
                    if (roll < 60)
                    {
                        int h = rec.BeginGet(key);
                        var st = c.Get(key, buf, out int n);
                        if (st == OpStatus.Ok) rec.CompleteGet(h, buf.AsSpan(0, n));
                        else if (st == OpStatus.NotFound) rec.CompleteGetNotFound(h);
                        else lock (errors) errors.Add($"get: {st}");
                    }
                    else if (roll < 92)
                    {
                        var v = Encoding.ASCII.GetBytes($"c{id}-{i}");
                        int h = rec.BeginPut(key, v);
                        if (c.Put(key, v) == OpStatus.Ok) rec.Complete(h); else lock (errors) errors.Add("put failed");
                    }
                    else
                    {
                        int h = rec.BeginDelete(key);
                        if (c.Delete(key) == OpStatus.Ok) rec.Complete(h); else lock (errors) errors.Add("delete failed");
                    }
                }
            });
        }
        foreach (var w in workers) w.Start();
        whileRunning?.Invoke();
        foreach (var w in workers) Assert.True(w.Join(TimeSpan.FromSeconds(30)), "a client did not finish");
        Assert.Empty(errors);
        return recorder.ToOperations();
    }

    [Fact]
    public void No_two_slots_of_a_bucket_ever_hold_one_key()
    {
        var faults = Faults(11);
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, CacheBuckets = 1, Fabric = new LoopbackOptions { Faults = faults } });
        faults.TargetRemoteKey = store.Server.CacheRegion.RemoteKey;
        int slots = store.Layout.SlotsPerBucket;
        long scans = 0, suspects = 0, peakValid = 0;
        string? duplicate = null;
        var history = Hammer(store, threads: 4, keys: 12, ms: 1500, whileRunning: () =>
        {
            long end = Environment.TickCount64 + 1400;
            while (Environment.TickCount64 < end && duplicate is null)
            {
                scans++;
                var views = new SlotView[slots];
                for (int s = 0; s < slots; s++) views[s] = CacheScan.Read(store, 0, s);
                int valid = 0;
                for (int i = 0; i < slots; i++)
                {
                    if (views[i].State != SlotState.Valid || !views[i].ChecksumOk) continue;
                    valid++;
                    for (int j = i + 1; j < slots; j++)
                    {
                        if (views[j].State != SlotState.Valid || !views[j].ChecksumOk || views[j].Key != views[i].Key) continue;
                        // The copy is not atomic: confirm that both headers are unchanged now. A header word that
                        // still holds the same version never changed state, so both slots were VALID at once.
                        suspects++;
                        if (CacheScan.Header(store, 0, i) == views[i].Header && CacheScan.Header(store, 0, j) == views[j].Header)
                            duplicate = $"slots {i} and {j} both hold '{views[i].Key}' ({SlotHeader.Describe(views[i].Header)} / {SlotHeader.Describe(views[j].Header)})";
                    }
                }
                peakValid = Math.Max(peakValid, valid);
            }
        });
        Assert.Null(duplicate);
        Assert.True(scans > 100, $"only {scans} scans");
        Assert.True(peakValid >= slots - 1, $"the bucket never filled up (peak {peakValid} VALID slots)");
        var c = store.ReadCounters().Clients;
        Assert.True(c.Fills > 100 && c.Hits > 100, $"{c.Fills} fills, {c.Hits} hits");
        Assert.True(history.Count > 500);
    }

    [Theory]
    [InlineData(BrokenMode.None)]
    [InlineData(BrokenMode.UnguardedFill)]
    public void A_write_that_returned_is_never_followed_by_a_read_of_an_older_value(BrokenMode mode)
    {
        var faults = Faults(23);
        faults.SlowWriteProbability = 0.3;
        faults.MinSlowWriteMicroseconds = 1000;
        faults.MaxSlowWriteMicroseconds = 3000;
        using var store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = 1000,
            CacheBuckets = 1,
            Fabric = new LoopbackOptions { Faults = faults },
            FillPublishPath = Scalio.Cli.BrokenWritePaths.ClientPublish((Scalio.Cli.BrokenWriteMode)mode),
        });
        faults.TargetRemoteKey = store.Server.CacheRegion.RemoteKey;
        var history = Hammer(store, threads: 6, keys: 4, ms: mode == BrokenMode.None ? 1500 : 2500);
        var stale = FindStaleRead(history);
        if (mode == BrokenMode.None) Assert.True(stale is null, stale);
        else Assert.True(stale is not null, "the broken fill path produced no stale read: the property check saw nothing");
    }

    public enum BrokenMode { None = 0, UnguardedFill = 2 }

    /// <summary>
    /// The property, checked directly (not through the linearizability checker): for a get G of key k that returned
    /// the value of write X, no write Y of k may have completed before G began while starting after X completed.
    /// (Y is newer than X in real time, and G began after Y returned: G must not see X.)
    /// </summary>
    private static string? FindStaleRead(List<HistoryOperation> history)
    {
        var writesByKey = new Dictionary<string, List<HistoryOperation>>();
        foreach (var op in history)
        {
            if (op.Kind == OperationKind.Get || !op.IsComplete) continue;
            if (!writesByKey.TryGetValue(op.Key, out var list)) writesByKey[op.Key] = list = [];
            list.Add(op);
        }
        foreach (var g in history)
        {
            if (g.Kind != OperationKind.Get || !g.IsComplete || g.Value is null) continue;
            if (!writesByKey.TryGetValue(g.Key, out var writes)) continue;
            HistoryOperation? x = null;
            foreach (var w in writes) if (w.Kind == OperationKind.Put && w.Value == g.Value) x = w;
            if (x is null) continue; // values are unique; an incomplete put's value is not judged here
            foreach (var y in writes)
            {
                if (y.End < g.Start && y.Start > x.Value.End)
                    return $"get of {g.Key} by client {g.Client} at {g.Start} returned '{g.Value}' (put done at {x.Value.End}) after {y.Kind} by client {y.Client} [{y.Start}, {y.End}] returned";
            }
        }
        return null;
    }
}
