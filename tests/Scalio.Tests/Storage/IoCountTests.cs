using Xunit.Abstractions;
using Scalio.Fast;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Storage;

/// <summary>SSD I/O per operation, measured from the namespaces' own command counters.</summary>
public class IoCountTests(ITestOutputHelper output)
{
    private static (long puts, long writes) ConcurrentPuts(ScalioStore store, int threads, int putsPerThread)
    {
        var clients = new Fast.Client.ScalioClient[threads];
        for (int t = 0; t < threads; t++) clients[t] = store.OpenClient();
        long before = DeviceWrites(store);
        var failures = new int[threads];
        using var start = new ManualResetEventSlim();
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                start.Wait();
                for (int i = 0; i < putsPerThread; i++)
                    if (clients[id].Put(Key($"t{id}-k{i}"), Value($"v{id}-{i}")) != OpStatus.Ok) failures[id]++;
            });
            workers[t].Start();
        }
        start.Set();
        foreach (var w in workers) Assert.True(w.Join(TimeSpan.FromSeconds(60)), "writer thread stuck");
        Assert.All(failures, f => Assert.Equal(0, f));
        long writes = DeviceWrites(store) - before;
        // Every acknowledged value reads back.
        var buf = new byte[64];
        for (int t = 0; t < threads; t += 3)
            for (int i = 0; i < putsPerThread; i += 7)
            {
                Assert.Equal(OpStatus.Ok, clients[0].Get(Key($"t{t}-k{i}"), buf, out _));
                Assert.Equal($"v{t}-{i}", Text(buf));
            }
        return ((long)threads * putsPerThread, writes);
    }

    [Fact]
    public void Batch_of_8_with_concurrent_writers_costs_at_most_0_3_SSD_writes_per_put()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 20_000, CacheBuckets = 16, BatchSize = 8,
            // A writer descheduled past the default 30 us grace (the suite loads both cores) would split batches: this
            // test is about what a full batch costs, so writers get time to join.
            BatchDrainGrace = TimeSpan.FromMilliseconds(5), BatchIdleTimeout = TimeSpan.FromMilliseconds(20) });
        var (puts, writes) = ConcurrentPuts(store, threads: 16, putsPerThread: 150);
        double perPut = (double)writes / puts;
        output.WriteLine($"batch 8, 16 writers: {writes} SSD writes / {puts} PUTs = {perPut:F3}; {store.Server.BatchesCommitted} batches");
        Assert.True(perPut <= 0.3, $"{writes} SSD writes for {puts} PUTs = {perPut:F3} per PUT");
        Assert.True(store.Server.BatchesCommitted < puts / 3, $"{store.Server.BatchesCommitted} batches for {puts} PUTs");
    }

    [Fact]
    public void Unbatched_put_costs_at_most_2_SSD_writes()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 20_000, CacheBuckets = 16, BatchSize = 1 });
        var (puts, writes) = ConcurrentPuts(store, threads: 4, putsPerThread: 100);
        double perPut = (double)writes / puts;
        output.WriteLine($"batch 1, 4 writers: {writes} SSD writes / {puts} PUTs = {perPut:F3}");
        Assert.True(perPut is >= 0.9 and <= 2.0, $"{writes} SSD writes for {puts} PUTs = {perPut:F3} per PUT");
    }

    [Fact]
    public void Two_workers_and_two_SSDs_commit_every_write()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 20_000, CacheBuckets = 16, Devices = 2, ServerWorkers = 2 });
        var (puts, writes) = ConcurrentPuts(store, threads: 8, putsPerThread: 100);
        output.WriteLine($"2 workers, 2 SSDs, 8 writers: {writes} SSD writes / {puts} PUTs");
        Assert.True(writes < puts, $"{writes} writes for {puts} PUTs: nothing was batched");
    }

    [Fact]
    public void Rewriting_a_recently_written_bucket_reads_its_block_from_the_server_cache_not_the_SSD()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 5_000, CacheBuckets = 1, BatchSize = 1 });
        using var c = store.OpenClient();
        for (int i = 0; i < 8; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"hot{i}"), Value("first")));
        long reads = store.Server.SsdReads, hits = store.Server.Store.Logs[0].BlockCacheHits;
        const int puts = 400;
        for (int i = 0; i < puts; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"hot{i % 8}"), Value($"v{i}")));
        long serverReads = store.Server.SsdReads - reads;
        output.WriteLine($"{serverReads} server SSD reads for {puts} PUTs of 8 hot keys; {store.Server.Store.Logs[0].BlockCacheHits - hits} cached blocks used");
        Assert.Equal(0, serverReads); // without the cache: one read-modify-write read per PUT
        var buf = new byte[64];
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key($"hot{i}"), buf, out _));
            Assert.Equal($"v{puts - 8 + i}", Text(buf));
        }
    }

    [Fact]
    public void A_miss_on_an_inline_value_is_exactly_one_SSD_read()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 5_000, CacheBuckets = 1 });
        using var c = store.OpenClient();
        for (int i = 0; i < 300; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"m{i}"), Value($"x{i}")));
        var buf = new byte[64];
        long reads = DeviceReads(store), gets = c.Counters.Gets, hits = c.Counters.Hits;
        for (int i = 0; i < 300; i++)
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key($"m{i}"), buf, out _));
            Assert.Equal($"x{i}", Text(buf));
        }
        long misses = c.Counters.Gets - gets - (c.Counters.Hits - hits);
        Assert.True(misses >= 250, $"only {misses} misses: the cache should be far too small for 300 keys");
        output.WriteLine($"{DeviceReads(store) - reads} SSD reads / {misses} misses");
        Assert.Equal(misses, DeviceReads(store) - reads);
    }
}
