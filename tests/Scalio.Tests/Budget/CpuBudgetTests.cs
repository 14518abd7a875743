using System.Diagnostics;
using System.Text;
using Scalio.Cli;
using Scalio.Fast;
using Scalio.Fast.Server;
using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Ycsb;

namespace Scalio.Tests.Budget;

public sealed class CpuBudgetTests
{
    [Fact(Timeout = 20_000)]
    public async Task A_budget_admits_its_cores_worth_of_charged_work_per_second()
    {
        await Task.Yield();
        // 0.02 cores: 200 charges of 100 us CPU = 20 ms CPU must take about 1 s of wall time (burst 1 ms aside).
        var budget = new CpuBudget(0.02);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 200; i++)
        {
            budget.WaitForCredit();
            budget.Charge(100_000);
        }
        budget.WaitForCredit();
        double seconds = sw.Elapsed.TotalSeconds;
        Assert.InRange(seconds, 0.9, 1.6);
        Assert.Equal(20_000_000, budget.ChargedNanoseconds);
        Assert.True(budget.ThrottledNanoseconds > 800_000_000, $"throttled only {budget.ThrottledNanoseconds} ns");
    }

    [Fact]
    public void A_budget_refuses_nonsense()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CpuBudget(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CpuBudget(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ScalioServerOptions { CpuCores = -1 }.Validate());
    }

    [Fact(Timeout = 60_000)]
    public async Task A_budgeted_server_serves_at_most_its_budget_and_charges_what_it_serves()
    {
        await Task.Yield();
        // Unbudgeted, then at 0.02 cores: the budgeted PUT rate must fall to about 0.02 s / (charged s per PUT).
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4_000, BatchSize = 1 });
        var target = SystemComparison.CreateTarget(YcsbSystem.ScalioNoBatch, store);
        var options = new YcsbOptions { RecordCount = 2_000, Threads = 2 };
        new YcsbRunner(options).Load(target);
        store.Server.Budget = new CpuBudget(0.02);
        var r = Saturation.Puts(store, options, TimeSpan.FromSeconds(1.5));
        store.Server.Budget = null;
        double cpuSeconds = r.ServerCpuNanoseconds / 1e9;
        Assert.True(r.Operations > 50, $"only {r.Operations} PUTs");
        // Charged CPU per wall second stays at the budget (plus one burst and one step of slack).
        Assert.InRange(cpuSeconds / r.Seconds, 0.005, 0.02 * 1.3 + 0.002);
        Assert.True(r.ServerMicrosPerRequest > 0.1, "every PUT costs the server something");
        Assert.Equal(r.Operations, r.ServerRequests);
    }

    [Fact(Timeout = 30_000)]
    public async Task Under_a_stream_that_never_pauses_the_server_charges_its_cpu_as_it_goes()
    {
        await Task.Yield();
        // 64 PUTs always in flight on real files (each a durable write) keep the receive queue non-empty: the charge
        // must not wait for the stream to stop.
        string dir = Path.Combine(Path.GetTempPath(), "scalio-stream-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        using var cleanup = new DirectoryCleanup(dir);
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4_000, BatchSize = 1, DataDirectory = dir });
        var target = SystemComparison.CreateTarget(YcsbSystem.ScalioNoBatch, store);
        var options = new YcsbOptions { RecordCount = 2_000, Threads = 2 };
        new YcsbRunner(options).Load(target);
        long before = store.Server.BusyNanoseconds, requestsBefore = store.Server.Requests;
        long midBusy = 0, midRequests = 0;
        var sampler = new Thread(() =>
        {
            Thread.Sleep(700);
            midBusy = store.Server.BusyNanoseconds - before;
            midRequests = store.Server.Requests - requestsBefore;
        });
        sampler.Start();
        Saturation.Puts(store, options, TimeSpan.FromSeconds(1.5));
        sampler.Join();
        Assert.True(midRequests > 100, $"only {midRequests} requests by mid-phase");
        Assert.True(midBusy > 0 && midBusy / 1000.0 / midRequests > 0.1, $"mid-phase: {midRequests} requests served but {midBusy} ns charged");
    }

    [Fact(Timeout = 30_000)]
    public async Task Replies_wait_for_the_modelled_write_but_the_worker_does_not()
    {
        await Task.Yield();
        // A 3 ms write latency: a PUT is answered no sooner, yet two clients' PUTs overlap on one worker.
        var model = new SsdModelOptions { MaxIops = 1_000_000, ReadLatency = TimeSpan.FromMilliseconds(3), WriteLatency = TimeSpan.FromMilliseconds(3), FlushLatency = TimeSpan.Zero };
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 2_000, BatchSize = 1, SsdModel = model, ServerWorkers = 1 });
        using var a = store.OpenClient();
        using var b = store.OpenClient();
        var key = Encoding.ASCII.GetBytes("k-000000001");
        var sw = Stopwatch.StartNew();
        Assert.Equal(OpStatus.Ok, a.Put(key, Encoding.ASCII.GetBytes("v1")));
        Assert.True(sw.Elapsed.TotalMilliseconds >= 2.5, $"answered after {sw.Elapsed.TotalMilliseconds:F2} ms, before the modelled write completed");
        // 2 x 20 PUTs from two client threads on one worker: the worker holds both clients' replies at once.
        var t1 = new Thread(() => { for (int i = 0; i < 20; i++) a.Put(Encoding.ASCII.GetBytes($"a-{i:D8}"), Encoding.ASCII.GetBytes("x")); });
        var t2 = new Thread(() => { for (int i = 0; i < 20; i++) b.Put(Encoding.ASCII.GetBytes($"b-{i:D8}"), Encoding.ASCII.GetBytes("y")); });
        t1.Start(); t2.Start(); t1.Join(); t2.Join();
        Assert.True(store.Server.PeakRepliesAwaitingDevice >= 2, $"the worker never held two replies at once (peak {store.Server.PeakRepliesAwaitingDevice}): it blocked on the device");
        var buffer = new byte[store.Layout.ValueCapacity];
        Assert.Equal(OpStatus.Ok, a.Get(Encoding.ASCII.GetBytes("b-00000019"), buffer, out int n));
        Assert.Equal("y", Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public void Hardware_work_is_counted_only_on_threads_that_track_it()
    {
        using var ns = new RamNamespace(1, 4096, 16);
        var page = new byte[4096];
        long before = HardwareWork.Nanoseconds;
        Assert.True(ns.Write(0, 1, page, fua: false).IsSuccess);
        Assert.Equal(before, HardwareWork.Nanoseconds);
        HardwareWork.Tracking = true;
        try
        {
            for (int i = 0; i < 100; i++) Assert.True(ns.Read(0, 1, page).IsSuccess);
            Assert.True(HardwareWork.Nanoseconds > before, "RAM namespace reads are the SSD's DMA: counted as hardware work");
        }
        finally
        {
            HardwareWork.Tracking = false;
        }
    }

    [Fact]
    public void The_wait_policy_sleeps_after_its_yield_window()
    {
        var w = new Waiter();
        Assert.False(w.Sleeping);
        var sw = Stopwatch.StartNew();
        while (!w.Sleeping) w.Pause();
        Assert.True(sw.Elapsed.TotalMicroseconds >= WaitPolicy.YieldMicroseconds * 0.9);
        sw.Restart();
        w.Pause(); // one sleep slice
        Assert.True(sw.Elapsed.TotalMicroseconds >= WaitPolicy.SleepMicroseconds * 0.5, $"slept {sw.Elapsed.TotalMicroseconds:F0} us");
        w.Reset();
        Assert.False(w.Sleeping);
    }

    private sealed class DirectoryCleanup(string path) : IDisposable
    {
        public void Dispose()
        {
            try { Directory.Delete(path, recursive: true); } catch (IOException) { }
        }
    }
}
