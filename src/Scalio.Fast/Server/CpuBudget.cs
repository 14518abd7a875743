using System.Diagnostics;
using Scalio.Verbs;

namespace Scalio.Fast.Server;

/// <summary>
/// A MODEL of a server with fewer (or slower) cores than this host: the server's serving work — handling requests,
/// committing batches, invalidating, filling — may spend at most <see cref="Cores"/> core-seconds of thread CPU time
/// per second, summed over its worker threads. Workers charge what each serving step cost (thread CPU time, waits on
/// devices excluded) and, before the next step, wait while the budget is overdrawn. Every system in a comparison runs
/// its server under the same budget, so throughput is read off the run, not projected.
/// </summary>
/// <remarks>A GCRA over virtual time: each charge of c CPU-ns moves the budget's clock c / cores ns ahead; a worker may
/// serve while that clock is not ahead of real time, and an idle budget banks at most <see cref="Burst"/>.</remarks>
public sealed class CpuBudget
{
    private readonly double _ticksPerCpuNanosecond;
    private readonly long _burstTicks;
    private long _clock; // Stopwatch ticks up to which the budget has been spent
    private long _throttledTicks, _chargedNanoseconds;

    /// <summary>Creates a budget of <paramref name="cores"/> cores (e.g. 0.05 = a twentieth of one core).</summary>
    /// <param name="cores">Core-seconds per second, greater than 0 and at most 1024.</param>
    /// <param name="burst">How much unused budget an idle server banks, in wall time (default: 500 µs of CPU, i.e.
    /// 0.5 ms / <paramref name="cores"/>, so a small budget still serves a queue in a few long steps rather than many
    /// short ones).</param>
    public CpuBudget(double cores, TimeSpan? burst = null)
    {
        if (!(cores > 0 && cores <= 1024)) throw new ArgumentOutOfRangeException(nameof(cores), cores, "server cores must be in (0, 1024]");
        Cores = cores;
        Burst = burst ?? TimeSpan.FromMilliseconds(0.5 / cores);
        if (Burst < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(burst), "burst must not be negative");
        _ticksPerCpuNanosecond = Stopwatch.Frequency / 1e9 / cores;
        _burstTicks = (long)(Burst.TotalSeconds * Stopwatch.Frequency);
        _clock = Stopwatch.GetTimestamp();
    }

    /// <summary>Core-seconds of serving per second.</summary>
    public double Cores { get; }

    /// <summary>How far ahead of real time the budget may be spent.</summary>
    public TimeSpan Burst { get; }

    /// <summary>Wall time workers spent waiting for the budget, summed over workers, in nanoseconds.</summary>
    public long ThrottledNanoseconds => (long)(Volatile.Read(ref _throttledTicks) * (1e9 / Stopwatch.Frequency));

    /// <summary>CPU time charged so far, in nanoseconds.</summary>
    public long ChargedNanoseconds => Volatile.Read(ref _chargedNanoseconds);

    /// <summary>Charges <paramref name="cpuNanoseconds"/> of serving work.</summary>
    public void Charge(long cpuNanoseconds)
    {
        if (cpuNanoseconds <= 0) return;
        Interlocked.Add(ref _chargedNanoseconds, cpuNanoseconds);
        long cost = (long)(cpuNanoseconds * _ticksPerCpuNanosecond);
        long now = Stopwatch.GetTimestamp();
        while (true)
        {
            long clock = Volatile.Read(ref _clock);
            // An idle budget does not bank more than the burst.
            long next = Math.Max(clock, now - _burstTicks) + cost;
            if (Interlocked.CompareExchange(ref _clock, next, clock) == clock) return;
        }
    }

    /// <summary>How far the budget is overdrawn, in <see cref="Stopwatch"/> ticks (0 or less: a worker may serve).</summary>
    public long OverdraftTicks => Volatile.Read(ref _clock) - Stopwatch.GetTimestamp();

    /// <summary>Waits part of an overdraft of <paramref name="overdraftTicks"/>: at most one 50 µs sleep (the last few
    /// microseconds yield), so a worker can do its NIC-side chores (sending replies that are due) between pauses.</summary>
    public void Pause(long overdraftTicks)
    {
        if (overdraftTicks <= 0) return;
        long start = Stopwatch.GetTimestamp();
        long ns = (long)(overdraftTicks * (1e9 / Stopwatch.Frequency));
        if (ns > 20_000) WaitPolicy.Sleep(Math.Min(ns - 10_000, WaitPolicy.SleepMicroseconds * 1000L));
        else Thread.Yield();
        Interlocked.Add(ref _throttledTicks, Stopwatch.GetTimestamp() - start);
    }

    /// <summary>Waits while the budget is overdrawn.</summary>
    public void WaitForCredit()
    {
        long over;
        while ((over = OverdraftTicks) > 0) Pause(over);
    }
}
