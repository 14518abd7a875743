using System.Buffers.Binary;
using Xunit.Abstractions;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Fast.Storage;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Storage;

/// <summary>Large records in the value log: reads per miss, updates and deletes, corruption, the cleaner under readers,
/// recovery and a full device.</summary>
public class ValueLogTests(ITestOutputHelper output)
{
    /// <summary>16-byte keys, values up to 4096 bytes: every full-size record goes to the value log.</summary>
    private static readonly SlotLayout Large = new(16, 4096, 4);

    /// <summary>A value of <paramref name="length"/> bytes that names its key and version and is checkable byte by byte.</summary>
    internal static byte[] BigValue(string key, int version, int length)
    {
        var v = new byte[length];
        uint seed = (uint)key.GetHashCode(StringComparison.Ordinal) * 2654435761u + (uint)version * 40503u;
        for (int i = 0; i < length; i++) v[i] = (byte)((seed >> (i % 24)) + (uint)i * 7u);
        if (length >= 8)
        {
            BinaryPrimitives.WriteInt32LittleEndian(v, version);
            BinaryPrimitives.WriteInt32LittleEndian(v.AsSpan(4), length);
        }
        return v;
    }

    /// <summary>Version of a value made by <see cref="BigValue"/> for <paramref name="key"/>, or -1 when it is not one.</summary>
    internal static int VersionOf(string key, ReadOnlySpan<byte> value)
    {
        if (value.Length < 8) return -1;
        int version = BinaryPrimitives.ReadInt32LittleEndian(value);
        int length = BinaryPrimitives.ReadInt32LittleEndian(value[4..]);
        if (length != value.Length || version < 0) return -1;
        return value.SequenceEqual(BigValue(key, version, length)) ? version : -1;
    }

    private static long Misses(ScalioClient c, long gets, long hits) => c.Counters.Gets - gets - (c.Counters.Hits - hits);

    [Fact]
    public void The_inline_rule_and_the_schema_check()
    {
        Assert.Equal(1016, BucketBlock.InlineLimit(4096));
        Assert.True(BucketBlock.IsInline(16, 996, 4096));
        Assert.False(BucketBlock.IsInline(16, 997, 4096));
        Assert.Equal(0, ValueRecord.MaxPages(16, 64, 4096));
        Assert.Equal(2, ValueRecord.MaxPages(16, 4096, 4096));
        Assert.Equal(2, ValueRecord.MaxPages(256, 4096, 4096));
        new Fast.Server.ScalioServerOptions { Layout = new SlotLayout(256, 4096, 4) }.Validate(); // the generator's limits
        Assert.Throws<ArgumentException>(() => new Fast.Server.ScalioServerOptions { Layout = new SlotLayout(4096, 4096, 1) }.Validate());
    }

    [Fact]
    public void Values_of_4096_bytes_store_read_update_delete_with_two_SSD_reads_per_miss()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { Layout = Large, ExpectedRecords = 400, CacheBuckets = 1 });
        using var c = store.OpenClient();
        const int keys = 120;
        for (int i = 0; i < keys; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"big{i}"), BigValue($"big{i}", 1, 4096)));
        Assert.True(store.Server.Store.Logs[0].ValueRecords >= keys);
        var buf = new byte[4096];

        long reads = DeviceReads(store), gets = c.Counters.Gets, hits = c.Counters.Hits, vreads = c.Counters.ValueLogReads;
        long serverReads = store.Server.SsdReads, offloaded = store.OffloadTarget.Commands;
        for (int i = 0; i < keys; i++)
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key($"big{i}"), buf, out int n));
            Assert.Equal(1, VersionOf($"big{i}", buf.AsSpan(0, n)));
        }
        long misses = Misses(c, gets, hits);
        long ssdReads = DeviceReads(store) - reads;
        output.WriteLine($"{ssdReads} SSD reads / {misses} misses of 4096-byte values; {c.Counters.ValueLogReads - vreads} value-log reads");
        Assert.True(misses >= 100, $"only {misses} misses");
        Assert.Equal(2 * misses, ssdReads);
        Assert.Equal(misses, c.Counters.ValueLogReads - vreads);
        Assert.Equal(serverReads, store.Server.SsdReads); // both reads by the offload target, none by the server CPU
        Assert.Equal(2 * misses, store.OffloadTarget.Commands - offloaded);

        // Update (new sizes, some small enough to go inline) and delete.
        for (int i = 0; i < keys; i++)
        {
            int length = i % 3 == 0 ? 100 : 4096 - i;
            if (i % 5 == 0) Assert.Equal(OpStatus.Ok, c.Delete(Key($"big{i}")));
            else Assert.Equal(OpStatus.Ok, c.Put(Key($"big{i}"), BigValue($"big{i}", 2, length)));
        }
        for (int i = 0; i < keys; i++)
        {
            var st = c.Get(Key($"big{i}"), buf, out int n);
            if (i % 5 == 0) { Assert.Equal(OpStatus.NotFound, st); continue; }
            Assert.Equal(OpStatus.Ok, st);
            Assert.Equal(i % 3 == 0 ? 100 : 4096 - i, n);
            Assert.Equal(2, VersionOf($"big{i}", buf.AsSpan(0, n)));
        }
    }

    [Fact]
    public void Large_puts_batch_of_8_with_16_writers_cost_at_most_0_3_SSD_writes_per_put()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { Layout = Large, ExpectedRecords = 2_000, CacheBuckets = 4, BatchSize = 8,
            // A writer descheduled past the default 30 us grace (the suite loads both cores) would split batches: this
            // test is about what a full batch costs, so writers get time to join.
            BatchDrainGrace = TimeSpan.FromMilliseconds(5), BatchIdleTimeout = TimeSpan.FromMilliseconds(20) });
        const int threads = 16, each = 40;
        var clients = new ScalioClient[threads];
        for (int t = 0; t < threads; t++) clients[t] = store.OpenClient();
        long before = DeviceWrites(store);
        var failures = new int[threads];
        var workers = new Thread[threads];
        using var go = new ManualResetEventSlim();
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                go.Wait();
                for (int i = 0; i < each; i++) if (clients[id].Put(Key($"w{id}-{i}"), BigValue($"w{id}-{i}", i, 4096)) != OpStatus.Ok) failures[id]++;
            });
            workers[t].Start();
        }
        go.Set();
        foreach (var w in workers) Assert.True(w.Join(TimeSpan.FromSeconds(60)));
        Assert.All(failures, f => Assert.Equal(0, f));
        long writes = DeviceWrites(store) - before;
        double perPut = (double)writes / (threads * each);
        output.WriteLine($"4096-byte values, batch 8, 16 writers: {writes} SSD writes / {threads * each} PUTs = {perPut:F3}");
        Assert.True(perPut <= 0.3, $"{perPut:F3} SSD writes per PUT");
        var buf = new byte[4096];
        for (int t = 0; t < threads; t += 5)
            for (int i = 0; i < each; i += 7)
            {
                Assert.Equal(OpStatus.Ok, clients[0].Get(Key($"w{t}-{i}"), buf, out int n));
                Assert.Equal(i, VersionOf($"w{t}-{i}", buf.AsSpan(0, n)));
            }
    }

    [Fact]
    public void Mixed_sizes_around_the_inline_limit_cost_one_read_inline_and_two_in_the_value_log()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { Layout = new SlotLayout(16, 2048, 4), ExpectedRecords = 600, CacheBuckets = 1 });
        using var c = store.OpenClient();
        // Keys are 6 bytes ("mixNN" + digit), so the inline limit of 1016 B is a value of 1006 B.
        int limitValue = BucketBlock.InlineLimit(4096) - BucketBlock.RecordHeaderSize - 6;
        int[] lengths = [0, 1, limitValue - 1, limitValue, limitValue + 1, limitValue + 2, 2047, 2048];
        var buf = new byte[2048];
        for (int round = 0; round < 2; round++)
        {
            for (int i = 0; i < 80; i++)
            {
                string key = $"mix{i:D2}x";
                int length = lengths[(i + round) % lengths.Length];
                Assert.Equal(OpStatus.Ok, c.Put(Key(key), BigValue(key, round, length)));
            }
            long inlineMisses = 0, largeMisses = 0, inlineReads = 0, largeReads = 0;
            for (int i = 0; i < 80; i++)
            {
                string key = $"mix{i:D2}x";
                int length = lengths[(i + round) % lengths.Length];
                long reads = DeviceReads(store), gets = c.Counters.Gets, hits = c.Counters.Hits;
                Assert.Equal(OpStatus.Ok, c.Get(Key(key), buf, out int n));
                Assert.Equal(length, n);
                if (length >= 8) Assert.Equal(round, VersionOf(key, buf.AsSpan(0, n)));
                else Assert.True(buf.AsSpan(0, n).SequenceEqual(BigValue(key, round, length)));
                if (Misses(c, gets, hits) != 1) continue;
                if (BucketBlock.IsInline(key.Length, length, 4096)) { inlineMisses++; inlineReads += DeviceReads(store) - reads; }
                else { largeMisses++; largeReads += DeviceReads(store) - reads; }
            }
            output.WriteLine($"round {round}: inline {inlineReads} reads / {inlineMisses} misses, value log {largeReads} reads / {largeMisses} misses");
            Assert.True(inlineMisses >= 20 && largeMisses >= 20);
            Assert.Equal(inlineMisses, inlineReads);
            Assert.Equal(2 * largeMisses, largeReads);
        }
        // Deletes of inline and value-log records alike.
        for (int i = 0; i < 80; i += 3) Assert.Equal(OpStatus.Ok, c.Delete(Key($"mix{i:D2}x")));
        for (int i = 0; i < 80; i++)
        {
            string key = $"mix{i:D2}x";
            var st = c.Get(Key(key), buf, out int n);
            if (i % 3 == 0) { Assert.Equal(OpStatus.NotFound, st); continue; }
            Assert.Equal(OpStatus.Ok, st);
            Assert.True(buf.AsSpan(0, n).SequenceEqual(BigValue(key, 1, lengths[(i + 1) % lengths.Length])));
        }
    }

    [Fact]
    public void A_flipped_byte_in_a_value_record_reads_as_Corrupt_never_as_data()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { Layout = Large, ExpectedRecords = 100, CacheBuckets = 1 });
        using var c = store.OpenClient();
        for (int i = 0; i < 20; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"f{i}"), BigValue($"f{i}", 7, 4096)));
        var ssd = store.Server.Store;
        byte[] victim = Key("f3");
        var hash = new KeyHash(victim);
        int bucket = hash.SsdBucket(ssd.BucketCount);
        var loc = ssd.LocationOf(bucket);
        var device = store.Server.Devices[loc.Device];
        var block = new byte[4096];
        Assert.True(device.Read(ssd.LbaOf(loc.Device, loc.Page), ssd.LbasPerPage(loc.Device), block).IsSuccess);
        Assert.Equal(BlockLookup.Indirect, BucketBlock.Find(block, (uint)bucket, loc.Sequence, victim, out var pointerBytes));
        var ptr = ValuePointer.Read(pointerBytes);
        Assert.Equal(2, ptr.Pages); // 4096 B + header and key: two pages
        var record = new byte[ptr.Pages * 4096];
        Assert.True(device.Read(ssd.LbaOf(loc.Device, ptr.Page), ptr.Pages * ssd.LbasPerPage(loc.Device), record).IsSuccess);
        record[ValueRecord.HeaderSize + victim.Length + 1234] ^= 0x20;
        Assert.True(device.Write(ssd.LbaOf(loc.Device, ptr.Page), ptr.Pages * ssd.LbasPerPage(loc.Device), record, fua: true).IsSuccess);

        var buf = new byte[4096];
        Assert.Equal(OpStatus.Corrupt, c.Get(victim, buf, out _));
        Assert.Equal(OpStatus.Corrupt, ssd.Read(in hash, victim, new byte[4096], out _)); // the server-side (LEED) read too
        for (int i = 0; i < 20; i++)
        {
            if (i == 3) continue;
            Assert.Equal(OpStatus.Ok, c.Get(Key($"f{i}"), buf, out int n));
            Assert.Equal(7, VersionOf($"f{i}", buf.AsSpan(0, n)));
        }
        // Overwriting the key replaces the damaged record.
        Assert.Equal(OpStatus.Ok, c.Put(victim, BigValue("f3", 8, 4096)));
        Assert.Equal(OpStatus.Ok, c.Get(victim, buf, out int m));
        Assert.Equal(8, VersionOf("f3", buf.AsSpan(0, m)));
    }

    [Fact]
    public void The_cleaner_meeting_a_damaged_value_record_marks_it_lost_and_the_key_reads_Corrupt()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { Layout = Large, ExpectedRecords = 60, CacheBuckets = 1, BatchSize = 1 });
        using var c = store.OpenClient();
        for (int i = 0; i < 20; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"d{i}"), BigValue($"d{i}", 1, 4096)));
        var ssd = store.Server.Store;
        byte[] victim = Key("d5");
        int bucket = new KeyHash(victim).SsdBucket(ssd.BucketCount);
        var loc = ssd.LocationOf(bucket);
        var device = store.Server.Devices[loc.Device];
        var block = new byte[4096];
        Assert.True(device.Read(ssd.LbaOf(loc.Device, loc.Page), ssd.LbasPerPage(loc.Device), block).IsSuccess);
        Assert.Equal(BlockLookup.Indirect, BucketBlock.Find(block, (uint)bucket, loc.Sequence, victim, out var pointerBytes));
        var ptr = ValuePointer.Read(pointerBytes);
        var page = new byte[4096];
        Assert.True(device.Read(ssd.LbaOf(loc.Device, ptr.Page + 1), ssd.LbasPerPage(loc.Device), page).IsSuccess);
        page[10] ^= 0x01; // in the value's tail on its second page (the record uses 34 bytes of it)
        Assert.True(device.Write(ssd.LbaOf(loc.Device, ptr.Page + 1), ssd.LbasPerPage(loc.Device), page, fua: true).IsSuccess);

        // Lap the log twice with other keys: the cleaner reaches the damaged record and cannot move it.
        var log = ssd.Logs[0];
        long target = log.PagesWritten + 2 * log.LogPages;
        for (int v = 2; log.PagesWritten < target; v++) Assert.Equal(OpStatus.Ok, c.Put(Key($"d{v % 3}"), BigValue($"d{v % 3}", v, 4096)));
        Assert.True(store.Server.CorruptBlocks >= 1);
        var buf = new byte[4096];
        Assert.Equal(OpStatus.Corrupt, c.Get(victim, buf, out _));
        for (int i = 3; i < 20; i++)
        {
            if (i == 5) continue;
            Assert.Equal(OpStatus.Ok, c.Get(Key($"d{i}"), buf, out int n));
            Assert.Equal(1, VersionOf($"d{i}", buf.AsSpan(0, n)));
        }
        Assert.Equal(OpStatus.Ok, c.Put(victim, BigValue("d5", 9, 4096))); // a new value replaces the lost one
        Assert.Equal(OpStatus.Ok, c.Get(victim, buf, out int m));
        Assert.Equal(9, VersionOf("d5", buf.AsSpan(0, m)));
    }

    [Fact]
    public void The_cleaner_moving_value_records_under_concurrent_readers_never_yields_a_wrong_value()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { Layout = Large, ExpectedRecords = 60, CacheBuckets = 1, BatchSize = 4 });
        const int stable = 30, hot = 4;
        var latest = new int[hot]; // last acknowledged version of each hot key
        using (var c = store.OpenClient())
        {
            for (int i = 0; i < stable; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"s{i}"), BigValue($"s{i}", 1, 3000 + i)));
            for (int h = 0; h < hot; h++) Assert.Equal(OpStatus.Ok, c.Put(Key($"h{h}"), BigValue($"h{h}", 0, 4096)));
        }
        var log = store.Server.Store.Logs[0];
        long logPages = log.LogPages;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        long reads = 0, retries = 0;
        bool writerDone = false;
        var writer = new Thread(() =>
        {
            using var c = store.OpenClient();
            // Overwrite the hot keys until the log has lapped three times: every stable record gets moved.
            for (int v = 1; log.PagesWritten < 3 * logPages + 50 && !stop.IsCancellationRequested; v++)
            {
                int h = v % hot;
                var st = c.Put(Key($"h{h}"), BigValue($"h{h}", v, 4096 - (v % 500)));
                if (st != OpStatus.Ok) { errors.Enqueue($"put h{h} v{v}: {st}"); break; }
                Volatile.Write(ref latest[h], v);
            }
            Volatile.Write(ref writerDone, true);
        });
        var readers = new Thread[2];
        for (int r = 0; r < readers.Length; r++)
        {
            int id = r;
            readers[r] = new Thread(() =>
            {
                using var c = store.OpenClient();
                var buf = new byte[4096];
                var rnd = new Random(id);
                while (!Volatile.Read(ref writerDone) && !stop.IsCancellationRequested)
                {
                    if (rnd.Next(3) == 0)
                    {
                        int h = rnd.Next(hot);
                        int before = Volatile.Read(ref latest[h]);
                        var st = c.Get(Key($"h{h}"), buf, out int n);
                        int version = st == OpStatus.Ok ? VersionOf($"h{h}", buf.AsSpan(0, n)) : -1;
                        if (version < before) errors.Enqueue($"h{h}: {st}, version {version}, acknowledged {before} before the read");
                    }
                    else
                    {
                        int i = rnd.Next(stable);
                        var st = c.Get(Key($"s{i}"), buf, out int n);
                        if (st != OpStatus.Ok || n != 3000 + i || VersionOf($"s{i}", buf.AsSpan(0, n)) != 1) errors.Enqueue($"s{i}: {st}, {n} bytes");
                    }
                    Interlocked.Increment(ref reads);
                }
                lock (errors) retries += c.Counters.ValueLogRetries;
            });
            readers[r].Start();
        }
        writer.Start();
        Assert.True(writer.Join(TimeSpan.FromSeconds(30)));
        foreach (var t in readers) Assert.True(t.Join(TimeSpan.FromSeconds(10)));
        output.WriteLine($"{reads} reads; {log.ValueMoves} value records and {log.Relocations} blocks moved; {retries} value-log retries; {log.PagesWritten} pages written of a {logPages}-page log");
        Assert.True(errors.IsEmpty, string.Join("\n", errors.Take(10)));
        Assert.True(log.PagesWritten >= 3 * logPages, "the log did not lap three times in time");
        Assert.True(log.ValueMoves >= stable, $"the cleaner moved only {log.ValueMoves} value records");
        Assert.True(reads > 100);
    }

    [Fact]
    public void Large_values_survive_reopen_after_cleaning()
    {
        using var dir = new TempDir();
        var options = new ScalioStoreOptions { Layout = Large, ExpectedRecords = 60, CacheBuckets = 1, BatchSize = 2, DataDirectory = dir.Path };
        var expected = new Dictionary<string, int>();
        using (var store = new ScalioStore(options))
        {
            using var c = store.OpenClient();
            for (int i = 0; i < 40; i++) { Assert.Equal(OpStatus.Ok, c.Put(Key($"r{i}"), BigValue($"r{i}", 1, 4096))); expected[$"r{i}"] = 1; }
            long logPages = store.Server.Store.Logs[0].LogPages;
            // A reader that read r20's block (and so its pointer) now, and its value record only after the laps below.
            var ssd = store.Server.Store;
            byte[] stableKey = Key("r20");
            int bucket = new KeyHash(stableKey).SsdBucket(ssd.BucketCount);
            var oldLocation = ssd.LocationOf(bucket);
            var block = new byte[4096];
            var device = store.Server.Devices[oldLocation.Device];
            Assert.True(device.Read(ssd.LbaOf(oldLocation.Device, oldLocation.Page), ssd.LbasPerPage(oldLocation.Device), block).IsSuccess);
            Assert.Equal(BlockLookup.Indirect, BucketBlock.Find(block, (uint)bucket, oldLocation.Sequence, stableKey, out var pointerBytes));
            var oldPointer = ValuePointer.Read(pointerBytes);
            for (int v = 2; store.Server.Store.Logs[0].PagesWritten < 2 * logPages; v++)
            {
                string k = $"r{v % 5}";
                Assert.Equal(OpStatus.Ok, c.Put(Key(k), BigValue(k, v, 2000 + v % 2000)));
                expected[k] = v;
            }
            Assert.Equal(OpStatus.Ok, c.Delete(Key("r39")));
            expected.Remove("r39");
            Assert.True(store.Server.Store.Logs[0].ValueMoves > 0);
            // The cleaner moved r20's record (and reused its pages): the late reader never gets data from the old
            // pointer, and the location index has moved on, so it retries (a real client does) instead of failing.
            var late = new byte[oldPointer.Pages * 4096];
            Assert.True(device.Read(ssd.LbaOf(oldLocation.Device, oldPointer.Page), oldPointer.Pages * ssd.LbasPerPage(oldLocation.Device), late).IsSuccess);
            Assert.NotEqual(ValueCheck.Ok, ValueRecord.Check(late, (uint)bucket, in oldPointer, stableKey, out _));
            Assert.NotEqual(oldLocation, ssd.LocationOf(bucket));
        }
        using (var store = new ScalioStore(options))
        {
            using var c = store.OpenClient();
            var buf = new byte[4096];
            foreach (var (k, v) in expected)
            {
                Assert.Equal(OpStatus.Ok, c.Get(Key(k), buf, out int n));
                Assert.Equal(v, VersionOf(k, buf.AsSpan(0, n)));
            }
            Assert.Equal(OpStatus.NotFound, c.Get(Key("r39"), buf, out _));
            // And it keeps working: more overwrites, then every value again.
            for (int v = 0; v < 200; v++) Assert.Equal(OpStatus.Ok, c.Put(Key($"r{v % 7}"), BigValue($"r{v % 7}", 10_000 + v, 4096)));
            for (int i = 0; i < 7; i++)
            {
                Assert.Equal(OpStatus.Ok, c.Get(Key($"r{i}"), buf, out int n));
                Assert.True(VersionOf($"r{i}", buf.AsSpan(0, n)) >= 10_000);
            }
        }
    }

    [Fact]
    public void A_full_device_refuses_large_puts_with_StorageFull_loses_nothing_and_deletes_make_room()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { Layout = Large, ExpectedRecords = 40, CacheBuckets = 1 });
        using var c = store.OpenClient();
        var acked = new List<int>();
        int full = 0;
        for (int i = 0; i < 3000 && full < 20; i++)
        {
            var st = c.Put(Key($"fill{i}"), BigValue($"fill{i}", i, 4096));
            if (st == OpStatus.Ok) acked.Add(i);
            else { Assert.Equal(OpStatus.StorageFull, st); full++; }
        }
        output.WriteLine($"{acked.Count} acknowledged, {full} refused; log {store.Server.Store.Logs[0].LogPages} pages");
        Assert.True(full > 0, "the device never filled");
        Assert.True(acked.Count >= 40, $"only {acked.Count} acknowledged");
        var buf = new byte[4096];
        foreach (int i in acked)
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key($"fill{i}"), buf, out int n));
            Assert.Equal(i, VersionOf($"fill{i}", buf.AsSpan(0, n)));
        }
        // Delete half; the cleaner reclaims their value records and new large PUTs succeed again.
        var log = store.Server.Store.Logs[0];
        for (int j = 0; j < acked.Count; j += 2)
        {
            long freeBefore = log.FreePages;
            var st = c.Delete(Key($"fill{acked[j]}"));
            Assert.True(st == OpStatus.Ok, $"delete {j}: {st}; free pages {freeBefore} -> {log.FreePages}");
        }
        int accepted = 0;
        for (int i = 0; i < acked.Count / 4; i++) if (c.Put(Key($"again{i}"), BigValue($"again{i}", i, 4096)) == OpStatus.Ok) accepted++;
        Assert.Equal(acked.Count / 4, accepted);
        for (int j = 1; j < acked.Count; j += 2)
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key($"fill{acked[j]}"), buf, out int n));
            Assert.Equal(acked[j], VersionOf($"fill{acked[j]}", buf.AsSpan(0, n)));
        }
    }
}
