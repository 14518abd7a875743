namespace Scalio.Tests.Gate;

/// <summary>Whose allocations a gate measurement counts.</summary>
public enum AllocationScope
{
    /// <summary>
    /// <see cref="GC.GetAllocatedBytesForCurrentThread"/>: exact, but blind to work the step hands to other threads
    /// (server workers, the offload target, fabric threads). Every byte over all rounds counts.
    /// </summary>
    CurrentThread = 0,

    /// <summary>
    /// <see cref="GC.GetTotalAllocatedBytes(bool)"/> with <c>precise: true</c>: every thread of the process, so it sees
    /// what a server worker or the offload target allocates for the step. Other threads of the process can allocate
    /// at the same time (test runner, tiered JIT; a ~168 B allocation about every 100 ms was seen in the test host
    /// whatever the step did), so the gate measures up to 64 short rounds (10 ms or <c>operations</c>, whichever
    /// comes first) and counts the cleanest one: an allocation made by every operation shows in every round, an
    /// occasional one from elsewhere does not. The price: an allocation made only once in many operations (amortised
    /// growth) can slip through in this scope; the per-thread scope counts everything. Gate tests
    /// that use this scope run in the non-parallel <see cref="GateCollection"/> so no other test allocates meanwhile.
    /// </summary>
    Process = 1,
}

/// <summary>What one gate run measured.</summary>
/// <param name="Step">Name of the hot-path step.</param>
/// <param name="Scope">Whose allocations were counted.</param>
/// <param name="Operations">Operations in the counted span (all rounds for <see cref="AllocationScope.CurrentThread"/>,
/// the cleanest round for <see cref="AllocationScope.Process"/>).</param>
/// <param name="Bytes">Bytes allocated over those operations.</param>
internal readonly record struct AllocationMeasurement(string Step, AllocationScope Scope, int Operations, long Bytes)
{
    /// <summary>Bytes allocated per operation.</summary>
    public double BytesPerOperation => Operations == 0 ? 0 : (double)Bytes / Operations;

    /// <summary>The gate's verdict in words.</summary>
    public override string ToString()
        => $"hot-path step '{Step}' allocated {Bytes} B over {Operations} operations = {BytesPerOperation:F2} B/op " +
           $"({(Scope == AllocationScope.Process ? "all threads, cleanest round" : "current thread")})";
}

/// <summary>Thrown when a hot-path step allocates.</summary>
internal sealed class AllocationGateException(AllocationMeasurement measurement) : Exception(measurement.ToString())
{
    /// <summary>What was measured.</summary>
    public AllocationMeasurement Measurement { get; } = measurement;
}

/// <summary>
/// The allocation gate: runs an operation <c>warmup</c> times (JIT, tiering, first-use lazies), then
/// <c>rounds</c> x <c>operations</c> times while counting allocated bytes, and fails when the step allocated.
/// The operation is a delegate created before the measurement, so invoking it allocates nothing by itself.
/// </summary>
internal static class AllocationGate
{
    /// <summary>Least time a process-wide measurement warms up for, in milliseconds (after the counted warm-up).</summary>
    public const int ProcessWarmupMilliseconds = 300;

    /// <summary>Most rounds a process-wide measurement makes looking for a clean one.</summary>
    public const int ProcessRounds = 64;

    /// <summary>Longest a process-wide round runs, in milliseconds (it also stops after <c>operations</c>).</summary>
    public const int ProcessRoundMilliseconds = 10;

    /// <summary>Measures <paramref name="operation"/> without judging it.</summary>
    public static AllocationMeasurement Measure(string step, Action operation, AllocationScope scope,
        int operations = 500, int warmup = 200, int rounds = 3)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(step);
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentOutOfRangeException.ThrowIfLessThan(operations, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);

        for (int i = 0; i < warmup; i++) operation();

        if (scope == AllocationScope.Process)
        {
            // Tiered JIT promotes hot methods on a background thread about 100 ms after they got hot, and that thread
            // allocates: keep warming up until the promotions are behind us.
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency * ProcessWarmupMilliseconds / 1000;
            while (System.Diagnostics.Stopwatch.GetTimestamp() < until) operation();
        }

        if (scope == AllocationScope.CurrentThread)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int r = 0; r < rounds; r++)
            {
                for (int i = 0; i < operations; i++) operation();
            }
            long after = GC.GetAllocatedBytesForCurrentThread();
            return new AllocationMeasurement(step, scope, rounds * operations, after - before);
        }

        // Short rounds (at most ProcessRoundMilliseconds each): something in the test host allocates a few hundred
        // bytes every ~100 ms whatever the step does, so most short rounds are free of it; an allocation made by
        // every operation is in every round however short.
        long roundTicks = System.Diagnostics.Stopwatch.Frequency * ProcessRoundMilliseconds / 1000;
        long cleanest = long.MaxValue;
        int cleanestOps = 0;
        for (int r = 0; r < Math.Max(rounds, ProcessRounds); r++)
        {
            int done = 0;
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            long before = GC.GetTotalAllocatedBytes(precise: true);
            do
            {
                operation();
                done++;
            }
            while (done < operations && System.Diagnostics.Stopwatch.GetTimestamp() - start < roundTicks);
            long after = GC.GetTotalAllocatedBytes(precise: true);
            if (after - before < cleanest || (after - before == cleanest && done > cleanestOps))
            {
                cleanest = after - before;
                cleanestOps = done;
            }
            if (cleanest == 0 && r + 1 >= rounds) break;
        }
        return new AllocationMeasurement(step, scope, cleanestOps, cleanest);
    }

    /// <summary>Measures <paramref name="operation"/> and throws <see cref="AllocationGateException"/> when it allocated.</summary>
    public static AllocationMeasurement AssertAllocationFree(string step, Action operation, AllocationScope scope,
        int operations = 500, int warmup = 200, int rounds = 3)
    {
        var m = Measure(step, operation, scope, operations, warmup, rounds);
        if (m.Bytes != 0) throw new AllocationGateException(m);
        return m;
    }
}

/// <summary>Gate tests run alone: a process-wide allocation count must not see other tests' allocations.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GateCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Allocation gate";
}
