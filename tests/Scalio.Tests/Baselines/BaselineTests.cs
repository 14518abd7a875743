using System.Text;
using Scalio.Baselines;
using Scalio.Cli;
using Scalio.Fast;
using Scalio.Ycsb;

namespace Scalio.Tests.Baselines;

public sealed class BaselineTests
{
    private static ScalioStore Open(bool fill)
    {
        var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4_000, CacheFraction = 0.25, BatchSize = 1 });
        if (fill) DittoServerFill.Enable(store);
        return store;
    }

    private static byte[] Key(int i) => Encoding.ASCII.GetBytes($"key{i:D8}");

    private static byte[] Value(int i, int version) => Encoding.ASCII.GetBytes($"value {i} v{version}".PadRight(40, '.'));

    [Fact(Timeout = 20_000)]
    public async Task Leed_reads_back_through_the_server_and_never_reads_the_cache()
    {
        await Task.Yield();
        using var store = Open(fill: false);
        using var client = new LeedClient(store, LeedMode.Leed);
        var buffer = new byte[store.Layout.ValueCapacity];
        for (int i = 0; i < 200; i++) Assert.Equal(OpStatus.Ok, client.Put(Key(i), Value(i, 0)));
        long requestsBefore = client.ServerRequests, deviceReadsBefore = store.ReadCounters().DeviceReads;
        for (int round = 0; round < 2; round++)
        {
            for (int i = 0; i < 200; i++)
            {
                Assert.Equal(OpStatus.Ok, client.Get(Key(i), buffer, out int n));
                Assert.Equal(Value(i, 0), buffer[..n]);
            }
        }
        Assert.Equal(OpStatus.NotFound, client.Get(Key(999_999), buffer, out _));
        Assert.Equal(0, client.OneSidedReads);
        Assert.Equal(0, client.Counters.Hits);
        Assert.Equal(401, client.ServerRequests - requestsBefore);
        Assert.True(store.ReadCounters().DeviceReads - deviceReadsBefore >= 400, "every LEED GET of a stored key reads the SSD");
        Assert.Equal(0, store.ReadCounters().OffloadCommands);
    }

    [Fact(Timeout = 20_000)]
    public async Task Leed_ditto_hits_are_one_sided_and_writes_invalidate()
    {
        await Task.Yield();
        using var store = Open(fill: true);
        using var client = new LeedClient(store, LeedMode.LeedDitto);
        var buffer = new byte[store.Layout.ValueCapacity];
        for (int i = 0; i < 50; i++) Assert.Equal(OpStatus.Ok, client.Put(Key(i), Value(i, 0)));
        for (int i = 0; i < 50; i++) Assert.Equal(OpStatus.Ok, client.Get(Key(i), buffer, out _)); // misses: server fills
        long requests = client.ServerRequests, oneSided = client.OneSidedReads, hits = client.Counters.Hits;
        long serverRequests = store.Server.Requests, deviceReads = store.ReadCounters().DeviceReads;
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(OpStatus.Ok, client.Get(Key(i), buffer, out int n));
            Assert.Equal(Value(i, 0), buffer[..n]);
        }
        // 50 keys in a 1,000-slot cache: every second read is a hit, one READ each, no server request, no SSD read.
        Assert.Equal(50, client.Counters.Hits - hits);
        Assert.Equal(50, client.OneSidedReads - oneSided);
        Assert.Equal(requests, client.ServerRequests);
        Assert.Equal(serverRequests, store.Server.Requests);
        Assert.Equal(deviceReads, store.ReadCounters().DeviceReads);

        // A write goes through the server, which invalidates the cached copy: the next read sees the new value.
        for (int i = 0; i < 50; i++) Assert.Equal(OpStatus.Ok, client.Put(Key(i), Value(i, 1)));
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(OpStatus.Ok, client.Get(Key(i), buffer, out int n));
            Assert.Equal(Value(i, 1), buffer[..n]);
        }
    }

    [Fact]
    public void Leed_ditto_refuses_a_store_that_does_not_fill_its_cache()
    {
        using var store = Open(fill: false);
        var e = Assert.Throws<ArgumentException>(() => new LeedClient(store, LeedMode.LeedDitto));
        Assert.Contains("DittoServerFill.Enable", e.Message, StringComparison.Ordinal);
    }

    [Theory(Timeout = 30_000)]
    [InlineData(nameof(YcsbSystem.Leed))]
    [InlineData(nameof(YcsbSystem.LeedDitto))]
    public async Task Baselines_pass_the_ycsb_read_back_check(string systemName)
    {
        await Task.Yield();
        var system = Enum.Parse<YcsbSystem>(systemName); // the CLI's types are internal; a public test names them by string
        var settings = new StoreSettings { Records = 3_000 };
        using var store = SystemComparison.OpenStore(system, settings);
        var target = (LeedYcsbTarget)SystemComparison.CreateTarget(system, store);
        var r = new YcsbRunner(new YcsbOptions { Workload = YcsbWorkload.A, RecordCount = 3_000, OperationCount = 6_000, Threads = 2 }).Run(target);
        Assert.Equal(6_000, r.Operations);
        Assert.Equal(0, r.NotFound);
        Assert.Equal(0, r.ValueMismatches);
        Assert.True(r.Updates > 2_000);
        Assert.True(r.Counters.SsdWrites >= r.Updates, "every update is written by the server");
        if (system == YcsbSystem.Leed)
        {
            Assert.Equal(0, target.OneSidedReads);
            Assert.True(target.ServerRequests >= 3_000 + 6_000, "at least one server request per op (load and run)");
            Assert.Equal(0.0, r.HitRatio);
        }
        else
        {
            Assert.True(target.OneSidedReads >= r.Reads, "every LEED+Ditto read tries the cache one-sided first");
            Assert.True(r.HitRatio > 0.2, $"hit ratio {r.HitRatio}");
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task System_all_on_ycsb_c_puts_scalio_server_cpu_below_leed_ditto()
    {
        await Task.Yield();
        var options = new YcsbOptions { Workload = YcsbWorkload.C, RecordCount = 5_000, OperationCount = 10_000, WarmupOperations = 1_000, Threads = 2 };
        var rows = SystemComparison.Run(options, new StoreSettings { Records = 5_000 }, SystemComparison.Parse("all"), rounds: 2);
        Assert.Equal(4, rows.Count);
        foreach (var x in rows)
        {
            Assert.Equal(2, x.Rounds);
            Assert.InRange(x.OpsRatio, x.OpsRatioRange.Min, x.OpsRatioRange.Max);
            Assert.Equal(10_000, x.Result.Reads); // the median round: C is reads only
        }
        SystemResult Row(YcsbSystem s) => rows.Single(x => x.System == s);
        var scalio = Row(YcsbSystem.Scalio);
        var ditto = Row(YcsbSystem.LeedDitto);
        var leed = Row(YcsbSystem.Leed);
        foreach (var x in rows) Assert.Equal(0, x.Result.ValueMismatches);
        Assert.True(ditto.Result.ServerCpuMicrosPerOp > 0);
        Assert.True(scalio.Result.ServerCpuMicrosPerOp < ditto.Result.ServerCpuMicrosPerOp,
            $"scalio {scalio.Result.ServerCpuMicrosPerOp} us/op vs leed-ditto {ditto.Result.ServerCpuMicrosPerOp} us/op");
        // (LEED's and LEED+Ditto's CPU times are too close on a short run on a shared 2-vCPU host to order them reliably;
        // the SSD reads that the cache saves are not.)
        Assert.True(leed.Result.SsdReadsPerOp > ditto.Result.SsdReadsPerOp, "the Ditto cache saves SSD reads");
        Assert.Equal(1.0, ditto.OpsRatio, 6);
        Assert.Equal(1.0, ditto.ServerCpuRatio, 6);
        // The paper's claim is about its Arm cores: the raw projection charges x86 microseconds to them, where LEED+Ditto
        // can come out SSD-bound too and the ratio is then one of SSD reads per op (0.98-0.99 seen), so the claim is checked
        // on the LEED-anchored one: about 11.8 x LEED+Ditto's share of LEED's server CPU (0.4 -> 4.7x).
        string costs = $"scalio {scalio.Result.ServerCpuMicrosPerOp:F3} us/op, {scalio.Result.SsdReadsPerOp:F3} SSD reads/op, {scalio.ScaledProjection}; " +
            $"leed-ditto {ditto.Result.ServerCpuMicrosPerOp:F3} us/op, {ditto.Result.SsdReadsPerOp:F3} SSD reads/op, {ditto.ScaledProjection}; " +
            $"leed {leed.Result.ServerCpuMicrosPerOp:F3} us/op; factor {scalio.CoreScaleFactor:F2}";
        Assert.True(scalio.CoreScaleFactor > 0, costs);
        Assert.True(ditto.ScaledProjection.Bottleneck == "cores", $"leed-ditto should be core-bound on the paper's cores: {costs}");
        Assert.True(scalio.ScaledProjection.Bottleneck == "SSDs", $"scalio should be SSD-bound on the paper's cores: {costs}");
        Assert.True(scalio.ScaledProjectedRatio > 2.0, $"scaled projected ratio {scalio.ScaledProjectedRatio:F2}: {costs}");
        Assert.True(leed.Result.SsdReadsPerOp >= 0.99, "LEED reads the SSD on every GET");
    }

    [Theory(Timeout = 20_000)]
    [InlineData(LeedMode.Leed)]
    [InlineData(LeedMode.LeedDitto)]
    public async Task Baseline_client_hot_path_allocates_nothing(LeedMode mode)
    {
        await Task.Yield();
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4_000, CacheBuckets = 2, BatchSize = 1 });
        if (mode == LeedMode.LeedDitto) DittoServerFill.Enable(store);
        using var c = new LeedClient(store, mode);
        var keys = new byte[400][];
        var value = new byte[store.Layout.ValueCapacity];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = Key(i);
            Assert.Equal(OpStatus.Ok, c.Put(keys[i], value));
        }
        for (int r = 0; r < 3; r++) foreach (var k in keys) c.Get(k, value, out _); // warm-up: JIT, tiering
        // Steady state: a pass that allocates nothing. Twice in the full suite's busy first seconds (never alone, nor
        // beside CPU hogs) one pass took 280 B once; an allocation per operation would show in every pass.
        var allocated = new List<long>();
        for (int pass = 0; pass < 3; pass++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 250; i++) c.Get(keys[0], value, out _); // hits (LEED+Ditto)
            for (int r = 0; r < 3; r++) foreach (var k in keys) c.Get(k, value, out _); // 16-slot cache: mostly misses
            for (int i = 0; i < 200; i++) c.Put(keys[i], value);
            allocated.Add(GC.GetAllocatedBytesForCurrentThread() - before);
            if (allocated[^1] == 0) return;
        }
        Assert.Fail($"every pass allocated: {string.Join(", ", allocated)} B");
    }

    [Fact]
    public void Projection_is_the_smaller_of_the_core_and_ssd_bounds()
    {
        var hw = PaperHardware.Paper;
        var p = Projection.Of(serverCpuMicrosPerOp: 10, ssdIosPerOp: 1, hw); // 8 / 10e-6 = 800K; 3.5M IOPS
        Assert.Equal(800_000, p.CoreBound, 3);
        Assert.Equal(3_500_000, p.SsdBound, 3);
        Assert.Equal(800_000, p.OpsPerSecond, 3);
        Assert.Equal("cores", p.Bottleneck);
        var q = Projection.Of(serverCpuMicrosPerOp: 0, ssdIosPerOp: 0.25, hw);
        Assert.True(double.IsPositiveInfinity(q.CoreBound));
        Assert.Equal(14_000_000, q.OpsPerSecond, 3);
        Assert.Equal("SSDs", q.Bottleneck);
    }

    private static YcsbResult Synthetic(string name, double serverMicrosPerOp, double ssdReadsPerOp, long ops = 1_000_000) => new()
    {
        Target = name, Workload = YcsbWorkload.C, Variant = YcsbVariant.YcsbC, Threads = 1, RecordCount = 1, LoadSeconds = 0,
        Operations = ops, Seconds = 1, P50Micros = 1, P99Micros = 1, P999Micros = 1, MeanMicros = 1,
        Reads = ops, Updates = 0, Inserts = 0, ReadModifyWrites = 0, NotFound = 0, ValueMismatches = 0,
        Counters = new TargetCounters(ops, (long)(serverMicrosPerOp * 1000 * ops), 0, (long)(ssdReadsPerOp * ops), 0, 0, 0, 0),
    };

    [Fact]
    public void Core_scaling_maps_leed_onto_the_paper_and_scales_every_system_by_the_same_factor()
    {
        var hw = PaperHardware.Paper;
        // LEED measured at 5 us/op here: factor 10 / 5 = 2. LEED+Ditto: 1.5 us/op, 0.25 reads/op. Scalio: 0 us/op, 0.25 reads/op.
        var rows = SystemComparison.Compare(
        [
            (YcsbSystem.Scalio, Synthetic("scalio", 0, 0.25)),
            (YcsbSystem.Leed, Synthetic("leed", 5, 1)),
            (YcsbSystem.LeedDitto, Synthetic("leed-ditto", 1.5, 0.25)),
        ], hw);
        var scalio = rows[0];
        var leed = rows[1];
        var ditto = rows[2];
        foreach (var x in rows) Assert.Equal(2.0, x.CoreScaleFactor, 9);
        Assert.Equal(800_000, leed.ScaledProjection.OpsPerSecond, 3); // by construction: the paper's LEED point
        Assert.Equal(8 / 3e-6, ditto.ScaledProjection.OpsPerSecond, 3); // 1.5 us x 2 = 3 us/op on 8 cores
        Assert.Equal(8 / 1.5e-6, ditto.Projection.OpsPerSecond, 3);   // raw is unchanged
        Assert.Equal(14_000_000, scalio.ScaledProjection.OpsPerSecond, 3); // no server CPU: SSD-bound either way
        Assert.Equal(14_000_000 / (8 / 3e-6), scalio.ScaledProjectedRatio, 9);
        Assert.Equal(14_000_000 / (8 / 1.5e-6), scalio.ProjectedRatio, 9);
        Assert.Equal(1.0, ditto.ScaledProjectedRatio, 9);

        // Without LEED in the run there is no anchor: scaled figures are NaN, the raw ones are still there.
        var noLeed = SystemComparison.Compare([(YcsbSystem.Scalio, Synthetic("scalio", 0, 0.25)), (YcsbSystem.LeedDitto, Synthetic("leed-ditto", 1.5, 0.25))], hw);
        Assert.True(double.IsNaN(noLeed[0].CoreScaleFactor));
        Assert.True(double.IsNaN(noLeed[0].ScaledProjectedRatio));
        Assert.Equal(14_000_000 / (8 / 1.5e-6), noLeed[0].ProjectedRatio, 9);
    }

    [Fact]
    public void System_names_parse_and_unknown_ones_are_refused()
    {
        Assert.Equal([YcsbSystem.Scalio, YcsbSystem.ScalioNoBatch, YcsbSystem.Leed, YcsbSystem.LeedDitto], SystemComparison.Parse("all"));
        Assert.Equal([YcsbSystem.Leed, YcsbSystem.LeedDitto], SystemComparison.Parse("leed, leed-ditto"));
        var e = Assert.Throws<ArgumentException>(() => SystemComparison.Parse("redis"));
        Assert.Contains("redis", e.Message, StringComparison.Ordinal);
    }
}
