using System.Diagnostics;

namespace Scalio.Verbs;

/// <summary>
/// Thrown into a posting thread by fault injection to simulate the death of the client process at that point:
/// the request does not execute, the queue pair goes to the error state, and the thread is expected to abandon
/// everything it holds (for a cache client: a slot it locked for filling stays FILLING until reclaimed).
/// </summary>
public sealed class LoopbackCrashException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LoopbackCrashException() : base("simulated client crash (fault injection)") { }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What crashed where.</param>
    public LoopbackCrashException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">What crashed where.</param>
    /// <param name="innerException">The cause.</param>
    public LoopbackCrashException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>
/// A seeded fault injector for the loopback provider (tests and the checker harness only). Each decision is a pure
/// function of (<see cref="Seed"/>, queue pair number, index of the request on that queue pair), so a queue pair
/// sees the same fault schedule on every run with the same seed and the same construction order; the thread
/// interleaving around it is the operating system's. Faults:
/// <list type="bullet">
/// <item>delays before a request executes (reorders effects across queue pairs),</item>
/// <item>delays between execution and completion (a completion arrives late, after others' later effects),</item>
/// <item>slow writes: WRITEs of more than 8 bytes into <see cref="TargetRemoteKey"/>'s region (a cache fill's body)
/// wait long, which widens the window between a filler's SSD read and its publish,</item>
/// <item>torn READs of <see cref="TargetRemoteKey"/>'s region at chosen byte boundaries, with a pause between the halves
/// so that concurrent writers land in between,</item>
/// <item>crashes: a WRITE of more than 8 bytes into <see cref="TargetRemoteKey"/>'s region throws
/// <see cref="LoopbackCrashException"/> instead of executing (a filler killed mid-fill).</item>
/// </list>
/// Targeted faults apply only once <see cref="TargetRemoteKey"/> is set (the region is usually created after the fabric).
/// </summary>
public sealed class LoopbackFaultInjector : LoopbackFaults
{
    private const int CounterSlots = 1 << 14;
    private readonly long[] _requestCounters = new long[CounterSlots];
    private int[] _tearBoundaries = [];
    private long _delays, _completionDelays, _slowWrites, _tears, _crashes;

    /// <summary>Creates an injector; every fault starts disabled (probability 0).</summary>
    /// <param name="seed">Seed of the fault schedule.</param>
    public LoopbackFaultInjector(long seed) => Seed = seed;

    /// <summary>Seed of the fault schedule.</summary>
    public long Seed { get; }

    /// <summary>Remote key of the region that slow writes, tears and crashes target (0: none yet).</summary>
    public uint TargetRemoteKey { get; set; }

    /// <summary>Probability that a request waits before executing.</summary>
    public double DelayProbability { get; set; }

    /// <summary>Longest such wait, in microseconds (uniform in [1, max]).</summary>
    public int MaxDelayMicroseconds { get; set; } = 100;

    /// <summary>Probability that a completion is delayed after the request took effect.</summary>
    public double CompletionDelayProbability { get; set; }

    /// <summary>Longest completion delay, in microseconds (uniform in [1, max]).</summary>
    public int MaxCompletionDelayMicroseconds { get; set; } = 100;

    /// <summary>Probability that a WRITE of more than 8 bytes into the target region is slow.</summary>
    public double SlowWriteProbability { get; set; }

    /// <summary>Shortest slow write, in microseconds.</summary>
    public int MinSlowWriteMicroseconds { get; set; } = 500;

    /// <summary>Longest slow write, in microseconds.</summary>
    public int MaxSlowWriteMicroseconds { get; set; } = 2000;

    /// <summary>Probability that a READ of the target region is torn.</summary>
    public double TearProbability { get; set; }

    /// <summary>Size of the units a READ is cut in (a cache slot); the tear falls at <c>unit * k + boundary</c>.</summary>
    public int TearUnit { get; set; } = 64;

    /// <summary>Byte boundaries inside a unit at which tears may fall (each in [1, TearUnit]).</summary>
    public IReadOnlyList<int> TearBoundaries
    {
        get => _tearBoundaries;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            foreach (int b in value)
            {
                if (b < 1) ThrowHelper.ArgumentOutOfRange(nameof(TearBoundaries), "tear boundaries must be positive");
            }
            _tearBoundaries = [.. value];
        }
    }

    /// <summary>Longest pause between the halves of a torn READ, in microseconds (uniform in [0, max]).</summary>
    public int MaxTearPauseMicroseconds { get; set; } = 50;

    /// <summary>Probability that a WRITE of more than 8 bytes into the target region crashes its poster instead.</summary>
    public double CrashProbability { get; set; }

    /// <summary>Most crashes this injector causes.</summary>
    public int MaxCrashes { get; set; }

    /// <summary>Requests delayed before executing so far.</summary>
    public long Delays => Volatile.Read(ref _delays);

    /// <summary>Completions delayed so far.</summary>
    public long CompletionDelays => Volatile.Read(ref _completionDelays);

    /// <summary>Slow writes so far.</summary>
    public long SlowWrites => Volatile.Read(ref _slowWrites);

    /// <summary>Torn READs so far.</summary>
    public long Tears => Volatile.Read(ref _tears);

    /// <summary>Crashes so far.</summary>
    public long Crashes => Math.Min(Volatile.Read(ref _crashes), MaxCrashes);

    /// <inheritdoc/>
    public override void BeforeExecute(uint queuePairNumber, in WorkRequest request)
    {
        ulong r = NextRandom(queuePairNumber);
        bool targetedWrite = TargetRemoteKey != 0 && request.RemoteKey == TargetRemoteKey
            && request.Opcode is WorkOpcode.Write or WorkOpcode.WriteWithImmediate && request.Length > 8;
        if (targetedWrite)
        {
            if (Chance(r, 1, CrashProbability) && Interlocked.Increment(ref _crashes) <= MaxCrashes)
                throw new LoopbackCrashException($"simulated crash of the poster on queue pair {queuePairNumber} before a {request.Length}-byte WRITE");
            if (Chance(r, 2, SlowWriteProbability))
            {
                Interlocked.Increment(ref _slowWrites);
                int span = Math.Max(0, MaxSlowWriteMicroseconds - MinSlowWriteMicroseconds);
                Wait(MinSlowWriteMicroseconds + Pick(r, 3, span + 1));
                return;
            }
        }
        if (Chance(r, 4, DelayProbability))
        {
            Interlocked.Increment(ref _delays);
            Wait(1 + Pick(r, 5, Math.Max(1, MaxDelayMicroseconds)));
        }
    }

    /// <inheritdoc/>
    public override void BeforeCompletion(uint queuePairNumber, in WorkRequest request)
    {
        if (CompletionDelayProbability <= 0) return;
        ulong r = Mix((ulong)Seed ^ 0xC0FFEEUL, queuePairNumber, (ulong)Volatile.Read(ref _requestCounters[queuePairNumber & (CounterSlots - 1)]));
        if (!Chance(r, 6, CompletionDelayProbability)) return;
        Interlocked.Increment(ref _completionDelays);
        Wait(1 + Pick(r, 7, Math.Max(1, MaxCompletionDelayMicroseconds)));
    }

    /// <inheritdoc/>
    public override int TearReadAt(uint queuePairNumber, uint remoteKey, ulong remoteOffset, uint length)
    {
        var boundaries = _tearBoundaries;
        if (TearProbability <= 0 || boundaries.Length == 0 || TargetRemoteKey == 0 || remoteKey != TargetRemoteKey || TearUnit < 1) return 0;
        ulong r = Mix((ulong)Seed ^ 0x7EA2UL, queuePairNumber, (ulong)Volatile.Read(ref _requestCounters[queuePairNumber & (CounterSlots - 1)]));
        if (!Chance(r, 8, TearProbability)) return 0;
        int units = (int)Math.Max(1, length / (uint)TearUnit);
        long at = (long)Pick(r, 9, units) * TearUnit + boundaries[Pick(r, 10, boundaries.Length)];
        if (at <= 0 || at >= length) return 0;
        Interlocked.Increment(ref _tears);
        return (int)at;
    }

    /// <inheritdoc/>
    public override void BetweenTornHalves(uint queuePairNumber)
    {
        ulong r = Mix((ulong)Seed ^ 0x4A1FUL, queuePairNumber, (ulong)Volatile.Read(ref _requestCounters[queuePairNumber & (CounterSlots - 1)]));
        int pause = Pick(r, 11, MaxTearPauseMicroseconds + 1);
        if (pause == 0) Thread.Yield(); else Wait(pause);
    }

    /// <summary>Short readable summary of the faults injected so far.</summary>
    public override string ToString()
        => $"{Delays} delayed requests, {CompletionDelays} delayed completions, {SlowWrites} slow fills, {Tears} torn READs, {Crashes} crashes";

    private ulong NextRandom(uint queuePairNumber)
    {
        ulong index = (ulong)Interlocked.Increment(ref _requestCounters[queuePairNumber & (CounterSlots - 1)]);
        return Mix((ulong)Seed, queuePairNumber, index);
    }

    private static ulong Mix(ulong seed, uint queuePairNumber, ulong index)
        => SplitMix(seed ^ SplitMix(((ulong)queuePairNumber << 40) ^ index));

    private static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    // Independent draws from one random word: each purpose re-mixes it with its own salt.
    private static bool Chance(ulong r, ulong salt, double probability)
        => probability > 0 && (SplitMix(r ^ (salt * 0x9E3779B97F4A7C15UL)) >> 11) * (1.0 / (1UL << 53)) < probability;

    private static int Pick(ulong r, ulong salt, int bound)
        => bound <= 1 ? 0 : (int)(SplitMix(r ^ (salt * 0xD1B54A32D192ED03UL)) % (ulong)bound);

    private static void Wait(int microseconds)
    {
        if (microseconds <= 0) return;
        WaitPolicy.WaitUntil(Stopwatch.GetTimestamp() + microseconds * Stopwatch.Frequency / 1_000_000);
    }
}
