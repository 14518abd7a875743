namespace Scalio.Tests.Gate;

/// <summary>The gate itself: it fails on a deliberate allocation, in either scope, and passes a step that allocates nothing.</summary>
[Collection(GateCollection.Name)]
public sealed class AllocationGateSelfTests
{
    private object? _sink;
    private long _counter;

    [Theory]
    [InlineData(AllocationScope.CurrentThread)]
    [InlineData(AllocationScope.Process)]
    public void Gate_fails_on_a_deliberate_allocation(AllocationScope scope)
    {
        var ex = Assert.Throws<AllocationGateException>(() =>
            AllocationGate.AssertAllocationFree("deliberately allocating step", () => _sink = new byte[40], scope, operations: 200, warmup: 10));
        Assert.Contains("hot-path step 'deliberately allocating step' allocated", ex.Message);
        Assert.Contains("B/op", ex.Message);
        // A 40-byte array is at least 40 bytes of payload plus its header, every operation.
        Assert.True(ex.Measurement.BytesPerOperation >= 40, ex.Message);
        Assert.Equal(scope, ex.Measurement.Scope);
        Assert.NotNull(_sink);
    }

    [Theory]
    [InlineData(AllocationScope.CurrentThread)]
    [InlineData(AllocationScope.Process)]
    public void Gate_passes_a_step_that_allocates_nothing(AllocationScope scope)
    {
        var m = AllocationGate.AssertAllocationFree("counter increment", () => _counter++, scope, operations: 1000, warmup: 10);
        Assert.Equal(0, m.Bytes);
        Assert.True(_counter >= 1010);
    }

    [Fact]
    public void Process_scope_sees_an_allocation_made_on_another_thread()
    {
        // The hand-off polls plain fields: a blocking primitive may allocate on the caller under contention.
        int requested = 0, served = 0;
        bool stop = false;
        object? remote = null;
        var worker = new Thread(() =>
        {
            var spin = new SpinWait();
            while (!Volatile.Read(ref stop))
            {
                if (Volatile.Read(ref requested) == Volatile.Read(ref served)) { spin.SpinOnce(); continue; }
                remote = new byte[64];
                Interlocked.Increment(ref served);
            }
        }) { IsBackground = true };
        worker.Start();
        try
        {
            void HandOff()
            {
                int want = Interlocked.Increment(ref requested);
                var spin = new SpinWait();
                while (Volatile.Read(ref served) < want) spin.SpinOnce();
            }
            var thread = AllocationGate.Measure("hand-off to a worker", HandOff, AllocationScope.CurrentThread, operations: 200, warmup: 20);
            Assert.Equal(0, thread.Bytes); // the per-thread count is blind to the worker's allocation...
            var ex = Assert.Throws<AllocationGateException>(() =>
                AllocationGate.AssertAllocationFree("hand-off to a worker", HandOff, AllocationScope.Process, operations: 200, warmup: 20));
            Assert.True(ex.Measurement.BytesPerOperation >= 64, ex.Message); // ...the process-wide one is not.
        }
        finally
        {
            Volatile.Write(ref stop, true);
            Assert.True(worker.Join(5000));
        }
        Assert.NotNull(remote);
    }

    [Fact]
    public void Gate_rejects_bad_arguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => AllocationGate.Measure("x", () => { }, AllocationScope.CurrentThread, operations: 0));
        Assert.Throws<ArgumentException>(() => AllocationGate.Measure(" ", () => { }, AllocationScope.CurrentThread));
    }
}
