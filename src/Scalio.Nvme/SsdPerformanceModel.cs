using System.Diagnostics;
using Scalio.Verbs;

namespace Scalio.Nvme;

/// <summary>Kind of I/O, for the SSD performance model.</summary>
public enum NvmeIoKind
{
    /// <summary>A Read command.</summary>
    Read,

    /// <summary>A Write command.</summary>
    Write,

    /// <summary>A Flush command.</summary>
    Flush,
}

/// <summary>
/// Parameters of the SSD performance MODEL (not a device): an IOPS cap per device and a fixed latency per I/O.
/// The defaults are those of a fast datacenter NVMe SSD.
/// </summary>
public sealed class SsdModelOptions
{
    /// <summary>Commands per second the modelled device admits (each command counts once, whatever its size). Default 500,000.</summary>
    public int MaxIops { get; init; } = 500_000;

    /// <summary>Commands admitted back-to-back after an idle period (token bucket depth), at least 1. Default 16.</summary>
    public int Burst { get; init; } = 16;

    /// <summary>Added latency of a read. Default 80 µs.</summary>
    public TimeSpan ReadLatency { get; init; } = TimeSpan.FromMicroseconds(80);

    /// <summary>Added latency of a write. Default 20 µs.</summary>
    public TimeSpan WriteLatency { get; init; } = TimeSpan.FromMicroseconds(20);

    /// <summary>Added latency of a flush. Default 20 µs.</summary>
    public TimeSpan FlushLatency { get; init; } = TimeSpan.FromMicroseconds(20);

    internal void Validate()
    {
        if (MaxIops <= 0)
        {
            NvmeThrow.Argument(nameof(MaxIops), $"MaxIops must be positive, not {MaxIops}.");
        }

        if (Burst < 1)
        {
            NvmeThrow.Argument(nameof(Burst), $"Burst must be at least 1, not {Burst}.");
        }

        if (ReadLatency < TimeSpan.Zero || WriteLatency < TimeSpan.Zero || FlushLatency < TimeSpan.Zero)
        {
            NvmeThrow.Argument(nameof(ReadLatency), "Latencies must not be negative.");
        }
    }
}

/// <summary>
/// An SSD performance MODEL, not a device: a lock-free token bucket (GCRA) caps the admission rate at
/// <see cref="SsdModelOptions.MaxIops"/>, and each admitted I/O completes a fixed latency after admission.
/// <see cref="Reserve(NvmeIoKind)"/> returns the modelled completion time, so an engine can schedule the
/// completion without blocking; <see cref="ModeledNamespace"/> instead waits for it. Share one model between
/// namespaces to make them one device.
/// </summary>
public sealed class SsdPerformanceModel
{
    private readonly long _interval;
    private readonly long _tolerance;
    private readonly long _readLatency;
    private readonly long _writeLatency;
    private readonly long _flushLatency;
    private long _theoreticalArrival;

    /// <summary>Creates a model.</summary>
    /// <param name="options">Model parameters.</param>
    public SsdPerformanceModel(SsdModelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _interval = Math.Max(1, Stopwatch.Frequency / options.MaxIops);
        _tolerance = (options.Burst - 1) * _interval;
        _readLatency = ToTicks(options.ReadLatency);
        _writeLatency = ToTicks(options.WriteLatency);
        _flushLatency = ToTicks(options.FlushLatency);
        _theoreticalArrival = Stopwatch.GetTimestamp();
    }

    /// <summary>The model's parameters.</summary>
    public SsdModelOptions Options { get; }

    /// <summary>Admits one I/O now and returns its modelled completion time (a <see cref="Stopwatch"/> timestamp).</summary>
    /// <param name="kind">Read, write or flush (selects the latency).</param>
    public long Reserve(NvmeIoKind kind) => Reserve(kind, Stopwatch.GetTimestamp());

    /// <summary>Admits one I/O arriving at <paramref name="nowTimestamp"/> and returns its modelled completion time.</summary>
    /// <param name="kind">Read, write or flush (selects the latency).</param>
    /// <param name="nowTimestamp">Arrival time, a <see cref="Stopwatch"/> timestamp.</param>
    public long Reserve(NvmeIoKind kind, long nowTimestamp)
    {
        long admitted;
        while (true)
        {
            long tat = Volatile.Read(ref _theoreticalArrival);
            long start = Math.Max(tat, nowTimestamp);
            if (Interlocked.CompareExchange(ref _theoreticalArrival, start + _interval, tat) == tat)
            {
                admitted = Math.Max(nowTimestamp, start - _tolerance);
                break;
            }
        }

        return admitted + kind switch
        {
            NvmeIoKind.Read => _readLatency,
            NvmeIoKind.Write => _writeLatency,
            _ => _flushLatency,
        };
    }

    [ThreadStatic] private static bool t_deferWaits;
    [ThreadStatic] private static long t_deferredUntil;

    /// <summary>
    /// When set on a thread, a <see cref="ModeledNamespace"/> I/O issued by that thread does not wait for its modelled
    /// completion: it records it (<see cref="TakeDeferredCompletion"/>) and returns once the data has moved, so the
    /// thread can go on serving, as a server core does with an asynchronous (SPDK-style) queue, and act on the
    /// completion later (e.g. reply only then).
    /// </summary>
    public static bool DeferWaits
    {
        get => t_deferWaits;
        set => t_deferWaits = value;
    }

    /// <summary>The latest modelled completion time of this thread's deferred I/Os since the last call (a
    /// <see cref="Stopwatch"/> timestamp; 0 when none), and starts over.</summary>
    public static long TakeDeferredCompletion()
    {
        long t = t_deferredUntil;
        t_deferredUntil = 0;
        return t;
    }

    internal static void Defer(long completion)
    {
        if (completion > t_deferredUntil) t_deferredUntil = completion;
    }

    /// <summary>Thread CPU time the calling thread has spent inside <see cref="WaitUntil"/> (waiting for a modelled
    /// device), in nanoseconds: a server subtracts it from its serving time, since a real server's core does other work
    /// while its SSD works. The count is <see cref="WaitPolicy.ThreadWaitUntilCpuNanoseconds"/>, which the loopback
    /// fabric's injected delays add to as well.</summary>
    public static long ThreadWaitCpuNanoseconds => WaitPolicy.ThreadWaitUntilCpuNanoseconds;

    /// <summary>
    /// Waits until <paramref name="timestamp"/> by <see cref="WaitPolicy.WaitUntil"/>: sleeps while more than 30 µs
    /// remain, then yields the processor. The thread CPU time spent here is added to <see cref="ThreadWaitCpuNanoseconds"/>.
    /// </summary>
    /// <param name="timestamp">A <see cref="Stopwatch"/> timestamp.</param>
    public static void WaitUntil(long timestamp) => WaitPolicy.WaitUntil(timestamp);

    private static long ToTicks(TimeSpan t) => (long)(t.Ticks * (Stopwatch.Frequency / (double)TimeSpan.TicksPerSecond));
}
