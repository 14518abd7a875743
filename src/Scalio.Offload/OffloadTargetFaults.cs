using System.Diagnostics;
using Scalio.Nvme;
using Scalio.Verbs;

namespace Scalio.Offload;

/// <summary>
/// Delay injection in the emulated offload target (tests and the checker harness only). The hook runs on the engine
/// thread before a command executes, so a delay there is a slow SSD read as the host sees it (a slow cache fill).
/// </summary>
public class OffloadTargetFaults
{
    /// <summary>Called on the engine thread (inline mode: the thread that delivered the capsule) before <paramref name="command"/> executes.</summary>
    /// <param name="command">The command capsule's submission queue entry.</param>
    public virtual void BeforeCommand(in SubmissionQueueEntry command) { }
}

/// <summary>
/// Seeded delays of NVMe Read commands in the offload target: the n-th command is delayed or not as a pure function of
/// (seed, n). Use more than one engine thread, or one slow command holds up every host on its engine.
/// </summary>
public sealed class SeededOffloadDelays : OffloadTargetFaults
{
    private readonly long _seed;
    private long _commands, _delayed;

    /// <summary>Creates the delays.</summary>
    /// <param name="seed">Seed of the schedule.</param>
    /// <param name="probability">Probability that a Read command is delayed.</param>
    /// <param name="maxMicroseconds">Longest delay (uniform in [1, max]).</param>
    public SeededOffloadDelays(long seed, double probability, int maxMicroseconds)
    {
        if (probability is < 0 or > 1) ThrowHelper.ArgumentOutOfRange(nameof(probability), "probability must be in [0, 1]");
        if (maxMicroseconds < 1) ThrowHelper.ArgumentOutOfRange(nameof(maxMicroseconds), "the longest delay must be at least 1 µs");
        _seed = seed;
        Probability = probability;
        MaxMicroseconds = maxMicroseconds;
    }

    /// <summary>Probability that a Read command is delayed.</summary>
    public double Probability { get; }

    /// <summary>Longest delay in microseconds.</summary>
    public int MaxMicroseconds { get; }

    /// <summary>Commands delayed so far.</summary>
    public long Delayed => Volatile.Read(ref _delayed);

    /// <inheritdoc/>
    public override void BeforeCommand(in SubmissionQueueEntry command)
    {
        if (command.Opcode != NvmOpcode.Read) return;
        ulong x = (ulong)Interlocked.Increment(ref _commands) * 0x9E3779B97F4A7C15UL ^ (ulong)_seed;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        if ((x >> 11) * (1.0 / (1UL << 53)) >= Probability) return;
        Interlocked.Increment(ref _delayed);
        long micros = 1 + (long)((x & 0x7FF_FFFF) % (ulong)MaxMicroseconds);
        SsdPerformanceModel.WaitUntil(Stopwatch.GetTimestamp() + micros * Stopwatch.Frequency / 1_000_000);
    }
}
