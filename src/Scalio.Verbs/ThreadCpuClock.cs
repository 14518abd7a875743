using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Scalio.Verbs;

/// <summary>
/// CPU time consumed by the calling thread, for "server CPU per operation" and "NIC time per operation" figures.
/// On Linux this is <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>: time the thread was descheduled (two shared cores,
/// a busy machine) or blocked in a system call such as <c>fdatasync</c> does not count, so the figure is the CPU the
/// design spends, not the wall time it waited. Elsewhere it falls back to the wall clock, and <see cref="IsThreadCpuTime"/>
/// says so.
/// </summary>
public static partial class ThreadCpuClock
{
    private const int ClockThreadCpuTimeId = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out Timespec value);

    [LibraryImport("libc", EntryPoint = "pthread_self")]
    private static partial nuint PthreadSelf();

    [LibraryImport("libc", EntryPoint = "pthread_getcpuclockid")]
    private static partial int PthreadGetCpuClockId(nuint thread, out int clock);

    /// <summary>A handle by which another thread can read the calling thread's CPU time (<see cref="OfThread"/>);
    /// 0 where thread CPU time is unavailable. Valid while the thread lives.</summary>
    public static nuint CurrentThreadHandle() => IsThreadCpuTime ? PthreadSelf() : 0;

    /// <summary>CPU time consumed so far by the thread of <paramref name="handle"/> (<see cref="CurrentThreadHandle"/>), in
    /// nanoseconds; -1 when it cannot be read.</summary>
    public static long OfThread(nuint handle)
    {
        if (handle == 0 || PthreadGetCpuClockId(handle, out int clock) != 0 || ClockGetTime(clock, out var t) != 0) return -1;
        return t.Seconds * 1_000_000_000 + t.Nanoseconds;
    }

    /// <summary>True when <see cref="NowNanoseconds"/> measures the thread's CPU time; false when it is wall time.</summary>
    public static bool IsThreadCpuTime { get; } = Probe();

    /// <summary>The calling thread's CPU time so far, in nanoseconds (wall time where thread CPU time is unavailable).</summary>
    public static long NowNanoseconds()
    {
        if (IsThreadCpuTime && ClockGetTime(ClockThreadCpuTimeId, out var t) == 0) return t.Seconds * 1_000_000_000 + t.Nanoseconds;
        return (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));
    }

    private static bool Probe()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return ClockGetTime(ClockThreadCpuTimeId, out _) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
