using System.Text;
using Scalio.Checking;
using Scalio.Fast;
using Scalio.Fast.Client;
using Scalio.Nvme;

namespace Scalio.Tests.Store;

/// <summary>Batched GETs: the same answers as single GETs, several SSD reads in flight from one thread, linearizable
/// beside writers, and nothing allocated per batch.</summary>
public class GetBatchTests
{
    private static byte[] Key(int i) => Encoding.ASCII.GetBytes($"k{i:D6}");

    private static byte[] Value(int i, int round) => Encoding.ASCII.GetBytes($"v{i}-{round}-{new string('x', i % 40)}");

    [Theory]
    [InlineData(16)]
    [InlineData(ScalioGetBatch.MaxCapacity)]
    public void A_batch_answers_hits_misses_duplicates_and_absent_keys_as_single_gets_do(int width)
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4000, CacheBuckets = 4 });
        using var c = store.OpenClient();
        for (int i = 0; i < 300; i++) Assert.Equal(OpStatus.Ok, c.Put(Key(i), Value(i, 0)));
        using var batch = c.CreateGetBatch(width);
        var rnd = new Random(7);
        var single = new byte[c.Layout.ValueCapacity];
        var told = new AnswerLog();
        long hits = 0, misses = 0;
        for (int round = 0; round < 60; round++)
        {
            batch.Clear();
            var ids = new int[batch.Capacity];
            for (int j = 0; j < batch.Capacity; j++)
            {
                ids[j] = j == 5 ? ids[2] : j == 9 ? 1000 + round : rnd.Next(300); // a duplicate and an absent key
                batch.Add(Key(ids[j]));
            }
            told.Reset(batch.Capacity);
            c.Get(batch, told);
            told.AssertEachOnceAsFinal(batch);
            int hitsAt = 0;
            for (int j = 0; j < batch.Count; j++) if (batch.HitAt(j)) hitsAt++;
            Assert.Equal(hitsAt, batch.HitCount);
            for (int j = 0; j < batch.Count; j++)
            {
                if (ids[j] >= 300)
                {
                    Assert.Equal(OpStatus.NotFound, batch.StatusAt(j));
                    continue;
                }
                Assert.Equal(OpStatus.Ok, batch.StatusAt(j));
                Assert.Equal(Value(ids[j], 0), batch.ValueAt(j).ToArray());
                if (batch.HitAt(j)) hits++; else misses++;
                Assert.Equal(OpStatus.Ok, c.Get(Key(ids[j]), single, out int n));
                Assert.Equal(Value(ids[j], 0), single.AsSpan(0, n).ToArray());
            }
        }
        Assert.True(hits > 50 && misses > 300, $"hits {hits}, misses {misses}");
        Assert.True(c.Counters.Fills > 300, $"fills {c.Counters.Fills}");
    }

    /// <summary>Records what each Answered call saw, to check it is told once, at the answer it keeps.</summary>
    private sealed class AnswerLog : IGetBatchObserver
    {
        public readonly List<int> Order = [];
        private (OpStatus Status, byte[] Value, bool Hit)[] _seen = [];

        public void Reset(int capacity)
        {
            Order.Clear();
            _seen = new (OpStatus, byte[], bool)[capacity];
        }

        public void Answered(ScalioGetBatch batch, int index)
        {
            Order.Add(index);
            _seen[index] = (batch.StatusAt(index), batch.ValueAt(index).ToArray(), batch.HitAt(index));
        }

        public void AssertEachOnceAsFinal(ScalioGetBatch batch)
        {
            Assert.Equal(batch.Count, Order.Count);
            Assert.Equal(batch.Count, Order.Distinct().Count());
            for (int j = 0; j < batch.Count; j++)
            {
                Assert.Equal(batch.StatusAt(j), _seen[j].Status);
                Assert.Equal(batch.ValueAt(j).ToArray(), _seen[j].Value);
                Assert.Equal(batch.HitAt(j), _seen[j].Hit);
            }
        }
    }

    [Fact]
    public void Hits_are_told_before_the_batch_reads_its_misses_from_the_ssd()
    {
        // SSD reads take 50 ms (a MODEL): a hit told only after them would show in the clock.
        using var store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = 1000, CacheBuckets = 64,
            SsdModel = new SsdModelOptions { ReadLatency = TimeSpan.FromMilliseconds(50), WriteLatency = TimeSpan.Zero, FlushLatency = TimeSpan.Zero },
        });
        using var c = store.OpenClient();
        store.BypassSsdModel(true);
        for (int i = 0; i < 8; i++) Assert.Equal(OpStatus.Ok, c.Put(Key(i), Value(i, 0)));
        var value = new byte[c.Layout.ValueCapacity];
        for (int i = 0; i < 4; i++) Assert.Equal(OpStatus.Ok, c.Get(Key(i), value, out _)); // keys 0-3 cached
        store.BypassSsdModel(false);
        using var batch = c.CreateGetBatch(8);
        int[] ids = [4, 0, 5, 1, 6, 2, 7, 3]; // misses and hits interleaved
        foreach (int id in ids) batch.Add(Key(id));
        var told = new AnswerLog();
        told.Reset(batch.Capacity);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var toldAt = new TimeSpan[ids.Length];
        c.Get(batch, new Timed(told, clock, toldAt));
        told.AssertEachOnceAsFinal(batch);
        Assert.Equal([1, 3, 5, 7], told.Order.Take(4)); // the hits, in lane order, before any miss
        for (int j = 0; j < ids.Length; j++)
        {
            Assert.Equal(OpStatus.Ok, batch.StatusAt(j));
            Assert.Equal(ids[j] < 4, batch.HitAt(j));
        }
        var lastHit = new[] { toldAt[1], toldAt[3], toldAt[5], toldAt[7] }.Max();
        var firstMiss = new[] { toldAt[0], toldAt[2], toldAt[4], toldAt[6] }.Min();
        Assert.True(firstMiss - lastHit >= TimeSpan.FromMilliseconds(40), $"hits told by {lastHit.TotalMilliseconds} ms, first miss at {firstMiss.TotalMilliseconds} ms");
    }

    private sealed class Timed(AnswerLog log, System.Diagnostics.Stopwatch clock, TimeSpan[] at) : IGetBatchObserver
    {
        public void Answered(ScalioGetBatch batch, int index)
        {
            at[index] = clock.Elapsed;
            log.Answered(batch, index);
        }
    }

    [Fact]
    public void Misses_of_one_bucket_in_a_batch_lock_different_slots_and_a_repeated_key_is_read_once()
    {
        // One bucket: every miss of the batch competes for its 8 slots.
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, CacheBuckets = 1 });
        using var c = store.OpenClient();
        for (int i = 0; i < 6; i++) Assert.Equal(OpStatus.Ok, c.Put(Key(i), Value(i, 0)));
        using var batch = c.CreateGetBatch(16);
        int[] ids = [0, 0, 1, 2, 0, 1, 3, 999, 999, 4];
        foreach (int id in ids) batch.Add(Key(id));
        var before = c.Counters;
        c.Get(batch);
        for (int j = 0; j < ids.Length; j++)
        {
            if (ids[j] == 999) { Assert.Equal(OpStatus.NotFound, batch.StatusAt(j)); continue; }
            Assert.Equal(OpStatus.Ok, batch.StatusAt(j));
            Assert.Equal(Value(ids[j], 0), batch.ValueAt(j).ToArray());
            Assert.False(batch.HitAt(j));
        }
        Assert.Equal(0, c.Counters.LockConflicts - before.LockConflicts); // no two CASes on one slot
        Assert.Equal(5, c.Counters.Fills - before.Fills); // keys 0-4 once each
        Assert.Equal(5, c.Counters.OffloadedReads - before.OffloadedReads); // one SSD read a key; the absent key has no block
        batch.Clear();
        foreach (int id in ids) batch.Add(Key(id));
        c.Get(batch);
        Assert.Equal(8, batch.HitCount); // all but the absent key's two lanes
    }

    [Fact]
    public void A_hit_rewrites_its_stamp_only_when_older_than_the_touch_interval()
    {
        long StampBytes(int interval)
        {
            using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, Client = new ScalioClientOptions { TouchIntervalMilliseconds = interval } });
            using var c = store.OpenClient();
            Assert.Equal(OpStatus.Ok, c.Put(Key(1), Value(1, 0)));
            var value = new byte[c.Layout.ValueCapacity];
            Assert.Equal(OpStatus.Ok, c.Get(Key(1), value, out _)); // the fill stamps the slot
            long before = c.Counters.BytesMoved, hits = c.Counters.Hits;
            for (int i = 0; i < 100; i++) Assert.Equal(OpStatus.Ok, c.Get(Key(1), value, out _));
            Assert.Equal(100, c.Counters.Hits - hits);
            return c.Counters.BytesMoved - before - 100L * c.Layout.BucketSize;
        }
        Assert.Equal(400, StampBytes(0)); // every hit writes its 4 bytes
        Assert.Equal(0, StampBytes(60_000)); // none within a minute of the fill
        Assert.Throws<ArgumentOutOfRangeException>(() => StampBytes(-1));
    }

    [Fact]
    public void One_thread_keeps_several_ssd_reads_in_flight_on_file_namespaces()
    {
        string dir = Path.Combine(Path.GetTempPath(), "scalio-batch-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4000, CacheBuckets = 2, DataDirectory = dir, OffloadThreads = 1 });
            using var c = store.OpenClient();
            for (int i = 0; i < 400; i++) Assert.Equal(OpStatus.Ok, c.Put(Key(i), Value(i, 1)));
            using var batch = c.CreateGetBatch(16);
            long before = c.Counters.OffloadedReads;
            for (int round = 0; round < 25; round++)
            {
                batch.Clear();
                for (int j = 0; j < batch.Capacity; j++) batch.Add(Key((round * 16 + j) % 400));
                c.Get(batch);
                for (int j = 0; j < batch.Count; j++)
                {
                    Assert.Equal(OpStatus.Ok, batch.StatusAt(j));
                    Assert.Equal(Value((round * 16 + j) % 400, 1), batch.ValueAt(j).ToArray());
                }
            }
            Assert.True(c.Counters.OffloadedReads - before > 300, "expected misses");
            if (store.OffloadTarget.UsesIoUring)
                Assert.True(store.OffloadTarget.MaxReadsInFlight > 1, $"most device reads in flight at once: {store.OffloadTarget.MaxReadsInFlight}");
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Batches_beside_writers_on_a_tiny_cache_are_linearizable(int seed)
    {
        const int clients = 3, keys = 6, rounds = 400, width = 4;
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, CacheBuckets = 1 });
        // Each client owns 1 + width recorder lanes: its writes, and one per batch position (a batch's GETs overlap).
        var recorder = new HistoryRecorder(clients * (1 + width), rounds + 8, 64);
        var errors = new List<Exception>();
        var threads = new Thread[clients];
        for (int t = 0; t < clients; t++)
        {
            int id = t;
            threads[t] = new Thread(() =>
            {
                try
                {
                    using var c = store.OpenClient();
                    using var batch = c.CreateGetBatch(width);
                    var rnd = new Random(seed * 100 + id);
                    var writes = recorder.Client(id * (1 + width));
                    var handles = new int[width];
                    for (int i = 0; i < rounds; i++)
                    {
                        if (rnd.Next(100) < 50)
                        {
                            batch.Clear();
                            for (int j = 0; j < width; j++)
                            {
                                var key = Encoding.ASCII.GetBytes($"key{rnd.Next(keys)}");
                                batch.Add(key);
                                handles[j] = recorder.Client(id * (1 + width) + 1 + j).BeginGet(key);
                            }
                            c.Get(batch);
                            for (int j = 0; j < width; j++)
                            {
                                var rec = recorder.Client(id * (1 + width) + 1 + j);
                                var st = batch.StatusAt(j);
                                if (st == OpStatus.Ok) rec.CompleteGet(handles[j], batch.ValueAt(j));
                                else if (st == OpStatus.NotFound) rec.CompleteGetNotFound(handles[j]);
                                else throw new InvalidOperationException($"GET failed: {st}");
                            }
                        }
                        else
                        {
                            var key = Encoding.ASCII.GetBytes($"key{rnd.Next(keys)}");
                            if (rnd.Next(10) == 0)
                            {
                                int h = writes.BeginDelete(key);
                                if (c.Delete(key) != OpStatus.Ok) throw new InvalidOperationException("DELETE failed");
                                writes.Complete(h);
                            }
                            else
                            {
                                var v = Encoding.ASCII.GetBytes($"c{id}-{i}");
                                int h = writes.BeginPut(key, v);
                                if (c.Put(key, v) != OpStatus.Ok) throw new InvalidOperationException("PUT failed");
                                writes.Complete(h);
                            }
                        }
                    }
                }
                catch (Exception e)
                {
                    lock (errors) errors.Add(e);
                }
            });
        }
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        Assert.Empty(errors);
        var result = LinearizabilityChecker.Check(recorder.ToOperations());
        Assert.True(result.Verdict == Verdict.Linearizable, result.Format());
        Assert.True(store.ReadCounters().Clients.Fills > 0, "the run must fill");
    }

    [Fact]
    public void A_batch_of_hits_and_misses_allocates_nothing()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4000, CacheBuckets = 2 });
        using var c = store.OpenClient();
        var keys = new byte[200][];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = Key(i);
            Assert.Equal(OpStatus.Ok, c.Put(keys[i], new byte[64]));
        }
        using var batch = c.CreateGetBatch(16);
        void Run()
        {
            for (int b = 0; b < keys.Length; b += 16)
            {
                batch.Clear();
                for (int j = 0; j < 16; j++) batch.Add(keys[(b + j) % keys.Length]);
                c.Get(batch);
            }
        }
        for (int r = 0; r < 5; r++) Run(); // JIT, tiering
        long allocated = -1;
        var rounds = new List<long>();
        for (int round = 0; round < 3 && allocated != 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int r = 0; r < 10; r++) Run();
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            rounds.Add(allocated);
        }
        Assert.True(allocated == 0, "bytes per round: " + string.Join(", ", rounds));
        Assert.True(c.Counters.Fills > 500, $"fills {c.Counters.Fills}");
    }
}
