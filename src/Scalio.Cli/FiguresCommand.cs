using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Scalio.Ycsb;
using Spectre.Console;

namespace Scalio.Cli;

/// <summary>
/// <c>scalio figures</c>: the paper's Figures 10–14 as MEASURED runs under one scale-down (server CPU budget MODEL and
/// SSD MODEL, calibrated once per command), each point a <see cref="SystemComparison.Run"/> of the systems in one
/// process. Writes one CSV and one PNG per figure, headed by the command and commit that made them.
/// </summary>
internal static class FiguresCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly YcsbWorkload[] BreakdownWorkloads = [YcsbWorkload.C, YcsbWorkload.A];
    private static readonly YcsbWorkload[] LatencyWorkloads = [YcsbWorkload.A, YcsbWorkload.C];
    private static readonly string[] LatencyNames = ["A", "C"];

    public static Command Create()
    {
        var figure = new Option<string>("--figure") { Description = "10 (throughput vs SSDs), 11 (SSD I/O use vs SSDs; runs with 10), 12 (breakdown), 13 (latency vs throughput as client threads grow), 14 (cache size), or all", DefaultValueFactory = _ => "all" };
        var k = new Option<int>("--scale-down") { Description = "K: server CPU budget = the paper's 8 cores / K (calibrated on LEED), SSDs of 500K / K IOPS", DefaultValueFactory = _ => 50 };
        var records = new Option<long>("--records") { Description = "Records per store", DefaultValueFactory = _ => 50_000 };
        var seconds = new Option<double>("--seconds") { Description = "Measured seconds per point", DefaultValueFactory = _ => 1.5 };
        var threads = new Option<int>("--threads") { Description = "Client threads (figures 10, 11, 12, 14)", DefaultValueFactory = _ => 8 };
        var workloads = new Option<string>("--workloads") { Description = "Workloads of figure 10/11", DefaultValueFactory = _ => "A,B,C,D,F" };
        var ssds = new Option<string>("--ssds") { Description = "SSD counts of figure 10/11", DefaultValueFactory = _ => "1,2,3,4,5,6,7" };
        var threadCounts = new Option<string>("--thread-counts") { Description = "Client thread counts of figure 13", DefaultValueFactory = _ => "1,2,4,8,16,32" };
        var fractions = new Option<string>("--cache-fractions") { Description = "Cache fractions of figure 14", DefaultValueFactory = _ => "0.02,0.05,0.1,0.2,0.5" };
        var outDir = new Option<string>("--out") { Description = "Output directory", DefaultValueFactory = _ => "docs/figures" };
        var cmd = new Command("figures", "The paper's Figures 10-14, measured under one scale-down (server CPU budget and SSD MODELS): CSV + PNG per figure")
        {
            figure, k, records, seconds, threads, workloads, ssds, threadCounts, fractions, outDir,
        };
        cmd.SetAction(parse =>
        {
            string which = parse.GetValue(figure)!.Trim().ToLowerInvariant();
            if (which is not ("all" or "10" or "11" or "12" or "13" or "14")) { CliErrors.Report($"--figure must be 10, 11, 12, 13, 14 or all, not '{which}'"); return 2; }
            int kk = parse.GetValue(k);
            long n = parse.GetValue(records);
            double secs = parse.GetValue(seconds);
            int t = parse.GetValue(threads);
            if (kk < 1 || n < 1000 || !(secs > 0) || t < 1 || t > 256) { CliErrors.Report("--scale-down >= 1, --records >= 1000, --seconds > 0, --threads 1..256"); return 2; }
            List<YcsbWorkload> ws; List<int> ss, ts; List<double> fs;
            try
            {
                ws = [.. parse.GetValue(workloads)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(WorkloadSpec.ParseWorkload)];
                ss = [.. parse.GetValue(ssds)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, Inv))];
                ts = [.. parse.GetValue(threadCounts)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, Inv))];
                fs = [.. parse.GetValue(fractions)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => double.Parse(x, Inv))];
            }
            catch (Exception e) when (e is FormatException or ArgumentException or NotSupportedException or OverflowException)
            {
                CliErrors.Report($"bad list: {e.Message}");
                return 2;
            }
            if (ss.Any(x => x is < 1 or > 64) || ts.Any(x => x is < 1 or > 256) || fs.Any(x => !(x > 0 && x <= 1))) { CliErrors.Report("SSD counts 1..64, thread counts 1..256, cache fractions in (0, 1]"); return 2; }
            string dir = parse.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            string header = $"# scalio figures {string.Join(' ', Environment.GetCommandLineArgs().Skip(1).SkipWhile(a => a != "figures").Skip(1))}; commit {Commit()}; {DateTime.UtcNow:yyyy-MM-dd}; host {Environment.ProcessorCount} vCPUs (shared, noisy)";
            var baseOptions = new YcsbOptions { RecordCount = n, OperationCount = 100_000_000, Duration = TimeSpan.FromSeconds(secs), Threads = t, WarmupOperations = 5_000 };
            var baseSettings = new StoreSettings { Records = n, Ssds = 7, ServerWorkers = ScaleDown.ServerWorkers, SaturationPhases = false };
            AnsiConsole.MarkupLine("[grey]calibrating: LEED's server cost per GET at saturation...[/]");
            var sd = ScaleDown.Calibrate(kk, baseSettings, baseOptions);
            var settings = baseSettings with { ScaleDown = sd, ServerCores = sd.ServerCores, IopsPerSsd = sd.IopsPerSsd };
            AnsiConsole.MarkupLine("[grey]" + Markup.Escape(ResultTable.DescribeModels(settings)) + "[/]");
            string models = string.Create(Inv, $"K={kk}: budget MODEL {sd.ServerCores:F3} cores, SSD MODEL {sd.IopsPerSsd / 1000.0:F0}K IOPS");
            IReadOnlyList<YcsbSystem> all = [YcsbSystem.Scalio, YcsbSystem.ScalioNoBatch, YcsbSystem.Leed, YcsbSystem.LeedDitto];

            if (which is "all" or "10" or "11")
            {
                var csv = new StringBuilder(header + "\nworkload,ssds,system,ops_per_s,hit_ratio,ssd_ios_per_op,ssd_utilization,p50_us,p99_us\n");
                var points = new List<(string W, int S, string Sys, double Ops, double Util)>();
                foreach (var w in ws)
                    foreach (int s in ss)
                    {
                        var rows = SystemComparison.Run(baseOptions with { Workload = w }, settings with { Ssds = s }, all);
                        foreach (var r in rows)
                        {
                            double ios = r.Result.SsdReadsPerOp + r.Result.SsdWritesPerOp;
                            double util = ios * r.Result.OpsPerSecond / (s * (double)sd.IopsPerSsd);
                            points.Add((w.ToString(), s, SystemComparison.Name(r.System), r.Result.OpsPerSecond, util));
                            csv.Append(Inv, $"{w},{s},{SystemComparison.Name(r.System)},{r.Result.OpsPerSecond:F0},{r.Result.HitRatio:F4},{ios:F4},{util:F4},{r.Result.P50Micros:F1},{r.Result.P99Micros:F1}\n");
                        }
                        AnsiConsole.MarkupLine($"[grey]figure 10/11: {w}, {s} SSD(s) done[/]");
                    }
                File.WriteAllText(Path.Combine(dir, "fig10-11.csv"), csv.ToString());
                foreach (var w in ws)
                {
                    var sel = points.Where(p => p.W == w.ToString()).ToList();
                    Plot(Path.Combine(dir, $"fig10-{w}.png"), $"Fig. 10, YCSB-{w}: measured throughput vs SSDs ({models})", "SSDs", "ops/s",
                        sel.GroupBy(p => p.Sys).Select(g => (g.Key, g.Select(p => ((double)p.S, p.Ops)).ToArray())));
                    Plot(Path.Combine(dir, $"fig11-{w}.png"), $"Fig. 11, YCSB-{w}: SSD I/O used / modelled IOPS ({models})", "SSDs", "utilisation",
                        sel.GroupBy(p => p.Sys).Select(g => (g.Key, g.Select(p => ((double)p.S, p.Util)).ToArray())));
                }
            }
            if (which is "all" or "12")
            {
                // The paper's breakdown: LEED+Ditto, + one-sided miss path (SSD reads by a software NVMe-oF target on the
                // server CPU), + target offload (the NIC serves them), + batched write.
                var csv = new StringBuilder(header + "\nworkload,step,system,ops_per_s,ratio_vs_leed_ditto\n");
                var bars = new List<(string Label, double Value)>();
                var plt12 = new ScottPlot.Plot();
                foreach (var w in BreakdownWorkloads)
                {
                    var rows = SystemComparison.Run(baseOptions with { Workload = w }, settings, [YcsbSystem.LeedDitto, YcsbSystem.ScalioNoOffload, YcsbSystem.ScalioNoBatch, YcsbSystem.Scalio]);
                    double basis = rows[0].Result.OpsPerSecond;
                    string[] steps = ["LEED+Ditto", "+ one-sided miss", "+ offload", "+ batched write"];
                    for (int i = 0; i < rows.Count; i++)
                    {
                        csv.Append(Inv, $"{w},{steps[i]},{SystemComparison.Name(rows[i].System)},{rows[i].Result.OpsPerSecond:F0},{rows[i].Result.OpsPerSecond / basis:F3}\n");
                        bars.Add(($"{w}: {steps[i]}", rows[i].Result.OpsPerSecond / basis));
                        plt12.Add.Text(string.Create(Inv, $"{rows[i].Result.OpsPerSecond / basis:F2}x"), bars.Count - 1, rows[i].Result.OpsPerSecond / basis);
                    }
                }
                File.WriteAllText(Path.Combine(dir, "fig12.csv"), csv.ToString());
                plt12.Add.Bars(bars.Select(b => b.Value).ToArray());
                plt12.Axes.Bottom.SetTicks([.. Enumerable.Range(0, bars.Count).Select(i => (double)i)], [.. bars.Select(b => b.Label)]);
                plt12.Title($"Fig. 12: measured gain over LEED+Ditto, 7 SSDs ({models})", size: 12);
                plt12.YLabel("throughput / LEED+Ditto");
                plt12.SavePng(Path.Combine(dir, "fig12.png"), 1200, 600);
            }
            if (which is "all" or "13")
            {
                var csv = new StringBuilder(header + "\nworkload,threads,system,ops_per_s,p50_us,p99_us\n");
                var points = new List<(string W, string Sys, double Ops, double P50, double P99)>();
                foreach (var w in LatencyWorkloads)
                    foreach (int th in ts)
                    {
                        var rows = SystemComparison.Run(baseOptions with { Workload = w, Threads = th }, settings, [YcsbSystem.Scalio, YcsbSystem.ScalioNoBatch, YcsbSystem.LeedDitto]);
                        foreach (var r in rows)
                        {
                            points.Add((w.ToString(), SystemComparison.Name(r.System), r.Result.OpsPerSecond, r.Result.P50Micros, r.Result.P99Micros));
                            csv.Append(Inv, $"{w},{th},{SystemComparison.Name(r.System)},{r.Result.OpsPerSecond:F0},{r.Result.P50Micros:F1},{r.Result.P99Micros:F1}\n");
                        }
                    }
                File.WriteAllText(Path.Combine(dir, "fig13.csv"), csv.ToString());
                foreach (var w in LatencyNames)
                {
                    var sel = points.Where(p => p.W == w).ToList();
                    Plot(Path.Combine(dir, $"fig13-{w}.png"), $"Fig. 13, YCSB-{w}: p99 vs measured ops/s, {string.Join(",", ts)} threads ({models})", "ops/s", "p99 µs",
                        sel.GroupBy(p => p.Sys).Select(g => (g.Key, g.Select(p => (p.Ops, p.P99)).ToArray())));
                }
            }
            if (which is "all" or "14")
            {
                // Warm-up: 4 x the cache's slots in operations per point, so the cache fills before the measured phase.
                var csv = new StringBuilder(header + "\ncache_fraction,system,ops_per_s,hit_ratio,warmup_ops\n");
                var points = new List<(string Sys, double F, double Ops)>();
                foreach (double f in fs)
                {
                    long warm = (long)Math.Max(20_000, 4 * f * n);
                    var rows = SystemComparison.Run(baseOptions with { Workload = YcsbWorkload.C, WarmupOperations = warm }, settings with { CacheFraction = f }, [YcsbSystem.Scalio, YcsbSystem.LeedDitto]);
                    foreach (var r in rows)
                    {
                        points.Add((SystemComparison.Name(r.System), f, r.Result.OpsPerSecond));
                        csv.Append(Inv, $"{f},{SystemComparison.Name(r.System)},{r.Result.OpsPerSecond:F0},{r.Result.HitRatio:F4},{warm}\n");
                    }
                }
                File.WriteAllText(Path.Combine(dir, "fig14.csv"), csv.ToString());
                Plot(Path.Combine(dir, "fig14.png"), $"Fig. 14, YCSB-C: measured throughput vs cache size ({models})", "cache slots / records", "ops/s",
                    points.GroupBy(p => p.Sys).Select(g => (g.Key, g.Select(p => (p.F, p.Ops)).ToArray())));
            }
            AnsiConsole.MarkupLine($"[grey]written to {Markup.Escape(dir)}[/]");
            return 0;
        });
        return cmd;
    }

    private static void Plot(string path, string title, string xLabel, string yLabel, IEnumerable<(string Name, (double X, double Y)[] Points)> series)
    {
        var plt = new ScottPlot.Plot();
        foreach (var (name, pts) in series)
        {
            var ordered = pts.Where(p => double.IsFinite(p.Y)).OrderBy(p => p.X).ToArray();
            if (ordered.Length == 0) continue;
            var sp = plt.Add.Scatter(ordered.Select(p => p.X).ToArray(), ordered.Select(p => p.Y).ToArray());
            sp.LegendText = name;
        }
        plt.Title(title, size: 11);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        plt.ShowLegend();
        plt.SavePng(path, 1000, 560);
    }

    private static string Commit()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("git", "rev-parse --short HEAD") { RedirectStandardOutput = true, RedirectStandardError = true });
            if (p is null) return "unknown";
            string s = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return p.ExitCode == 0 && s.Length > 0 ? s : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}
