#pragma warning disable CA2012 // many ValueTasks in flight on purpose, each consumed exactly once
using System.Text;
using Scalio.Fast;
using Scalio.Fast.Client;
using Xunit.Abstractions;

namespace Scalio.Tests.Gate;

/// <summary>
/// The allocation gate over the async client: starting GETs and PUTs, the pump batching and running them, completing
/// their pooled sources and the callers' awaits allocate nothing in steady state.
/// </summary>
[Collection(GateCollection.Name)]
public sealed class AsyncClientAllocationGateTests : IClassFixture<AsyncClientAllocationGateTests.StoreFixture>
{
    /// <summary>One loaded store and async client for the class.</summary>
    public sealed class StoreFixture : IDisposable
    {
        public const int KeyCount = 4096, HotKeys = 16, InFlight = 64;

        internal ScalioStore Store { get; } = new(new ScalioStoreOptions { ExpectedRecords = 20_000, CacheBuckets = 64 });

        internal ScalioAsyncClient Client { get; }

        internal byte[][] Keys { get; } = new byte[KeyCount][];

        internal byte[][] Buffers { get; } = new byte[InFlight][];

        internal ValueTask<ScalioGetResult>[] Tasks { get; } = new ValueTask<ScalioGetResult>[InFlight];

        public StoreFixture()
        {
            Client = Store.OpenAsyncClient();
            using var c = Store.OpenClient();
            for (int i = 0; i < KeyCount; i++)
            {
                Keys[i] = Encoding.ASCII.GetBytes($"user{i:D10}");
                Assert.Equal(OpStatus.Ok, c.Put(Keys[i], new byte[64]));
            }
            for (int j = 0; j < InFlight; j++) Buffers[j] = new byte[Client.Layout.ValueCapacity];
        }

        /// <inheritdoc />
        public void Dispose() => Store.Dispose();
    }

    private readonly StoreFixture _f;
    private readonly ITestOutputHelper _output;
    private int _next, _bad;

    /// <summary>Takes the shared store.</summary>
    public AsyncClientAllocationGateTests(StoreFixture fixture, ITestOutputHelper output)
    {
        _f = fixture;
        _output = output;
        // The test runner's synchronization context would take every continuation as a posted (allocated) work item;
        // an application's thread-pool code has none.
        SynchronizationContext.SetSynchronizationContext(null);
    }

    /// <summary>Spins (no allocation, no blocking primitive) until <paramref name="task"/> completes.</summary>
    private static void SpinUntilDone(ValueTask task)
    {
        var spin = new SpinWait();
        while (!task.IsCompleted) spin.SpinOnce(sleep1Threshold: -1);
        task.GetAwaiter().GetResult();
    }

    /// <summary>64 GETs of hot keys in flight from this thread, then each result consumed: no await, no continuation.</summary>
    private void Fire64HitsAndCollect()
    {
        var tasks = _f.Tasks;
        for (int j = 0; j < tasks.Length; j++) tasks[j] = _f.Client.GetAsync(_f.Keys[j % StoreFixture.HotKeys], _f.Buffers[j]);
        for (int j = 0; j < tasks.Length; j++)
        {
            var spin = new SpinWait();
            while (!tasks[j].IsCompleted) spin.SpinOnce(sleep1Threshold: -1);
            if (tasks[j].Result.Status != OpStatus.Ok) _bad++;
        }
    }

    /// <summary>Rounds of 64 GETs over all keys (mostly misses with fill on this cache) in flight, each awaited.</summary>
    private async ValueTask GetRounds(int rounds)
    {
        var tasks = _f.Tasks;
        for (int r = 0; r < rounds; r++)
        {
            for (int j = 0; j < tasks.Length; j++)
                tasks[j] = _f.Client.GetAsync(_f.Keys[_next = (_next + 1) & (StoreFixture.KeyCount - 1)], _f.Buffers[j]);
            for (int j = 0; j < tasks.Length; j++)
            {
                var res = await tasks[j];
                if (res.Status != OpStatus.Ok) _bad++;
            }
        }
    }

    private async ValueTask PutRounds(int rounds)
    {
        for (int r = 0; r < rounds; r++)
        {
            var st = await _f.Client.PutAsync(_f.Keys[_next = (_next + 1) & (StoreFixture.KeyCount - 1)], _f.Buffers[0].AsMemory(0, 64));
            if (st != OpStatus.Ok) _bad++;
        }
    }

    /// <summary>Most bytes one measured invocation of an awaiting loop may allocate: its own async state-machine box and
    /// what goes with its first suspension (~800 B measured, once per invocation, the caller's, not the client's).</summary>
    private const int LoopAllowance = 1024;

    /// <summary>Asserts that awaiting 5x the operations in one invocation allocates no more (beyond 64 B of noise) and
    /// that an invocation allocates no more than <see cref="LoopAllowance"/>.</summary>
    private void AssertNoAllocationPerOperation(string step, Func<int, ValueTask> loop, int rounds, int operationsPerRound)
    {
        long small = CleanestLoop(() => loop(rounds));
        long large = CleanestLoop(() => loop(5 * rounds));
        string m = $"{step}: {small} B over {rounds * operationsPerRound} operations, {large} B over {5 * rounds * operationsPerRound} (all threads, cleanest invocation)";
        _output.WriteLine(m);
        Assert.True(large - small <= 64 && large <= LoopAllowance, m);
    }

    /// <summary>
    /// Process-wide bytes of the cleanest of several invocations of <paramref name="loop"/>, each awaiting
    /// <paramref name="operations"/> operations. An async method allocates its state-machine box once per invocation
    /// (its first real await), so a loop of many awaits inside one invocation isolates the client's own cost: any
    /// allocation per operation would be at least 24 B x operations, far above <see cref="LoopAllowance"/>.
    /// </summary>
    private static long CleanestLoop(Func<ValueTask> loop)
    {
        for (int i = 0; i < 3; i++) SpinUntilDone(loop()); // JIT, tiering, pool and queue growth
        Thread.Sleep(AllocationGate.ProcessWarmupMilliseconds); // let tiered-JIT promotions finish
        long cleanest = long.MaxValue;
        for (int r = 0; r < 12; r++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            SpinUntilDone(loop());
            cleanest = Math.Min(cleanest, GC.GetTotalAllocatedBytes(precise: true) - before);
        }
        return cleanest;
    }

    [Fact]
    public void Async_get_hits_64_in_flight_allocate_nothing_on_the_caller_thread()
    {
        long hits = _f.Store.ReadCounters().Clients.Hits;
        AllocationGate.AssertAllocationFree("async GET hits, 64 in flight (caller thread)", Fire64HitsAndCollect, AllocationScope.CurrentThread,
            operations: 50, warmup: 50);
        Assert.Equal(0, _bad);
        Assert.True(_f.Store.ReadCounters().Clients.Hits - hits >= 150 * 64, "expected cache hits");
    }

    [Fact]
    public void Awaited_async_gets_with_misses_allocate_nothing_per_operation_in_the_process()
    {
        const int rounds = 10; // x 64 GETs per invocation
        var c0 = _f.Store.ReadCounters().Clients;
        AssertNoAllocationPerOperation("async GETs awaited (64 in flight, misses with fill)", GetRounds, rounds, 64);
        Assert.Equal(0, _bad);
        var c1 = _f.Store.ReadCounters().Clients;
        Assert.True(c1.Fills - c0.Fills >= 500, $"expected fills: {c1.Fills - c0.Fills}");
        Assert.True(c1.BatchedGets - c0.BatchedGets >= 2 * (c1.Batches - c0.Batches), "the pump must batch the GETs in flight");
    }

    [Fact]
    public void Awaited_async_puts_allocate_nothing_per_operation_in_the_process()
    {
        const int rounds = 100;
        AssertNoAllocationPerOperation("async PUTs awaited", PutRounds, rounds, 1);
        Assert.Equal(0, _bad);
    }
}
