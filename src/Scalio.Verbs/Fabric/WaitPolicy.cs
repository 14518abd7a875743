using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Scalio.Verbs;

/// <summary>
/// The one rule by which every thread of every role waits — clients for completions and replies, server workers for
/// requests, the emulated NIC for capsules, the baselines alike:
/// <list type="number">
/// <item><b>spin</b> for <see cref="SpinMicroseconds"/> (a peer running on another core answers within that);</item>
/// <item><b>yield</b> the core until <see cref="YieldMicroseconds"/> have passed (a peer that needs this core gets it);</item>
/// <item><b>sleep</b> in slices of <see cref="SleepMicroseconds"/> (a slow peer costs nothing).</item>
/// </list>
/// Nobody ever blocks on a wait object that a producer must signal, so posting a completion or a reply never costs
/// the producer a wake-up system call — as on an RDMA NIC, which writes a completion into memory and moves on. The
/// price is up to one sleep slice of extra latency for a waiter that had already gone to sleep.
/// </summary>
public static partial class WaitPolicy
{
    /// <summary>Spin phase length, in microseconds.</summary>
    public const int SpinMicroseconds = 4;

    /// <summary>End of the yield phase, in microseconds after the wait began.</summary>
    public const int YieldMicroseconds = 100;

    /// <summary>One sleep slice, in microseconds.</summary>
    public const int SleepMicroseconds = 50;

    internal static readonly long SpinTicks = Stopwatch.Frequency * SpinMicroseconds / 1_000_000;
    internal static readonly long YieldTicks = Stopwatch.Frequency * YieldMicroseconds / 1_000_000;

    // Timer slack so a 50 us sleep is not rounded up by the default 50 us slack (set once per thread).
    [ThreadStatic] private static bool t_slackSet;

    /// <summary>Sleeps one slice (Linux: clock_nanosleep with 1 us timer slack; elsewhere Thread.Sleep(1)).</summary>
    public static void SleepSlice() => Sleep(SleepMicroseconds * 1000L);

    /// <summary>Longest sleep slice, in microseconds, of a wait that has gone on for a long time.</summary>
    public const int MaxSleepMicroseconds = 1000;

    /// <summary>The sleep slice of a wait that has lasted <paramref name="elapsedTicks"/>: a quarter of it, within
    /// <see cref="SleepMicroseconds"/>..<see cref="MaxSleepMicroseconds"/>. Many threads waiting on slow devices then
    /// wake a few times per wait, not every 50 µs, and starve nobody of the cores; a wait ends at most 25 % late.</summary>
    public static long SliceNanoseconds(long elapsedTicks)
    {
        long nanos = (long)(elapsedTicks * (1e9 / Stopwatch.Frequency)) / 4;
        return Math.Clamp(nanos, SleepMicroseconds * 1000L, MaxSleepMicroseconds * 1000L);
    }

    /// <summary>Sleeps about <paramref name="nanoseconds"/> (Linux: clock_nanosleep with 1 us timer slack).</summary>
    public static void Sleep(long nanoseconds)
    {
        if (nanoseconds <= 0) return;
        if (!OperatingSystem.IsLinux())
        {
            Thread.Sleep((int)Math.Max(1, nanoseconds / 1_000_000));
            return;
        }
        if (!t_slackSet)
        {
            t_slackSet = true;
            _ = Prctl(PrSetTimerSlack, 1000, 0, 0, 0);
        }
        var request = new Timespec { Seconds = nanoseconds / 1_000_000_000, Nanoseconds = nanoseconds % 1_000_000_000 };
        _ = ClockNanosleep(ClockMonotonic, 0, in request, out _); // EINTR: the waiter just polls sooner
    }

    // Below this much time left, WaitUntil yields instead of sleeping: a sleep would overshoot the deadline.
    private const long WaitUntilYieldNs = 30_000;

    [ThreadStatic] private static long t_waitUntilCpuNanoseconds;

    /// <summary>Thread CPU time the calling thread has spent inside <see cref="WaitUntil"/>, in nanoseconds: time spent
    /// waiting on something modelled (an SSD's latency, an injected fabric delay), which a server subtracts from its
    /// serving time.</summary>
    public static long ThreadWaitUntilCpuNanoseconds => t_waitUntilCpuNanoseconds;

    /// <summary>
    /// Waits until <paramref name="timestamp"/>: sleeps (<see cref="Sleep"/>) while more than 30 µs remain, then
    /// yields the processor. The thread CPU time spent here is added to <see cref="ThreadWaitUntilCpuNanoseconds"/>.
    /// </summary>
    /// <param name="timestamp">A <see cref="Stopwatch"/> timestamp.</param>
    public static void WaitUntil(long timestamp)
    {
        if (timestamp - Stopwatch.GetTimestamp() <= 0)
        {
            return;
        }

        long cpu = ThreadCpuClock.NowNanoseconds();
        double nsPerTick = 1e9 / Stopwatch.Frequency;
        while (true)
        {
            long remaining = timestamp - Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                break;
            }

            long remainingNs = (long)(remaining * nsPerTick);
            if (remainingNs > WaitUntilYieldNs)
            {
                Sleep(remainingNs - WaitUntilYieldNs / 2);
            }
            else
            {
                Thread.Yield();
            }
        }

        t_waitUntilCpuNanoseconds += ThreadCpuClock.NowNanoseconds() - cpu;
    }

    private const int PrSetTimerSlack = 29;
    private const int ClockMonotonic = 1;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "prctl")]
    private static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    private static partial int ClockNanosleep(int clockId, int flags, in Timespec request, out Timespec remaining);
}

/// <summary>
/// One wait by <see cref="WaitPolicy"/>: call <see cref="Pause"/> each time a poll found nothing. A default value is a
/// fresh wait. Allocation-free.
/// </summary>
public struct Waiter
{
    private long _start;

    /// <summary>Ticks (<see cref="Stopwatch"/>) since the first <see cref="Pause"/>.</summary>
    public readonly long ElapsedTicks => _start == 0 ? 0 : Stopwatch.GetTimestamp() - _start;

    /// <summary>True once the wait has reached its sleep phase (the peer is slow or idle).</summary>
    public readonly bool Sleeping => _start != 0 && Stopwatch.GetTimestamp() - _start >= WaitPolicy.YieldTicks;

    /// <summary>Pauses once, by the phase the wait is in.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Pause()
    {
        long now = Stopwatch.GetTimestamp();
        if (_start == 0) _start = now;
        long elapsed = now - _start;
        if (elapsed < WaitPolicy.SpinTicks) Thread.SpinWait(4);
        else if (elapsed < WaitPolicy.YieldTicks) Thread.Yield();
        else WaitPolicy.Sleep(WaitPolicy.SliceNanoseconds(elapsed));
    }

    /// <summary>Pauses once, but never past the spin and yield phases: for a thread that drives someone else's progress
    /// (a provider's manual progress) and must keep polling.</summary>
    public void PauseShort()
    {
        long now = Stopwatch.GetTimestamp();
        if (_start == 0) _start = now;
        if (now - _start < WaitPolicy.SpinTicks) Thread.SpinWait(4);
        else Thread.Yield();
    }

    /// <summary>Starts over (the peer answered; the next wait is fresh).</summary>
    public void Reset() => _start = 0;
}
