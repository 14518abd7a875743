using System.Diagnostics;
using System.Text;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;
using Xunit.Abstractions;

namespace Scalio.Tests.Libfabric;

/// <summary>
/// Latency measurement of the libfabric provider over tcp;ofi_rxm on 127.0.0.1: one-sided 64-byte READs,
/// 8-byte CAS and SEND/RECV ping-pongs between two domains (each with its own progress thread), under each progress
/// strategy, interleaved in rounds so the machine's load hits every strategy alike. Closed loop (next operation at
/// once) and with a 2 ms pause between operations (the target's progress thread has gone idle when the request arrives).
/// It runs in the default suite on a short sample (every operation must complete); a measurement sets the sample:
/// <code>SCALIO_FABRIC_BENCH_N=2000 SCALIO_FABRIC_BENCH_ROUNDS=3 dotnet test ... --filter FullyQualifiedName~LibfabricLatencyBench</code>
/// Results go to the test output, and to <c>$SCALIO_FABRIC_BENCH_OUT</c> when set.
/// </summary>
public sealed class LibfabricLatencyBench(ITestOutputHelper output)
{
    private sealed record Config(string Name, LibfabricOptions Options);

    private static readonly Config[] Configs =
    [
        new("backoff (old)", new LibfabricOptions { ProgressMode = LibfabricProgressMode.Backoff, CallerDrivesProgress = false }),
        new("adaptive", new LibfabricOptions { ProgressMode = LibfabricProgressMode.Adaptive, CallerDrivesProgress = false }),
        new("adaptive+caller (new)", new LibfabricOptions { ProgressMode = LibfabricProgressMode.Adaptive, CallerDrivesProgress = true }),
    ];

    private static readonly string[] Kinds = ["READ", "CAS", "SEND/RECV"];

    [LibfabricFact]
    public void Round_trip_latency_by_progress_strategy()
    {
        int n = int.TryParse(Environment.GetEnvironmentVariable("SCALIO_FABRIC_BENCH_N"), out int nn) && nn >= 20 ? nn : 200;
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("SCALIO_FABRIC_BENCH_ROUNDS"), out int rr) && rr >= 1 ? rr : 1;
        int gappedN = Math.Max(20, n / 10);
        // [gap][config][kind] -> all samples (µs) over the rounds
        var samples = new List<double>[2, Configs.Length, Kinds.Length];
        foreach (var i in Enumerable.Range(0, samples.Length)) samples[i / (Configs.Length * Kinds.Length), i / Kinds.Length % Configs.Length, i % Kinds.Length] = [];
        var cpu = new double[Configs.Length];
        var wall = new double[Configs.Length];
        for (int r = 0; r < rounds; r++)
        {
            for (int c = 0; c < Configs.Length; c++)
            {
                var p = Process.GetCurrentProcess();
                var cpu0 = p.TotalProcessorTime;
                var w0 = Stopwatch.GetTimestamp();
                Run(Configs[c].Options, n, 0, c, samples, gap: 0);
                Run(Configs[c].Options, gappedN, 2, c, samples, gap: 1);
                p.Refresh();
                cpu[c] += (p.TotalProcessorTime - cpu0).TotalSeconds;
                wall[c] += Stopwatch.GetElapsedTime(w0).TotalSeconds;
            }
        }

        var sb = new StringBuilder();
        sb.AppendLine($"libfabric tcp;ofi_rxm on 127.0.0.1, two domains in one process, {rounds} rounds interleaved, n={n} closed loop / {gappedN} with 2 ms pauses; "
            + $"load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}, {Environment.ProcessorCount} cores; µs");
        for (int g = 0; g < 2; g++)
        {
            sb.AppendLine(g == 0 ? "closed loop:" : "2 ms pause between operations:");
            sb.AppendLine($"  {"strategy",-22} {"op",-10} {"p50",8} {"p90",8} {"p99",8} {"p50 vs old",11}");
            for (int k = 0; k < Kinds.Length; k++)
            {
                double oldP50 = Percentile(samples[g, 0, k], 0.5);
                for (int c = 0; c < Configs.Length; c++)
                {
                    var s = samples[g, c, k];
                    double p50 = Percentile(s, 0.5);
                    sb.AppendLine($"  {Configs[c].Name,-22} {Kinds[k],-10} {p50,8:F0} {Percentile(s, 0.9),8:F0} {Percentile(s, 0.99),8:F0} {oldP50 / p50,10:F2}x");
                }
            }
        }
        for (int c = 0; c < Configs.Length; c++)
            sb.AppendLine($"  process CPU while {Configs[c].Name} ran: {cpu[c] / wall[c] * 100:F0}% of one core");
        string text = sb.ToString();
        output.WriteLine(text);
        if (Environment.GetEnvironmentVariable("SCALIO_FABRIC_BENCH_OUT") is { Length: > 0 } file) File.WriteAllText(file, text);
        for (int c = 0; c < Configs.Length; c++)
            for (int k = 0; k < Kinds.Length; k++) Assert.Equal(rounds * n, samples[0, c, k].Count);
    }

    private static void Run(LibfabricOptions options, int n, int pauseMs, int config, List<double>[,,] samples, int gap)
    {
        using var fabric = LibfabricFabric.Open(options);
        using var a = fabric.CreateDomain();
        using var b = fabric.CreateDomain();
        using var qa = a.CreateQueuePair(a.CreateCompletionQueue(), a.CreateCompletionQueue());
        using var qb = b.CreateQueuePair(b.CreateCompletionQueue(), b.CreateCompletionQueue());
        LibfabricFabric.Connect(qa, qb);
        using var ma = a.Allocate(4096, MemoryAccess.All);
        using var mb = b.Allocate(4096, MemoryAccess.All);

        // Echo on b's side: receive, send back (a thread, like a server worker).
        using var stop = new CancellationTokenSource();
        var echo = new Thread(() =>
        {
            ulong id = 1000;
            qb.PostReceive(new ReceiveRequest(id++, mb.AddressOf(1024), 64, mb.LocalKey));
            while (!stop.IsCancellationRequested)
            {
                if (!qb.ReceiveQueue.PollBlocking(out var rc, timeoutMilliseconds: 100)) continue;
                if (!rc.IsSuccess) return;
                qb.PostReceive(new ReceiveRequest(id++, mb.AddressOf(1024), 64, mb.LocalKey));
                qb.PostSend(WorkRequest.Send(id++, mb.AddressOf(2048), 64, mb.LocalKey));
                if (!qb.SendQueue.PollBlocking(out var sc, timeoutMilliseconds: 10_000) || !sc.IsSuccess) return;
            }
        }) { IsBackground = true, Name = "bench echo" };
        echo.Start();

        ulong wr = 1;
        for (int k = 0; k < Kinds.Length; k++)
        {
            var list = samples[gap, config, k];
            for (int i = -20; i < n; i++) // 20 warm-up operations
            {
                if (pauseMs > 0) Thread.Sleep(pauseMs);
                long t0 = Stopwatch.GetTimestamp();
                switch (k)
                {
                    case 0:
                        qa.PostSend(WorkRequest.Read(wr++, ma.AddressOf(0), 64, ma.LocalKey, 0, mb.RemoteKey));
                        Expect(qa.SendQueue);
                        break;
                    case 1:
                        qa.PostSend(WorkRequest.CompareSwap(wr++, ma.AddressOf(64), ma.LocalKey, 512, mb.RemoteKey, (ulong)(i + 20), (ulong)(i + 21)));
                        Expect(qa.SendQueue);
                        Assert.Equal((ulong)(i + 20), BitConverter.ToUInt64(ma.Span.Slice(64, 8)));
                        break;
                    default:
                        qa.PostReceive(new ReceiveRequest(wr++, ma.AddressOf(1024), 64, ma.LocalKey));
                        qa.PostSend(WorkRequest.Send(wr++, ma.AddressOf(2048), 64, ma.LocalKey));
                        Expect(qa.SendQueue);
                        Expect(qa.ReceiveQueue);
                        break;
                }
                if (i >= 0) list.Add(Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
            }
        }
        stop.Cancel();
        Assert.True(echo.Join(5000), "echo thread did not stop");
    }

    private static void Expect(CompletionQueue cq)
    {
        Assert.True(cq.PollBlocking(out var wc, timeoutMilliseconds: 10_000), "no completion within 10 s");
        Assert.True(wc.IsSuccess, $"{wc.Opcode}: {wc.Status}");
    }

    private static double Percentile(List<double> values, double q)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
    }
}
