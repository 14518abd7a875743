using Scalio.Fast;
using Scalio.Fast.Cache;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Storage;

/// <summary>Reopening file-backed stores: checkpoint plus log replay, corruption, geometry checks.</summary>
public class RecoveryTests
{
    private static ScalioStoreOptions Options(string dir, int devices = 2) => new()
    {
        ExpectedRecords = 2_000,
        CacheBuckets = 4,
        Devices = devices,
        DataDirectory = dir,
    };

    private static void PutAll(ScalioStore store, int count, string tag)
    {
        using var c = store.OpenClient();
        for (int i = 0; i < count; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"key{i}"), Value($"{tag}{i}")));
    }

    private static void AssertAll(ScalioStore store, int count, string tag)
    {
        using var c = store.OpenClient();
        var buf = new byte[64];
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key($"key{i}"), buf, out _));
            Assert.Equal($"{tag}{i}", Text(buf));
        }
    }

    [Fact]
    public void Clean_shutdown_then_reopen_keeps_every_value_and_replays_nothing()
    {
        using var dir = new TempDir();
        using (var store = new ScalioStore(Options(dir.Path)))
        {
            Assert.All(store.Server.Recovery, r => Assert.True(r.Formatted));
            PutAll(store, 200, "a");
            PutAll(store, 100, "b");
        }
        using (var store = new ScalioStore(Options(dir.Path)))
        {
            Assert.All(store.Server.Recovery, r => { Assert.False(r.Formatted); Assert.Equal(0, r.ScannedPages); Assert.True(r.CheckpointBuckets > 0); });
            AssertAll(store, 100, "b");
            using var c = store.OpenClient();
            var buf = new byte[64];
            Assert.Equal(OpStatus.Ok, c.Get(Key("key150"), buf, out _));
            Assert.Equal("a150", Text(buf));
            Assert.Equal(OpStatus.Ok, c.Put(Key("key0"), Value("c0")));
        }
        // The batch size is a runtime knob: it does not change the geometry.
        using (var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 2_000, CacheBuckets = 4, Devices = 2, DataDirectory = dir.Path, BatchSize = 1 }))
        {
            Assert.All(store.Server.Recovery, r => Assert.Equal(3UL, r.Epoch));
            using var c = store.OpenClient();
            var buf = new byte[64];
            Assert.Equal(OpStatus.Ok, c.Get(Key("key0"), buf, out _));
            Assert.Equal("c0", Text(buf));
        }
    }

    [Fact]
    public void A_second_store_on_an_open_data_directory_is_refused_until_the_first_closes()
    {
        using var dir = new TempDir();
        using (var store = new ScalioStore(Options(dir.Path)))
        {
            PutAll(store, 10, "a");
            var e = Assert.Throws<DataDirectoryInUseException>(() => new ScalioStore(Options(dir.Path)));
            Assert.Equal(dir.Path, e.Directory);
            Assert.Contains("in use by another open store", e.Message);
            AssertAll(store, 10, "a"); // the refused open touched nothing
        }
        using (var store = new ScalioStore(Options(dir.Path))) AssertAll(store, 10, "a");
    }

    [Fact]
    public void Crash_image_without_shutdown_is_recovered_from_the_log()
    {
        using var dir = new TempDir();
        using var crash = new TempDir();
        ulong head;
        using (var store = new ScalioStore(Options(dir.Path)))
        {
            PutAll(store, 300, "v");
            PutAll(store, 50, "w");
            // Every acknowledged write is durable (FUA), so a copy of the files now is what a crash leaves behind.
            foreach (var f in Directory.GetFiles(dir.Path, "*.img")) File.Copy(f, Path.Combine(crash.Path, Path.GetFileName(f)));
            head = store.Server.Store.Logs[0].HeadPage;
        }
        // The crash also cut a batch write in the middle of its first page: garbage where the next block would be.
        using (var fs = new FileStream(Path.Combine(crash.Path, "ssd0.img"), FileMode.Open, FileAccess.ReadWrite))
        {
            var junk = new byte[2048];
            new Random(5).NextBytes(junk);
            fs.Position = (long)head * 4096;
            fs.Write(junk);
        }
        using (var store = new ScalioStore(Options(crash.Path)))
        {
            Assert.Contains(store.Server.Recovery, r => r.ScannedPages > 0);
            Assert.Equal(1, store.Server.Recovery[0].TornPagesAtEnd);
            AssertAll(store, 50, "w");
            using var c = store.OpenClient();
            var buf = new byte[64];
            for (int i = 50; i < 300; i++)
            {
                Assert.Equal(OpStatus.Ok, c.Get(Key($"key{i}"), buf, out _));
                Assert.Equal($"v{i}", Text(buf));
            }
        }
    }

    [Fact]
    public void A_flipped_byte_gives_a_checksum_error_for_that_bucket_never_wrong_data()
    {
        using var dir = new TempDir();
        var victim = Key("key7");
        int bucket;
        using (var store = new ScalioStore(Options(dir.Path, devices: 1)))
        {
            PutAll(store, 100, "v");
            bucket = new KeyHash(victim).SsdBucket(store.Server.Describe().SsdBuckets);
        }
        ulong page;
        using (var store = new ScalioStore(Options(dir.Path, devices: 1)))
        {
            page = store.Server.Store.LocationOf(bucket).Page;
        }
        // Reopening wrote a checkpoint naming the same block; flip one byte inside its records.
        string file = Path.Combine(dir.Path, "ssd0.img");
        using (var fs = new FileStream(file, FileMode.Open, FileAccess.ReadWrite))
        {
            fs.Position = (long)page * 4096 + 40;
            int b = fs.ReadByte();
            fs.Position = (long)page * 4096 + 40;
            fs.WriteByte((byte)(b ^ 0x5A));
        }
        using (var store = new ScalioStore(Options(dir.Path, devices: 1)))
        {
            using var c = store.OpenClient();
            var buf = new byte[64];
            int corrupt = 0, ok = 0;
            for (int i = 0; i < 100; i++)
            {
                var key = Key($"key{i}");
                var st = c.Get(key, buf, out _);
                if (new KeyHash(key).SsdBucket(store.Server.Describe().SsdBuckets) == bucket)
                {
                    Assert.Equal(OpStatus.Corrupt, st);
                    corrupt++;
                }
                else
                {
                    Assert.Equal(OpStatus.Ok, st);
                    Assert.Equal($"v{i}", Text(buf));
                    ok++;
                }
            }
            Assert.True(corrupt >= 1 && ok >= 50);
            // A write to the damaged bucket is refused rather than silently dropping its other records.
            Assert.Equal(OpStatus.Corrupt, c.Put(victim, Value("new")));
            Assert.True(store.Server.CorruptBlocks >= 1);
        }
    }

    [Fact]
    public void Reopening_with_another_geometry_is_refused_with_a_clear_error()
    {
        using var dir = new TempDir();
        using (var store = new ScalioStore(Options(dir.Path, devices: 1))) PutAll(store, 10, "v");
        string file = Path.Combine(dir.Path, "ssd0.img");
        long length = new FileInfo(file).Length;
        var e = Assert.ThrowsAny<Exception>(() => new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4_000, CacheBuckets = 4, DataDirectory = dir.Path }));
        Assert.Contains("created with", e.ToString());
        Assert.Equal(length, new FileInfo(file).Length); // refused untouched
        using (var store = new ScalioStore(Options(dir.Path, devices: 1)))
        {
            using var c = store.OpenClient();
            Assert.Equal(OpStatus.Ok, c.Get(Key("key3"), new byte[64], out _));
        }
    }

    [Fact]
    public void A_device_is_never_formatted_over_foreign_data_or_opened_with_another_bucket_count()
    {
        var fabric = new Scalio.Verbs.LoopbackFabric();
        using var ns = new Scalio.Nvme.RamNamespace(1, 4096, 512);
        using (var domain = fabric.CreateDomain())
        using (var ssd = new Scalio.Fast.Storage.SsdStore(domain, [ns], bucketCount: 10, pageSize: 4096)) Assert.True(ssd.Logs[0].Recovery.Formatted);
        using (var domain = fabric.CreateDomain())
        {
            var e = Assert.Throws<InvalidDataException>(() => new Scalio.Fast.Storage.SsdStore(domain, [ns], bucketCount: 11, pageSize: 4096));
            Assert.Contains("created with", e.Message);
        }
        var junk = new byte[4096];
        junk[100] = 1;
        Assert.True(ns.Write(0, 1, junk, fua: true).IsSuccess);
        using (var domain = fabric.CreateDomain())
        {
            var e = Assert.Throws<InvalidDataException>(() => new Scalio.Fast.Storage.SsdStore(domain, [ns], bucketCount: 10, pageSize: 4096));
            Assert.Contains("refusing to overwrite", e.Message);
        }
    }
}
