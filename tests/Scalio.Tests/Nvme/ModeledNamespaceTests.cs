using System.Diagnostics;
using System.Globalization;
using Scalio.Nvme;

namespace Scalio.Tests.Nvme;

public class ModeledNamespaceTests
{
    [Fact]
    public void Token_bucket_admits_a_burst_then_spaces_commands()
    {
        // Deterministic: reservations at one fixed instant. Burst 4 at 1000 IOPS -> 4 admitted at t0,
        // then one per millisecond; every completion = admission + latency.
        var model = new SsdPerformanceModel(new SsdModelOptions
        {
            MaxIops = 1000, Burst = 4, ReadLatency = TimeSpan.FromMicroseconds(80), WriteLatency = TimeSpan.FromMicroseconds(20),
        });
        long t0 = Stopwatch.GetTimestamp() + Stopwatch.Frequency; // after the model's creation
        long interval = Stopwatch.Frequency / 1000;
        long read = Stopwatch.Frequency * 80 / 1_000_000;
        long write = Stopwatch.Frequency * 20 / 1_000_000;
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(t0 + read, model.Reserve(NvmeIoKind.Read, t0), tolerance: 1);
        }

        Assert.Equal(t0 + interval + write, model.Reserve(NvmeIoKind.Write, t0), tolerance: 1);
        Assert.Equal(t0 + 2 * interval + read, model.Reserve(NvmeIoKind.Read, t0), tolerance: 1);

        // After a long idle period the bucket is full again.
        long later = t0 + 1000 * interval;
        Assert.Equal(later + read, model.Reserve(NvmeIoKind.Read, later), tolerance: 1);
    }

    [Fact]
    public void Namespace_honours_its_iops_cap_roughly()
    {
        const int iops = 2000;
        const int ops = 300;
        using var ns = new ModeledNamespace(new RamNamespace(1, 512, 16),
            new SsdModelOptions { MaxIops = iops, Burst = 1, ReadLatency = TimeSpan.Zero, WriteLatency = TimeSpan.Zero });
        var buffer = new byte[512];
        var sw = Stopwatch.StartNew();
        var threads = new Thread[2];
        for (int t = 0; t < threads.Length; t++)
        {
            threads[t] = new Thread(() =>
            {
                for (int i = 0; i < ops / 2; i++)
                {
                    ns.Read((ulong)(i % 16), 1, new byte[512]);
                }
            });
            threads[t].Start();
        }

        foreach (Thread t in threads)
        {
            t.Join();
        }

        sw.Stop();
        double minimum = (ops - 1) / (double)iops; // 149.5 ms
        Assert.True(sw.Elapsed.TotalSeconds >= minimum * 0.95, $"{ops} ops at {iops} IOPS took only {sw.Elapsed.TotalMilliseconds:F1} ms");
        Assert.True(sw.Elapsed.TotalSeconds < minimum * 10, $"{ops} ops at {iops} IOPS took {sw.Elapsed.TotalMilliseconds:F1} ms (far too slow)");
        Assert.Equal(ops, ns.ReadCount);
        Assert.Equal(ops, ns.Inner.ReadCount);
    }

    [Fact]
    public void Latency_is_added_without_burning_a_core()
    {
        using var ns = new ModeledNamespace(new RamNamespace(1, 4096, 4),
            new SsdModelOptions { ReadLatency = TimeSpan.FromMilliseconds(20), WriteLatency = TimeSpan.FromMilliseconds(2) });
        var buffer = new byte[4096];
        long cpuBefore = ThreadCpuNanoseconds();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 5; i++)
        {
            long start = Stopwatch.GetTimestamp();
            Assert.Equal(NvmeStatus.Success, ns.Read(0, 1, buffer));
            Assert.True(Stopwatch.GetElapsedTime(start).TotalMilliseconds >= 19.9);
        }

        long start2 = Stopwatch.GetTimestamp();
        Assert.Equal(NvmeStatus.Success, ns.Write(1, 1, buffer, fua: false));
        Assert.True(Stopwatch.GetElapsedTime(start2).TotalMilliseconds >= 1.99);
        double wallMs = sw.Elapsed.TotalMilliseconds;
        double cpuMs = (ThreadCpuNanoseconds() - cpuBefore) / 1e6;
        Assert.True(cpuMs < wallMs * 0.4, $"waiting {wallMs:F1} ms used {cpuMs:F1} ms of CPU");
        Assert.Contains("MODEL", ns.ToString());
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentException>(() => new SsdPerformanceModel(new SsdModelOptions { MaxIops = 0 }));
        Assert.Throws<ArgumentException>(() => new SsdPerformanceModel(new SsdModelOptions { Burst = 0 }));
        Assert.Throws<ArgumentException>(() => new SsdPerformanceModel(new SsdModelOptions { ReadLatency = TimeSpan.FromTicks(-1) }));
    }

    /// <summary>CPU time of the calling thread (first field of /proc/thread-self/schedstat, in ns).</summary>
    private static long ThreadCpuNanoseconds() =>
        long.Parse(File.ReadAllText("/proc/thread-self/schedstat").Split(' ')[0], CultureInfo.InvariantCulture);
}
