using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Storage;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Storage;

/// <summary>The log cleaner, a full bucket, and input over the schema's limits.</summary>
public class CleanerAndLimitsTests
{
    [Fact]
    public void Cleaner_moves_live_blocks_and_a_reader_holding_an_old_location_sees_stale_not_data()
    {
        using var dir = new TempDir();
        var options = new ScalioStoreOptions { ExpectedRecords = 200, CacheBuckets = 2, BatchSize = 1, DataDirectory = dir.Path };
        byte[] hot = Key("key0");
        using (var store = new ScalioStore(options))
        {
            using var c = store.OpenClient();
            for (int i = 0; i < 100; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"key{i}"), Value($"v{i}")));
            var ssd = store.Server.Store;
            int bucket = new KeyHash(hot).SsdBucket(ssd.BucketCount);
            var old = ssd.LocationOf(bucket);
            long logPages = ssd.Logs[0].LogPages;

            // Overwrite a few keys until the log has lapped several times.
            for (int round = 0; round < (int)logPages * 3; round++)
                Assert.Equal(OpStatus.Ok, c.Put(Key($"key{round % 4}"), Value($"r{round}")));
            Assert.True(store.Server.Relocations > 0, "the cleaner never moved a live block");
            Assert.True(store.Server.Checkpoints > 2);

            // A reader that read the location long ago and reads the page now: the page was reused.
            var page = new byte[4096];
            Assert.True(store.Server.Devices[old.Device].Read(ssd.LbaOf(old.Device, old.Page), ssd.LbasPerPage(old.Device), page).IsSuccess);
            Assert.Equal(BlockLookup.Stale, BucketBlock.Find(page, (uint)bucket, old.Sequence, hot, out _));

            var buf = new byte[64];
            for (int i = 4; i < 100; i++)
            {
                Assert.Equal(OpStatus.Ok, c.Get(Key($"key{i}"), buf, out _));
                Assert.Equal($"v{i}", Text(buf));
            }
        }
        using (var store = new ScalioStore(options))
        {
            using var c = store.OpenClient();
            var buf = new byte[64];
            for (int i = 4; i < 100; i++)
            {
                Assert.Equal(OpStatus.Ok, c.Get(Key($"key{i}"), buf, out _));
                Assert.Equal($"v{i}", Text(buf));
            }
        }
    }

    [Fact]
    public void A_full_bucket_refuses_the_write_with_StorageFull_and_loses_nothing_acknowledged()
    {
        // One SSD bucket: its 4 KiB block holds 48 records of a 16 B key and a 64 B value.
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1, CacheBuckets = 1 });
        using var c = store.OpenClient();
        var acked = new List<int>();
        int full = 0;
        for (int i = 0; i < 60; i++)
        {
            var st = c.Put(Key($"full{i}"), Value($"v{i}"));
            if (st == OpStatus.Ok) acked.Add(i);
            else { Assert.Equal(OpStatus.StorageFull, st); full++; }
        }
        Assert.True(full > 0 && acked.Count >= 40, $"{acked.Count} acknowledged, {full} refused");
        var buf = new byte[64];
        foreach (int i in acked)
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key($"full{i}"), buf, out _));
            Assert.Equal($"v{i}", Text(buf));
        }
        // Deleting makes room again.
        Assert.Equal(OpStatus.Ok, c.Delete(Key($"full{acked[0]}")));
        Assert.Equal(OpStatus.Ok, c.Put(Key("again"), Value("x")));
    }

    [Fact]
    public void Oversized_key_or_value_fails_before_any_IO()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 100, CacheBuckets = 1 });
        using var c = store.OpenClient();
        long writes = DeviceWrites(store), requests = store.Server.Requests;
        Assert.ThrowsAny<ArgumentException>(() => c.Put(new byte[store.Layout.KeyCapacity + 1], Value("v")));
        Assert.ThrowsAny<ArgumentException>(() => c.Put(Key("k"), new byte[store.Layout.ValueCapacity + 1]));
        Assert.Equal(writes, DeviceWrites(store));
        Assert.Equal(requests, store.Server.Requests);
    }

    [Fact]
    public void Batch_options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Fast.Server.ScalioServerOptions { BatchSize = 129 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new Fast.Server.ScalioServerOptions { BatchSize = 0 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new Fast.Server.ScalioServerOptions { BatchIdleTimeout = TimeSpan.FromSeconds(2) }.Validate());
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1_000, CacheBuckets = 2, BatchSize = 128 });
        using var c = store.OpenClient();
        Assert.Equal(OpStatus.Ok, c.Put(Key("a"), Value("b")));
    }
}
