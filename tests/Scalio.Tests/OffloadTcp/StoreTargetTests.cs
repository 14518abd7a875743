using System.Net;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Fast.OffloadTcp;
using Scalio.Fast.Storage;
using Scalio.Tests.Storage;
using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;
using Scalio.Offload;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.OffloadTcp;

/// <summary>
/// The offload target (<see cref="StoreOffloadTarget"/>) over the namespace files of a live embedded store on file
/// namespaces, read through <see cref="NvmeTcpOffloadReadPath"/>.
/// </summary>
[Collection(nameof(OffloadTcpCollection))]
public sealed class StoreTargetTests
{
    private const int Keys = 300;

    private static ScalioStoreOptions Options(string dir) => new()
    {
        ExpectedRecords = 2000,
        Devices = 2,
        DataDirectory = dir,
        CacheFraction = 0.02,
        BatchSize = 1,
    };

    private static StoreOffloadTarget OpenTarget(string dir) =>
        StoreOffloadTarget.Open(dir, new StoreOffloadTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0) });

    private static NvmeTcpOffloadReadPath Connect(StoreOffloadTarget target) =>
        NvmeTcpOffloadReadPath.Connect("127.0.0.1", target.Endpoint.Port, target.SubsystemNqn, new NvmeTcpOffloadReadPathOptions { CommandTimeout = TimeSpan.FromSeconds(5) });

    private static void PutAll(ScalioStore store, string prefix)
    {
        using var c = store.OpenClient();
        for (int i = 0; i < Keys; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"key{i}"), Value($"{prefix}{i}")));
    }

    [Fact]
    public void Bucket_blocks_read_over_nvme_tcp_equal_the_stores_own_reads_and_hold_the_values()
    {
        if (!OperatingSystem.IsLinux()) return; // file namespaces are Linux-only
        using var dir = new TempDir();
        using var store = new ScalioStore(Options(dir.Path));
        PutAll(store, "v");
        using var target = OpenTarget(dir.Path);
        Assert.Equal(2, target.Namespaces.Count);
        Assert.All(target.Namespaces, ns => Assert.True(ns.IsReadOnly));
        using var path = Connect(target);
        using var domain = store.Fabric.CreateDomain();
        using var region = domain.Allocate(64 * 1024, MemoryAccess.LocalWrite, 4096);
        var ssd = store.Server.Store;
        var own = new byte[64 * 1024];

        // Superblocks and checkpoints: the first pages of every device, byte for byte.
        for (int d = 0; d < 2; d++)
        {
            var dev = store.Server.Devices[d];
            Assert.Equal(NvmeStatus.Success, path.Read((uint)d + 1, 0, 16, dev.LbaSize, region, 0));
            Assert.True(dev.Read(0, 16, own).IsSuccess);
            Assert.True(region.Slice(0, 16 * 4096).SequenceEqual(own.AsSpan(0, 16 * 4096)), $"device {d}: first 16 pages differ");
        }

        // Every key's bucket block, at the location the server's index names, through NSID = device + 1.
        for (int i = 0; i < Keys; i++)
        {
            byte[] key = Key($"key{i}");
            int bucket = new KeyHash(key).SsdBucket(ssd.BucketCount);
            Location loc = ssd.LocationOf(bucket);
            Assert.True(loc.Exists);
            int lbas = ssd.LbasPerPage(loc.Device) * loc.Pages;
            int lbaSize = store.Server.Devices[loc.Device].LbaSize;
            ulong lba = ssd.LbaOf(loc.Device, loc.Page);
            region.Span.Clear();
            Assert.Equal(NvmeStatus.Success, path.Read((uint)loc.Device + 1, lba, lbas, lbaSize, region, 0));
            Assert.True(store.Server.Devices[loc.Device].Read(lba, lbas, own).IsSuccess);
            Assert.True(region.Slice(0, lbas * lbaSize).SequenceEqual(own.AsSpan(0, lbas * lbaSize)), $"key{i}: block differs from the store's own read");
            Assert.Equal(BlockLookup.Found, BucketBlock.Find(region.Slice(0, 4096 * loc.Pages), (uint)bucket, loc.Sequence, key, out ReadOnlySpan<byte> value));
            Assert.Equal($"v{i}", Text(value));
        }

        Assert.True(target.Commands >= Keys + 2);
        Assert.True(target.BusyNanoseconds > 0);
    }

    [Fact]
    public void A_client_miss_path_through_the_target_returns_the_values_and_sees_later_writes()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        using var store = new ScalioStore(Options(dir.Path));
        PutAll(store, "v");
        using var target = OpenTarget(dir.Path);
        long emulatedBefore = store.OffloadTarget.Commands;

        // A client whose miss path is NVMe/TCP to the target (the remote client's constructor, here on the loopback fabric).
        var domain = store.Fabric.CreateDomain();
        var qp = domain.CreateQueuePair(domain.CreateCompletionQueue(256), domain.CreateCompletionQueue(16), new QueuePairOptions { MaxReceives = 2 });
        store.Server.Accept(qp);
        var path = Connect(target);
        using var client = new ScalioClient(domain, qp, store.Server.Describe(), path);
        var buf = new byte[64];
        for (int i = 0; i < Keys; i++)
        {
            Assert.Equal(OpStatus.Ok, client.Get(Key($"key{i}"), buf, out int length));
            Assert.Equal(64, length);
            Assert.Equal($"v{i}", Text(buf));
        }

        long nvmeReads = path.Commands;
        Assert.True(nvmeReads >= Keys / 2, $"only {nvmeReads} misses went through NVMe/TCP");
        Assert.True(target.Commands >= nvmeReads);
        Assert.Equal(emulatedBefore, store.OffloadTarget.Commands); // the in-process emulated engine served none of them

        // New values written by the server (FUA, O_DIRECT) are what the target serves next.
        PutAll(store, "w");
        Assert.Equal(OpStatus.NotFound, client.Get(Key("absent-key"), buf, out _));
        for (int i = 0; i < Keys; i++)
        {
            Assert.Equal(OpStatus.Ok, client.Get(Key($"key{i}"), buf, out _));
            Assert.Equal($"w{i}", Text(buf));
        }

        Assert.True(path.Commands > nvmeReads);
        Assert.Equal(0, path.TransportFailures);
    }

    [Fact]
    public async Task Reads_through_the_target_during_concurrent_writes_never_go_back_in_time()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        using var store = new ScalioStore(Options(dir.Path));
        const int HotKeys = 8;
        using (var w = store.OpenClient())
        {
            for (int k = 0; k < HotKeys; k++) Assert.Equal(OpStatus.Ok, w.Put(Key($"hot{k}"), Value("0")));
        }

        using var target = OpenTarget(dir.Path);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        int written = 0;
        Task writer = Task.Factory.StartNew(() =>
        {
            using var w = store.OpenClient();
            for (int version = 1; !stop.IsCancellationRequested; version++)
            {
                for (int k = 0; k < HotKeys; k++) Assert.Equal(OpStatus.Ok, w.Put(Key($"hot{k}"), Value(version.ToString(System.Globalization.CultureInfo.InvariantCulture))));
                written = version;
            }
        }, TaskCreationOptions.LongRunning);

        var domain = store.Fabric.CreateDomain();
        var qp = domain.CreateQueuePair(domain.CreateCompletionQueue(256), domain.CreateCompletionQueue(16), new QueuePairOptions { MaxReceives = 2 });
        store.Server.Accept(qp);
        var path = Connect(target);
        using var reader = new ScalioClient(domain, qp, store.Server.Describe(), path);
        var last = new int[HotKeys];
        var buf = new byte[64];
        int reads = 0;
        await Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                for (int k = 0; k < HotKeys; k++)
                {
                    Assert.Equal(OpStatus.Ok, reader.Get(Key($"hot{k}"), buf, out _));
                    int version = int.Parse(Text(buf), System.Globalization.CultureInfo.InvariantCulture);
                    Assert.True(version >= last[k], $"hot{k}: read version {version} after {last[k]}");
                    last[k] = version;
                    reads++;
                }
            }
        });
        await writer.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(written > 10 && reads > 100, $"{written} write rounds, {reads} reads");
        Assert.True(path.Commands > 0, "no read went to the SSD through the target");
        Assert.Equal(0, path.TransportFailures);
    }

    [Fact]
    public async Task The_target_refuses_writes_and_leaves_the_files_untouched()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        using (var store = new ScalioStore(Options(dir.Path))) PutAll(store, "v");
        string file = ScalioStore.DeviceFilePath(dir.Path, 0);
        byte[] before = await File.ReadAllBytesAsync(file);
        DateTime modified = File.GetLastWriteTimeUtc(file);
        using (var target = OpenTarget(dir.Path))
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await using var nvme = await NvmeTcpInitiator.ConnectAsync("127.0.0.1", target.Endpoint.Port, target.SubsystemNqn, hostNqn: null, cts.Token);
            var ns = await nvme.IdentifyNamespaceAsync(1, cts.Token);
            Assert.Equal((ulong)before.Length / 4096, ns.Size);
            var data = new byte[4096];
            var refused = await Assert.ThrowsAsync<NvmeCommandException>(async () => await nvme.WriteAsync(1, 0, 1, data, cts.Token));
            Assert.Equal(NvmeStatus.NamespaceWriteProtected, refused.Status);
            var big = new byte[64 * 1024]; // sent on R2T: refused all the same
            refused = await Assert.ThrowsAsync<NvmeCommandException>(async () => await nvme.WriteAsync(1, 8, 16, big, cts.Token));
            Assert.Equal(NvmeStatus.NamespaceWriteProtected, refused.Status);
            await nvme.FlushAsync(1, cts.Token);
        }

        Assert.Equal(before, await File.ReadAllBytesAsync(file));
        Assert.Equal(modified, File.GetLastWriteTimeUtc(file));
        // The store still opens and reads what it wrote.
        using var again = new ScalioStore(Options(dir.Path));
        using var c = again.OpenClient();
        var buf = new byte[64];
        Assert.Equal(OpStatus.Ok, c.Get(Key("key7"), buf, out _));
        Assert.Equal("v7", Text(buf));
    }

    [Fact]
    public void Garbage_on_a_connection_ends_that_connection_and_the_target_keeps_serving()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        using var store = new ScalioStore(Options(dir.Path));
        PutAll(store, "v");
        using var target = OpenTarget(dir.Path);
        var random = new Random(8);
        for (int round = 0; round < 8; round++)
        {
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            socket.Connect(target.Endpoint);
            var junk = new byte[8 + random.Next(200)];
            random.NextBytes(junk);
            junk[0] = (byte)random.Next(0, 12); // PDU types, valid and not
            socket.Send(junk);
            socket.ReceiveTimeout = 15_000;
            var reply = new byte[256];
            int n;
            try
            {
                // A C2HTermReq (or ICResp for a lucky ICReq) then the close, or a plain close: never a hang.
                while ((n = socket.Receive(reply)) > 0)
                {
                }
            }
            catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionReset)
            {
            }
        }

        using var path = Connect(target);
        using var domain = store.Fabric.CreateDomain();
        using var region = domain.Allocate(4096, MemoryAccess.LocalWrite, 4096);
        Assert.Equal(NvmeStatus.Success, path.Read(1, 0, 1, 4096, region, 0));
        Assert.Equal((byte)'S', region.Span[0]); // "SCS1": the superblock
    }

    [Fact]
    public void The_target_refuses_a_directory_that_is_not_a_store_and_creates_nothing()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => OpenTarget(dir.Path));
        Assert.Empty(Directory.GetFiles(dir.Path));
        Assert.Throws<DirectoryNotFoundException>(() => OpenTarget(Path.Combine(dir.Path, "missing")));

        File.WriteAllBytes(ScalioStore.DeviceFilePath(dir.Path, 0), new byte[8192]); // zeros: no superblock
        var e = Assert.Throws<InvalidDataException>(() => OpenTarget(dir.Path));
        Assert.Contains("superblock", e.Message);

        // A store of two devices with one file missing: refused, not served as a one-device store.
        using var dir2 = new TempDir();
        using (var store = new ScalioStore(Options(dir2.Path))) PutAll(store, "v");
        File.Delete(ScalioStore.DeviceFilePath(dir2.Path, 1));
        e = Assert.Throws<InvalidDataException>(() => OpenTarget(dir2.Path));
        Assert.Contains("device 0 of 2", e.Message);
    }
}
