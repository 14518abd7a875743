using System.Diagnostics;
using Scalio.Fast;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary>What a server costs per request when it never waits for work (DESIGN.md "Reproducing the figures").</summary>
/// <param name="Kind">"put" (updates of loaded records) or "get" (reads of uniformly chosen loaded records: with a
/// cache of a tenth of the records most of them miss).</param>
/// <param name="Operations">Operations the clients completed in the phase.</param>
/// <param name="ServerRequests">Requests the server handled in the phase.</param>
/// <param name="ServerCpuNanoseconds">Serving CPU time the server charged in the phase.</param>
/// <param name="SsdWrites">SSD writes in the phase.</param>
/// <param name="Seconds">Length of the phase.</param>
/// <param name="Threads">Client threads (each one operation outstanding).</param>
public readonly record struct SaturationResult(string Kind, long Operations, long ServerRequests, long ServerCpuNanoseconds,
    long SsdWrites, double Seconds, int Threads)
{
    /// <summary>Serving CPU µs per client operation (a GET hit costs the server nothing and is counted too).</summary>
    public double ServerMicrosPerOp => Operations > 0 ? ServerCpuNanoseconds / 1000.0 / Operations : double.NaN;

    /// <summary>Serving CPU µs per request the server handled (NaN when it handled none).</summary>
    public double ServerMicrosPerRequest => ServerRequests > 0 ? ServerCpuNanoseconds / 1000.0 / ServerRequests : double.NaN;

    /// <summary>SSD writes per client operation.</summary>
    public double SsdWritesPerOp => Operations > 0 ? (double)SsdWrites / Operations : double.NaN;

    /// <summary>Server requests handled per second.</summary>
    public double RequestsPerSecond => Seconds > 0 ? ServerRequests / Seconds : 0;
}

/// <summary>
/// Saturation phases: many client threads, each with one operation outstanding, for a fixed time, against a server
/// whose CPU budget (its own, else <see cref="SaturationCores"/>) is the bottleneck, so its receive queue is never empty
/// when it serves; the server's charged serving CPU (thread CPU of its serving steps, device waits
/// excluded, idle polling never counted) divided by what it served is its cost per request at saturation.
/// </summary>
public static class Saturation
{
    /// <summary>Client threads of a saturation phase: enough writers that batches of 8 fill.</summary>
    public const int DefaultThreads = 16;

    /// <summary>CPU budget a server without one gets for the phase: small enough that the server, not the 16 clients
    /// sharing this host's cores, is the bottleneck, so each serving step finds a full receive queue.</summary>
    public const double SaturationCores = 0.03;

    /// <summary>Runs updates of uniformly chosen loaded records (their deterministic values, so later reads still
    /// verify) from <paramref name="threads"/> threads for <paramref name="duration"/>.</summary>
    public static SaturationResult Puts(IYcsbTarget target, ScalioStore store, YcsbOptions options, int threads, TimeSpan duration)
        => Run("put", target, store, options, threads, duration, put: true);

    /// <summary>Runs reads of uniformly chosen loaded records (most miss a cache of a tenth of the records).</summary>
    public static SaturationResult Gets(IYcsbTarget target, ScalioStore store, YcsbOptions options, int threads, TimeSpan duration)
        => Run("get", target, store, options, threads, duration, put: false);

    private static SaturationResult Run(string kind, IYcsbTarget target, ScalioStore store, YcsbOptions options, int threads, TimeSpan duration, bool put)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        if (threads < 1 || threads > 1024) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be 1..1024");
        var sessions = new IYcsbSession[threads];
        for (int i = 0; i < threads; i++) sessions[i] = target.OpenSession(1000 + i);
        try
        {
            long ops = 0;
            Exception? error = null;
            using var start = new ManualResetEventSlim(false);
            long end = 0;
            var workers = new Thread[threads];
            for (int i = 0; i < threads; i++)
            {
                var session = sessions[i];
                ulong seed = (ulong)(options.Seed * 7919 + i + 1);
                workers[i] = new Thread(() =>
                {
                    try
                    {
                        Span<byte> key = stackalloc byte[options.KeySize];
                        var value = new byte[options.ValueSize];
                        ulong x = seed * 0x9E3779B97F4A7C15UL | 1;
                        long n = 0;
                        start.Wait();
                        while (Stopwatch.GetTimestamp() < Volatile.Read(ref end))
                        {
                            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                            long record = (long)(x % (ulong)options.RecordCount);
                            KeyCodec.Encode(options.Variant, record, key);
                            if (put)
                            {
                                YcsbValues.Fill(record, options.Seed, value);
                                session.Update(key, value);
                            }
                            else
                            {
                                session.Read(key, value);
                            }
                            n++;
                        }
                        Interlocked.Add(ref ops, n);
                    }
                    catch (Exception e)
                    {
                        Interlocked.CompareExchange(ref error, e, null);
                    }
                }) { IsBackground = true, Name = $"saturation-{kind}-{i}" };
                workers[i].Start();
            }
            var server = store.Server;
            var ownBudget = server.Budget;
            if (ownBudget is null) server.Budget = new Scalio.Fast.Server.CpuBudget(SaturationCores);
            var before = store.ReadCounters();
            long t0 = Stopwatch.GetTimestamp();
            Volatile.Write(ref end, t0 + (long)(duration.TotalSeconds * Stopwatch.Frequency));
            start.Set();
            foreach (var w in workers) w.Join();
            long t1 = Stopwatch.GetTimestamp();
            var after = store.ReadCounters();
            server.Budget = ownBudget;
            if (error is not null) throw new InvalidOperationException($"saturation phase ({kind}) failed: {error.Message}", error);
            return new SaturationResult(kind, ops, after.ServerRequests - before.ServerRequests,
                after.ServerBusyNanoseconds - before.ServerBusyNanoseconds, after.DeviceWrites - before.DeviceWrites,
                (double)(t1 - t0) / Stopwatch.Frequency, threads);
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }
}
