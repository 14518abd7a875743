using System.Diagnostics;
using System.Globalization;

namespace Scalio.Perf;

/// <summary>
/// The batched-hit comparison with FASTER measured as DESIGN.md asks on a shared host: the three benchmarks of
/// <see cref="FasterComparisonBenchmarks"/> (<c>ScalioBatchedGetHit</c>, <c>FasterRead</c>, <c>BucketCopyReference</c>)
/// in one process, on the same keys and stores, in timed windows interleaved A B C C B A over several rounds, with the
/// median and range of each ratio. BenchmarkDotNet runs one benchmark after the other, seconds apart, so a change in
/// the host's load between them moves their ratio; here every round sees the same host.
/// </summary>
internal static class InterleavedFaster
{
    private delegate void Window(int invocations);

    /// <summary>Runs the comparison; returns the process exit code (2 on bad arguments, 1 if a measured GET missed).</summary>
    public static int Run(string[] args)
    {
        int rounds = 8;
        double seconds = 0.5;
        for (int i = 1; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : "";
            switch (args[i])
            {
                case "--rounds" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out rounds) && rounds is >= 1 and <= 1000:
                    i++;
                    break;
                case "--seconds" when double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) && seconds is >= 0.05 and <= 60:
                    i++;
                    break;
                default:
                    Console.Error.WriteLine($"error: interleaved-faster takes --rounds 1..1000 and --seconds 0.05..60, not '{args[i]} {value}'".TrimEnd());
                    return 2;
            }
        }

        var bench = new FasterComparisonBenchmarks();
        try
        {
            Compare(bench, rounds, seconds);
        }
        catch (InvalidOperationException e) // a setup that could not make every key a hit, or a reference that missed
        {
            bench.Dispose();
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch
        {
            bench.Dispose();
            throw;
        }
        try
        {
            bench.Cleanup(); // stops the stores; throws if a measured batched GET was not a hit
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        return 0;
    }

    private static void Compare(FasterComparisonBenchmarks bench, int rounds, double seconds)
    {
        bench.Setup();
        bench.SetupHits();
        bench.SetupReference();
        int perBatch = FasterComparisonBenchmarks.BatchSize;
        var opsPerInvocation = new[] { perBatch, 1, perBatch };
        var windows = new Window[]
        {
            n => { for (int k = 0; k < n; k++) bench.ScalioBatchedGetHit(); },
            n => { for (int k = 0; k < n; k++) bench.FasterRead(); },
            n => { for (int k = 0; k < n; k++) bench.BucketCopyReference(); },
        };
        // A discarded round first: JIT tiering, and the batch's first second ran up to 1.5x its later ones.
        for (int step = 0; step < 2 * windows.Length; step++)
        {
            int w = WindowAt(step, windows.Length);
            Measure(windows[w], opsPerInvocation[w], 0.5);
        }

        var bytes = new long[windows.Length];
        var speedup = new double[rounds];
        var overReference = new double[rounds];
        int ahead = 0;
        Console.WriteLine($"interleaved-faster: {rounds} rounds of {seconds.ToString(CultureInfo.InvariantCulture)} s windows, order A B C C B A, {FasterComparisonBenchmarks.Records:N0} records, batches of {perBatch}");
        Console.WriteLine("| round | ScalioBatchedGetHit | FasterRead | BucketCopyReference | batch ops/s / FASTER ops/s |");
        Console.WriteLine("|---:|---:|---:|---:|---:|");
        for (int r = 0; r < rounds; r++)
        {
            var time = new double[windows.Length];
            var ops = new long[windows.Length];
            for (int step = 0; step < 2 * windows.Length; step++)
            {
                int w = WindowAt(step, windows.Length);
                var (elapsed, done, allocated) = Measure(windows[w], opsPerInvocation[w], seconds / 2);
                time[w] += elapsed;
                ops[w] += done;
                bytes[w] += allocated;
            }
            double batch = time[0] / ops[0], faster = time[1] / ops[1], reference = time[2] / ops[2];
            speedup[r] = faster / batch;
            overReference[r] = batch / reference;
            if (batch < faster) ahead++;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r + 1} | {batch:F1} ns | {faster:F1} ns | {reference:F1} ns | {speedup[r]:F2} |"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"batch ops/s / FASTER ops/s: median {Median(speedup):F2} (range {speedup.Min():F2}-{speedup.Max():F2}); batch ahead in {ahead} of {rounds} rounds"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"batch ns / reference ns: median {Median(overReference):F2} (range {overReference.Min():F2}-{overReference.Max():F2})"));
        Console.WriteLine($"allocated in measured windows (process-wide): batch {bytes[0]} B, FASTER {bytes[1]} B, reference {bytes[2]} B");
    }

    // A B C C B A: each window is as often early as late in a round.
    private static int WindowAt(int step, int count) => step < count ? step : 2 * count - 1 - step;

    // Chunks of invocations until the window's time is up: ns taken, operations done, bytes the process allocated
    // (every thread, as BenchmarkDotNet's MemoryDiagnoser counts; a miss would run on fabric and offload threads).
    private static (double Nanoseconds, long Operations, long Allocated) Measure(Window window, int opsPerInvocation, double seconds)
    {
        int chunk = Math.Max(1, 6400 / opsPerInvocation);
        long ops = 0;
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(seconds * Stopwatch.Frequency);
        long now;
        do
        {
            window(chunk);
            ops += (long)chunk * opsPerInvocation;
            now = Stopwatch.GetTimestamp();
        }
        while (now < end);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        return ((now - start) * 1e9 / Stopwatch.Frequency, ops, allocated);
    }

    private static double Median(double[] values)
    {
        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
