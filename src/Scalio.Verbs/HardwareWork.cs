using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Scalio.Verbs;

/// <summary>
/// Time a thread spends doing, in software, work that the hardware being emulated does by itself: the loopback fabric
/// executing a posted work request (on an RDMA NIC: the NIC's DMA after one doorbell write) and a RAM namespace moving
/// data (on an SSD: the device's DMA). A server subtracts it from its serving CPU, since it belongs to the NIC and the
/// SSDs, not to the server's cores. Wall time (<see cref="Stopwatch"/>, tens of ns a reading), kept only on threads
/// that ask for it.
/// </summary>
public static class HardwareWork
{
    [ThreadStatic] private static bool t_tracking;
    [ThreadStatic] private static long t_ticks;

    /// <summary>Whether the calling thread keeps count (off by default).</summary>
    public static bool Tracking
    {
        get => t_tracking;
        set => t_tracking = value;
    }

    /// <summary>Hardware work the calling thread has done so far, in nanoseconds.</summary>
    public static long Nanoseconds => (long)(t_ticks * (1e9 / Stopwatch.Frequency));

    /// <summary>Starts timing a piece of hardware work (0 when the thread does not keep count).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Begin() => t_tracking ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Ends timing a piece of hardware work begun with <see cref="Begin"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void End(long begin)
    {
        if (begin != 0) t_ticks += Stopwatch.GetTimestamp() - begin;
    }
}
