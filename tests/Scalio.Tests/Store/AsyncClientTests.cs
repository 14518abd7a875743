#pragma warning disable CA2012 // many ValueTasks in flight on purpose, each consumed exactly once
using System.Diagnostics;
using System.Text;
using Scalio.Checking;
using Scalio.Fast;
using Scalio.Fast.Client;
using Scalio.Nvme;

namespace Scalio.Tests.Store;

/// <summary>The async client: the sync API's answers, shared by many threads, GETs batched, cancellation and disposal
/// that never cut the slot protocol short, argument errors at the call, and linearizable beside writers.</summary>
public class AsyncClientTests
{
    private static byte[] Key(int i) => Encoding.ASCII.GetBytes($"k{i:D6}");

    private static byte[] Value(int i, int round) => Encoding.ASCII.GetBytes($"v{i}-{round}-{new string('x', i % 40)}");

    /// <summary>Waits for a ValueTask from a test thread (allocates; not for the allocation tests).</summary>
    private static T Wait<T>(ValueTask<T> task) => task.AsTask().WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();

    /// <summary>A store whose SSD reads take <paramref name="readLatency"/> (a MODEL), loaded with <paramref name="keys"/> keys.</summary>
    private static ScalioStore SlowStore(TimeSpan readLatency, int keys)
    {
        var store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = 1000, CacheBuckets = 4,
            SsdModel = new SsdModelOptions { ReadLatency = readLatency, WriteLatency = TimeSpan.Zero, FlushLatency = TimeSpan.Zero },
        });
        store.BypassSsdModel(true);
        using (var c = store.OpenClient())
            for (int i = 0; i < keys; i++) Assert.Equal(OpStatus.Ok, c.Put(Key(i), Value(i, 0)));
        store.BypassSsdModel(false);
        return store;
    }

    /// <summary>Waits until the store's clients have started <paramref name="gets"/> GETs in all (the pump took them).</summary>
    private static void WaitForGets(ScalioStore store, long gets)
    {
        var sw = Stopwatch.StartNew();
        while (store.ReadCounters().Clients.Gets < gets)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), "the pump never took the GET");
            Thread.Sleep(1);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Async_gets_answer_hits_misses_duplicates_and_absent_keys_as_sync_gets_do(bool hitsOnCaller)
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4000, CacheBuckets = 4 });
        using var sync = store.OpenClient();
        using var client = store.OpenAsyncClient(new ScalioAsyncClientOptions { HitsOnCaller = hitsOnCaller });
        for (int i = 0; i < 300; i++) Assert.Equal(OpStatus.Ok, sync.Put(Key(i), Value(i, 0)));
        int cap = client.Layout.ValueCapacity;
        var rnd = new Random(11);
        var buffers = new byte[64][];
        for (int j = 0; j < buffers.Length; j++) buffers[j] = new byte[cap];
        var tasks = new ValueTask<ScalioGetResult>[64];
        var ids = new int[64];
        var single = new byte[cap];
        long hits = 0, misses = 0, onCaller = 0;
        for (int round = 0; round < 40; round++)
        {
            var inline = new bool[tasks.Length];
            for (int j = 0; j < tasks.Length; j++)
            {
                ids[j] = j == 5 ? ids[2] : j == 9 ? 1000 + round : rnd.Next(300); // a duplicate and an absent key
                tasks[j] = client.GetAsync(Key(ids[j]), buffers[j]);
                inline[j] = tasks[j].IsCompleted;
            }
            for (int j = 0; j < tasks.Length; j++)
            {
                var r = Wait(tasks[j]);
                if (r.Hit) hits++; else misses++;
                if (inline[j]) onCaller++;
                var st = sync.Get(Key(ids[j]), single, out int len);
                Assert.Equal(st, r.Status);
                Assert.Equal(len, r.ValueLength);
                Assert.True(single.AsSpan(0, len).SequenceEqual(buffers[j].AsSpan(0, r.ValueLength)), $"value of key {ids[j]}");
                if (ids[j] >= 1000) Assert.Equal(OpStatus.NotFound, r.Status);
                else Assert.True(Value(ids[j], 0).AsSpan().SequenceEqual(buffers[j].AsSpan(0, r.ValueLength)));
            }
        }
        Assert.True(hits > 0 && misses > 0, $"{hits} hits, {misses} misses");
        var counters = store.ReadCounters().Clients;
        if (hitsOnCaller) Assert.True(onCaller > 0 && counters.BatchedGets < 40 * 64, $"{counters.BatchedGets} batched GETs: no hit completed on the caller's thread");
        else Assert.True(counters.BatchedGets >= 40 * 64, $"{counters.BatchedGets} batched GETs");
        Assert.True(counters.BatchedGets >= 2 * counters.Batches, $"{counters.BatchedGets} GETs in {counters.Batches} batches: concurrent GETs must share batches");
    }

    [Fact]
    public void Many_callers_on_many_threads_share_one_client()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4000, CacheBuckets = 8 });
        using var client = store.OpenAsyncClient();
        const int threads = 4, keysPerThread = 50, rounds = 6;
        var errors = new List<string>();
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                var buffers = new byte[keysPerThread][];
                for (int i = 0; i < keysPerThread; i++) buffers[i] = new byte[client.Layout.ValueCapacity];
                var puts = new ValueTask<OpStatus>[keysPerThread];
                var gets = new ValueTask<ScalioGetResult>[keysPerThread];
                for (int round = 0; round < rounds; round++)
                {
                    for (int i = 0; i < keysPerThread; i++) puts[i] = client.PutAsync(Key(id * 1000 + i), Value(id * 1000 + i, round));
                    for (int i = 0; i < keysPerThread; i++) if (Wait(puts[i]) != OpStatus.Ok) lock (errors) errors.Add($"put {id}/{i}");
                    for (int i = 0; i < keysPerThread; i++) gets[i] = client.GetAsync(Key(id * 1000 + i), buffers[i]);
                    for (int i = 0; i < keysPerThread; i++)
                    {
                        var r = Wait(gets[i]);
                        if (r.Status != OpStatus.Ok || !buffers[i].AsSpan(0, r.ValueLength).SequenceEqual(Value(id * 1000 + i, round)))
                            lock (errors) errors.Add($"get {id}/{i} round {round}: {r}");
                    }
                }
                for (int i = 0; i < keysPerThread; i += 2) if (Wait(client.DeleteAsync(Key(id * 1000 + i))) != OpStatus.Ok) lock (errors) errors.Add($"delete {id}/{i}");
                for (int i = 0; i < keysPerThread; i++)
                {
                    var r = Wait(client.GetAsync(Key(id * 1000 + i), buffers[i]));
                    if (r.Status != (i % 2 == 0 ? OpStatus.NotFound : OpStatus.Ok)) lock (errors) errors.Add($"after delete {id}/{i}: {r}");
                }
            });
        }
        foreach (var w in workers) w.Start();
        foreach (var w in workers) Assert.True(w.Join(TimeSpan.FromSeconds(120)));
        Assert.Empty(errors);
    }

    [Fact]
    public void A_get_queued_after_a_put_from_the_same_caller_sees_it()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, CacheBuckets = 2 });
        using var client = store.OpenAsyncClient();
        var buffer = new byte[client.Layout.ValueCapacity];
        for (int round = 0; round < 200; round++)
        {
            var put = client.PutAsync(Key(round % 7), Value(round, round)); // not awaited before the GET is queued
            var get = client.GetAsync(Key(round % 7), buffer);
            Assert.Equal(OpStatus.Ok, Wait(put));
            var r = Wait(get);
            Assert.Equal(OpStatus.Ok, r.Status);
            Assert.True(buffer.AsSpan(0, r.ValueLength).SequenceEqual(Value(round, round)));
        }
    }

    [Fact]
    public void Oversized_keys_and_values_and_short_buffers_throw_at_the_call_and_queue_nothing()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000 });
        using var client = store.OpenAsyncClient();
        var layout = client.Layout;
        var big = new byte[layout.KeyCapacity + 1];
        var buffer = new byte[layout.ValueCapacity];
        Assert.Throws<ArgumentException>(() => client.GetAsync(big, buffer));
        Assert.Throws<ArgumentException>(() => client.GetAsync(ReadOnlyMemory<byte>.Empty, buffer));
        Assert.Throws<ArgumentException>(() => client.GetAsync(Key(1), new byte[layout.ValueCapacity - 1]));
        Assert.Throws<ArgumentException>(() => client.PutAsync(big, new byte[1]));
        Assert.Throws<ArgumentException>(() => client.PutAsync(Key(1), new byte[layout.ValueCapacity + 1]));
        Assert.Throws<ArgumentException>(() => client.DeleteAsync(big));
        var c = store.ReadCounters().Clients;
        Assert.Equal(0, c.Gets + c.Writes);
        Assert.Equal(OpStatus.NotFound, Wait(client.GetAsync(Key(1), buffer)).Status); // still serving
    }

    [Fact]
    public void A_hit_completes_while_a_miss_of_its_batch_is_still_reading_the_ssd()
    {
        using var store = SlowStore(TimeSpan.FromMilliseconds(300), 8);
        using (var sync = store.OpenClient())
        {
            store.BypassSsdModel(true);
            Assert.Equal(OpStatus.Ok, sync.Get(Key(0), new byte[sync.Layout.ValueCapacity], out _)); // key 0 cached
            store.BypassSsdModel(false);
        }
        using var client = store.OpenAsyncClient();
        var buffers = new[] { new byte[client.Layout.ValueCapacity], new byte[client.Layout.ValueCapacity], new byte[client.Layout.ValueCapacity] };
        long gets = store.ReadCounters().Clients.Gets;
        var first = client.GetAsync(Key(1), buffers[0]); // a miss: 300 ms on the pump
        WaitForGets(store, gets + 1);
        var miss = client.GetAsync(Key(2), buffers[1]); // these two queue behind it and run as one batch
        var hit = client.GetAsync(Key(0), buffers[2]);
        var sw = Stopwatch.StartNew();
        while (!hit.IsCompleted) // polled, not awaited: a continuation may wait for a busy thread pool
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), "the hit never completed");
            Thread.SpinWait(100);
        }
        Assert.False(miss.IsCompleted, "the hit waited for its batch's SSD read");
        var h = Wait(hit);
        Assert.True(h.Hit);
        Assert.True(buffers[2].AsSpan(0, h.ValueLength).SequenceEqual(Value(0, 0)));
        Assert.Equal(OpStatus.Ok, Wait(first).Status);
        var m = Wait(miss);
        Assert.False(m.Hit);
        Assert.True(buffers[1].AsSpan(0, m.ValueLength).SequenceEqual(Value(2, 0)));
        Assert.Equal(gets + 3, store.ReadCounters().Clients.Gets);
    }

    [Fact]
    public void A_canceled_token_before_pickup_completes_at_once_without_touching_the_store()
    {
        using var store = SlowStore(TimeSpan.FromMilliseconds(400), 20);
        using var client = store.OpenAsyncClient();
        var buffer = new byte[client.Layout.ValueCapacity];
        Assert.True(client.GetAsync(Key(1), buffer, new CancellationToken(true)).IsCanceled);
        long gets = store.ReadCounters().Clients.Gets;
        var slow = client.GetAsync(Key(1), new byte[client.Layout.ValueCapacity]); // a miss: 400 ms on the pump
        WaitForGets(store, gets + 1);
        using var cts = new CancellationTokenSource();
        var queuedGet = client.GetAsync(Key(2), buffer, cts.Token);
        var queuedPut = client.PutAsync(Key(3), Value(3, 1), cts.Token);
        cts.Cancel();
        Assert.True(queuedGet.IsCanceled, "a queued GET completes when its token is cancelled");
        Assert.True(queuedPut.IsCanceled, "a queued PUT completes when its token is cancelled");
        Assert.False(slow.IsCompleted, "the batch ahead of them is still running");
        Assert.Equal(OpStatus.Ok, Wait(slow).Status);
        Assert.Equal(OpStatus.Ok, Wait(client.DeleteAsync(Key(4)))); // the pump went on past the canceled ops
        var c = store.ReadCounters().Clients;
        Assert.Equal(gets + 1, c.Gets); // the canceled GET never ran
        using var sync = store.OpenClient();
        store.BypassSsdModel(true);
        Assert.Equal(OpStatus.Ok, sync.Get(Key(3), buffer, out int len));
        Assert.True(buffer.AsSpan(0, len).SequenceEqual(Value(3, 0)), "the canceled PUT was not applied");
    }

    [Fact]
    public void A_get_canceled_inside_its_batch_finishes_the_fill_and_reports_canceled()
    {
        using var store = SlowStore(TimeSpan.FromMilliseconds(300), 20);
        using var client = store.OpenAsyncClient();
        var buffer = new byte[client.Layout.ValueCapacity];
        long gets = store.ReadCounters().Clients.Gets;
        long fills = store.ReadCounters().Clients.Fills;
        using var cts = new CancellationTokenSource();
        var started = Stopwatch.StartNew();
        var get = client.GetAsync(Key(7), buffer, cts.Token);
        WaitForGets(store, gets + 1);
        cts.Cancel();
        Assert.False(get.IsCompleted, "a GET inside a batch runs to the end of its protocol");
        Assert.ThrowsAny<OperationCanceledException>(() => Wait(get));
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(250), $"completed after {started.Elapsed.TotalMilliseconds:F0} ms, before its SSD read");
        Assert.Equal(fills + 1, store.ReadCounters().Clients.Fills); // the fill was published, not abandoned
        // The slot is VALID (no FILLING left behind): the next GET of the key is a hit.
        var r = Wait(client.GetAsync(Key(7), buffer));
        Assert.Equal(OpStatus.Ok, r.Status);
        Assert.True(r.Hit, "the canceled GET's fill must have been published");
        Assert.True(buffer.AsSpan(0, r.ValueLength).SequenceEqual(Value(7, 0)));
    }

    [Fact]
    public void Dispose_waits_for_the_running_batch_and_fails_queued_operations()
    {
        using var store = SlowStore(TimeSpan.FromMilliseconds(500), 20);
        var client = store.OpenAsyncClient();
        var buffer = new byte[client.Layout.ValueCapacity];
        long gets = store.ReadCounters().Clients.Gets;
        var running = client.GetAsync(Key(1), new byte[client.Layout.ValueCapacity]);
        WaitForGets(store, gets + 1);
        var queuedGet = client.GetAsync(Key(2), buffer);
        var queuedPut = client.PutAsync(Key(3), Value(3, 1));
        var sw = Stopwatch.StartNew();
        client.Dispose();
        Assert.True(running.IsCompleted, "Dispose returns after the running batch");
        Assert.Equal(OpStatus.Ok, Wait(running).Status);
        Assert.Throws<ObjectDisposedException>(() => Wait(queuedGet));
        Assert.Throws<ObjectDisposedException>(() => Wait(queuedPut));
        Assert.Throws<ObjectDisposedException>(() => client.GetAsync(Key(2), buffer));
        Assert.Equal(gets + 1, store.ReadCounters().Clients.Gets);
        client.Dispose(); // twice is fine
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Async_gets_beside_writers_on_a_tiny_cache_are_linearizable(int seed)
    {
        const int callers = 4, keys = 6, rounds = 300, width = 4;
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, CacheBuckets = 1 });
        // Two async clients (two sessions), each shared by two caller threads.
        using var a = store.OpenAsyncClient();
        using var b = store.OpenAsyncClient();
        var recorder = new HistoryRecorder(callers * (1 + width), rounds + 8, 64);
        var errors = new List<Exception>();
        var threads = new Thread[callers];
        for (int t = 0; t < callers; t++)
        {
            int id = t;
            threads[t] = new Thread(() =>
            {
                try
                {
                    var client = id % 2 == 0 ? a : b;
                    var rnd = new Random(seed * 100 + id);
                    var writes = recorder.Client(id * (1 + width));
                    var handles = new int[width];
                    var tasks = new ValueTask<ScalioGetResult>[width];
                    var buffers = new byte[width][];
                    for (int j = 0; j < width; j++) buffers[j] = new byte[client.Layout.ValueCapacity];
                    for (int i = 0; i < rounds; i++)
                    {
                        var key = Encoding.ASCII.GetBytes($"key{rnd.Next(keys)}");
                        if (rnd.Next(100) < 50)
                        {
                            for (int j = 0; j < width; j++)
                            {
                                var k = Encoding.ASCII.GetBytes($"key{rnd.Next(keys)}");
                                handles[j] = recorder.Client(id * (1 + width) + 1 + j).BeginGet(k);
                                tasks[j] = client.GetAsync(k, buffers[j]);
                            }
                            for (int j = 0; j < width; j++)
                            {
                                var r = Wait(tasks[j]);
                                var rec = recorder.Client(id * (1 + width) + 1 + j);
                                if (r.Status == OpStatus.Ok) rec.CompleteGet(handles[j], buffers[j].AsSpan(0, r.ValueLength));
                                else if (r.Status == OpStatus.NotFound) rec.CompleteGetNotFound(handles[j]);
                                else throw new InvalidOperationException($"GET failed: {r.Status}");
                            }
                        }
                        else if (rnd.Next(10) == 0)
                        {
                            int h = writes.BeginDelete(key);
                            if (Wait(client.DeleteAsync(key)) != OpStatus.Ok) throw new InvalidOperationException("DELETE failed");
                            writes.Complete(h);
                        }
                        else
                        {
                            var v = Encoding.ASCII.GetBytes($"c{id}-{i}");
                            int h = writes.BeginPut(key, v);
                            if (Wait(client.PutAsync(key, v)) != OpStatus.Ok) throw new InvalidOperationException("PUT failed");
                            writes.Complete(h);
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
        foreach (var th in threads) Assert.True(th.Join(TimeSpan.FromSeconds(120)));
        Assert.Empty(errors);
        var result = LinearizabilityChecker.Check(recorder.ToOperations());
        Assert.True(result.Verdict == Verdict.Linearizable, result.Format());
        var c = store.ReadCounters().Clients;
        Assert.True(c.Fills > 0, "the run must fill");
        Assert.True(c.BatchedGets > c.Batches, "some GETs must share a batch");
    }
}
