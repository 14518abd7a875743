using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Scalio.Nvme;
using Scalio.Ycsb;
using Spectre.Console;

namespace Scalio.Cli;

/// <summary>One point of the SSD-count sweep: a system on a workload with a number of modelled SSDs.</summary>
/// <param name="System">Command-line name of the system.</param>
/// <param name="Workload">YCSB workload letter.</param>
/// <param name="Ssds">Modelled SSDs.</param>
/// <param name="OpsPerSecond">Measured throughput.</param>
/// <param name="P50Micros">Median latency.</param>
/// <param name="P99Micros">99th percentile latency.</param>
/// <param name="HitRatio">Cache hit ratio of the GETs (NaN without GETs).</param>
/// <param name="SsdReadsPerOp">SSD reads per operation.</param>
/// <param name="SsdWritesPerOp">SSD writes per operation.</param>
/// <param name="ServerCpuMicrosPerOp">Server busy µs per operation in this run (includes waiting on the modelled SSDs).</param>
/// <param name="CalibratedCpuMicrosPerOp">Server CPU µs per operation of the same system and workload without the SSD
/// model (RAM namespaces, 1 SSD): the CPU cost the projection uses.</param>
/// <param name="IopsUsed">SSD I/Os per second during the run (ops/s × I/Os per op).</param>
/// <param name="IopsCap">The model's cap: SSDs × IOPS per SSD.</param>
/// <param name="ProjectedOpsPerSecond">Projection onto the paper's hardware with this many SSDs (8 cores, 500K IOPS each),
/// from <paramref name="CalibratedCpuMicrosPerOp"/> and the SSD I/Os per op of this run.</param>
/// <param name="Bottleneck">Which bound binds the projection.</param>
internal sealed record SweepPoint(string System, string Workload, int Ssds, double OpsPerSecond, double P50Micros, double P99Micros,
    double HitRatio, double SsdReadsPerOp, double SsdWritesPerOp, double ServerCpuMicrosPerOp, double CalibratedCpuMicrosPerOp, double IopsUsed, double IopsCap,
    double ProjectedOpsPerSecond, string Bottleneck)
{
    /// <summary>IOPS used divided by the IOPS cap.</summary>
    public double SsdUtilization => IopsCap > 0 ? IopsUsed / IopsCap : double.NaN;

    /// <summary>The projection with server CPU scaled to the paper's cores (<see cref="CoreScale"/>, anchored on LEED's
    /// calibrated CPU per op of the same workload); NaN when LEED is not in the sweep.</summary>
    public double ScaledProjectedOpsPerSecond { get; init; } = double.NaN;

    /// <summary>Which bound binds the scaled projection (empty when there is none).</summary>
    public string ScaledBottleneck { get; init; } = "";
}

/// <summary>One point of the cache-size sweep.</summary>
/// <param name="System">Command-line name of the system.</param>
/// <param name="CacheFraction">Cache slots as a fraction of the records.</param>
/// <param name="HitRatio">Cache hit ratio of the GETs.</param>
/// <param name="OpsPerSecond">Measured throughput.</param>
/// <param name="SsdReadsPerOp">SSD reads per operation.</param>
internal sealed record HitRatioPoint(string System, double CacheFraction, double HitRatio, double OpsPerSecond, double SsdReadsPerOp);

/// <summary>
/// <c>scalio sweep</c>: the shapes of the paper's Figures 10 and 11 on this machine. For each system, workload and SSD
/// count, a short YCSB run over RAM namespaces behind the SSD performance MODEL (an IOPS cap per SSD, not real devices)
/// with one server worker; then the hit ratio against cache size for Scalio. Writes CSV, JSON and PNG plots.
/// </summary>
internal static class SweepCommand
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static Command Create()
    {
        var outDir = new Option<string>("--out", "-o") { Description = "Output folder for CSV, JSON and PNG files", DefaultValueFactory = _ => "sweep-out" };
        var ssds = new Option<string>("--ssds") { Description = "SSD counts: a range like 1..7 or a list like 1,2,4,7", DefaultValueFactory = _ => "1..7" };
        var systems = new Option<string>("--systems") { Description = "Systems: scalio, scalio-nobatch, leed, leed-ditto or all (comma-separated)", DefaultValueFactory = _ => "all" };
        var workloads = new Option<string>("--workloads") { Description = "YCSB workloads (comma-separated): A, B, C, D, F", DefaultValueFactory = _ => "C,A" };
        var records = new Option<long>("--records") { Description = "Records loaded per store", DefaultValueFactory = _ => 20_000 };
        var operations = new Option<long>("--operations") { Description = "Operations per run", DefaultValueFactory = _ => 20_000 };
        var seconds = new Option<double>("--seconds") { Description = "Upper bound on each run in seconds (0: none)", DefaultValueFactory = _ => 10 };
        var threads = new Option<int>("--threads", "-t") { Description = "Client threads", DefaultValueFactory = _ => 2 };
        var cacheFraction = new Option<double>("--cache-fraction") { Description = "Cache fraction of the SSD-count sweep", DefaultValueFactory = _ => 0.10 };
        var cacheFractions = new Option<string>("--cache-fractions") { Description = "Cache fractions of the hit-ratio sweep (comma-separated; empty: skip it)", DefaultValueFactory = _ => "0.01,0.02,0.05,0.1,0.2,0.4" };
        var iops = new Option<int>("--iops-per-ssd") { Description = "IOPS cap of each modelled SSD (scaled down from the paper's 500K so the SSDs, not this host's 2 cores, bind at low SSD counts)", DefaultValueFactory = _ => 10_000 };
        var seed = new Option<long>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 1 };
        var cmd = new Command("sweep", "Sweep SSD count (MODEL: RAM namespaces with an IOPS cap) x system x workload with one server worker, and cache size x hit ratio; writes CSV, JSON and PNG plots (shapes of the paper's Figures 10 and 11)")
        {
            outDir, ssds, systems, workloads, records, operations, seconds, threads, cacheFraction, cacheFractions, iops, seed,
        };
        cmd.SetAction(parse =>
        {
            IReadOnlyList<YcsbSystem> systemList;
            int[] ssdList;
            YcsbWorkload[] workloadList;
            double[] fractions;
            try
            {
                systemList = SystemComparison.Parse(parse.GetValue(systems)!);
                ssdList = ParseSsds(parse.GetValue(ssds)!);
                workloadList = [.. parse.GetValue(workloads)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(WorkloadSpec.ParseWorkload)];
                if (workloadList.Length == 0) throw new ArgumentException("no workload given: use e.g. --workloads C,A");
                fractions = ParseFractions(parse.GetValue(cacheFractions)!);
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or FormatException)
            {
                CliErrors.Report(e.Message);
                return 2;
            }
            long n = parse.GetValue(records), ops = parse.GetValue(operations);
            int iopsPerSsd = parse.GetValue(iops);
            double frac = parse.GetValue(cacheFraction), secs = parse.GetValue(seconds);
            if (n < 100) { CliErrors.Report("--records must be at least 100"); return 2; }
            if (ops < 100) { CliErrors.Report("--operations must be at least 100"); return 2; }
            if (iopsPerSsd < 100) { CliErrors.Report("--iops-per-ssd must be at least 100"); return 2; }
            if (!(frac > 0 && frac <= 1)) { CliErrors.Report("--cache-fraction must be in (0, 1]"); return 2; }
            if (secs < 0) { CliErrors.Report("--seconds must not be negative"); return 2; }
            var baseOptions = new YcsbOptions
            {
                RecordCount = n,
                OperationCount = ops,
                Duration = secs > 0 ? TimeSpan.FromSeconds(secs) : null,
                Threads = parse.GetValue(threads),
                Seed = parse.GetValue(seed),
                WarmupOperations = Math.Min(20_000, ops / 10),
            };
            try
            {
                baseOptions.Validate();
            }
            catch (ArgumentException e)
            {
                CliErrors.Report(e.Message);
                return 2;
            }
            string dir = parse.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            // The MODEL: only the IOPS cap. Latency is left at zero because the emulated offload target and the server
            // worker wait for each modelled I/O synchronously; a per-I/O latency would cap them at 1/latency each,
            // whatever the SSD count, and hide the scaling the sweep is about.
            var model = new SsdModelOptions
            {
                MaxIops = iopsPerSsd,
                ReadLatency = TimeSpan.Zero,
                WriteLatency = TimeSpan.Zero,
                FlushLatency = TimeSpan.Zero,
            };
            AnsiConsole.MarkupLine($"[grey]sweep: {string.Join(", ", systemList.Select(SystemComparison.Name))}; workloads {string.Join(",", workloadList)}; SSDs {string.Join(",", ssdList)} (MODEL, {iopsPerSsd:N0} IOPS each); {n:N0} records, {ops:N0} ops, {baseOptions.Threads} client thread(s), 1 server worker; host {Environment.ProcessorCount} CPUs[/]");

            var points = new List<SweepPoint>();
            var hits = new List<HitRatioPoint>();
            int totalRuns = workloadList.Length * (ssdList.Length + 1) + fractions.Length;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var overall = ctx.AddTask("sweep", maxValue: totalRuns);
                    var current = ctx.AddTask("starting");
                    foreach (var w in workloadList)
                    {
                        // Calibration: server CPU per op without the model (a worker waiting on a modelled SSD counts
                        // as busy, which is not CPU the paper's server would spend).
                        var calSettings = new StoreSettings { Records = n, CacheFraction = frac, Ssds = 1, ServerWorkers = 1 };
                        var cal = new Dictionary<YcsbSystem, double>();
                        foreach (var r in SystemComparison.Run(baseOptions with { Workload = w }, calSettings, systemList, 1, PaperHardware.Paper,
                            (sys, round) => new PhaseProgress(current, $"{w} CPU calibration (no model) {SystemComparison.Name(sys)} {(round < 0 ? "load" : "run")}")))
                            cal[r.System] = r.Result.ServerCpuMicrosPerOp;
                        double coreFactor = cal.TryGetValue(YcsbSystem.Leed, out double leedCpu) ? CoreScale.Factor(leedCpu, PaperHardware.Paper) : double.NaN;
                        overall.Increment(1);
                        foreach (int s in ssdList)
                        {
                            var settings = new StoreSettings { Records = n, CacheFraction = frac, Ssds = s, ServerWorkers = 1, SsdModel = model };
                            var rows = SystemComparison.Run(baseOptions with { Workload = w }, settings, systemList, 1, PaperHardware.Paper,
                                (sys, round) => new PhaseProgress(current, $"{w} {s} SSD {SystemComparison.Name(sys)} {(round < 0 ? "load" : "run")}"));
                            foreach (var r in rows) points.Add(ToPoint(r, w, s, iopsPerSsd, cal[r.System], coreFactor));
                            overall.Increment(1);
                        }
                    }
                    foreach (double f in fractions)
                    {
                        // No model here: the hit ratio does not depend on the IOPS cap, and RAM namespaces run fast.
                        var settings = new StoreSettings { Records = n, CacheFraction = f, Ssds = 1, ServerWorkers = 1 };
                        var rows = SystemComparison.Run(baseOptions with { Workload = YcsbWorkload.C }, settings, [YcsbSystem.Scalio], 1, PaperHardware.Paper,
                            (sys, round) => new PhaseProgress(current, $"hit ratio, cache {f:P0} {(round < 0 ? "load" : "run")}"));
                        foreach (var r in rows) hits.Add(new HitRatioPoint(SystemComparison.Name(r.System), f, r.Result.HitRatio, r.Result.OpsPerSecond, r.Result.SsdReadsPerOp));
                        overall.Increment(1);
                    }
                    current.Description = "done";
                    current.Value = current.MaxValue;
                });

            WriteOutputs(dir, points, hits, workloadList, iopsPerSsd, baseOptions, frac);
            PrintTable(points);
            foreach (var h in hits) AnsiConsole.MarkupLine($"cache {h.CacheFraction,6:P0}: hit ratio {h.HitRatio,7:P1}, {h.OpsPerSecond,10:N0} ops/s, {h.SsdReadsPerOp:F3} SSD reads/op");
            AnsiConsole.MarkupLine($"[green]wrote {Markup.Escape(Path.GetFullPath(dir))}[/]");
            return 0;
        });
        return cmd;
    }

    private static SweepPoint ToPoint(SystemResult r, YcsbWorkload w, int ssds, int iopsPerSsd, double calibratedCpu, double coreFactor)
    {
        var x = r.Result;
        double ios = x.SsdReadsPerOp + x.SsdWritesPerOp;
        var hardware = PaperHardware.Paper with { Ssds = ssds };
        var projection = Projection.Of(calibratedCpu, ios, hardware);
        var scaled = CoreScale.Project(calibratedCpu, ios, coreFactor, hardware);
        return new SweepPoint(SystemComparison.Name(r.System), w.ToString(), ssds, x.OpsPerSecond, x.P50Micros, x.P99Micros, x.HitRatio,
            x.SsdReadsPerOp, x.SsdWritesPerOp, x.ServerCpuMicrosPerOp, calibratedCpu, x.OpsPerSecond * ios, (double)ssds * iopsPerSsd,
            projection.OpsPerSecond, projection.Bottleneck)
        {
            ScaledProjectedOpsPerSecond = scaled.OpsPerSecond,
            ScaledBottleneck = double.IsNaN(scaled.OpsPerSecond) ? "" : scaled.Bottleneck,
        };
    }

    /// <summary>Parses <c>1..7</c> or <c>1,2,4,7</c> (each 1..64).</summary>
    internal static int[] ParseSsds(string text)
    {
        var list = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int dots = part.IndexOf("..", StringComparison.Ordinal);
            if (dots > 0)
            {
                int a = ParseCount(part[..dots]), b = ParseCount(part[(dots + 2)..]);
                if (b < a) throw new ArgumentException($"empty SSD range '{part}'");
                for (int i = a; i <= b; i++) list.Add(i);
            }
            else
            {
                list.Add(ParseCount(part));
            }
        }
        if (list.Count == 0) throw new ArgumentException("no SSD count given: use e.g. --ssds 1..7");
        return [.. list.Distinct().Order()];
    }

    private static int ParseCount(string s)
    {
        if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) || v < 1 || v > 64)
            throw new ArgumentException($"bad SSD count '{s}': use whole numbers 1..64");
        return v;
    }

    private static double[] ParseFractions(string text)
    {
        var list = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double f) || !(f > 0 && f <= 1))
                throw new ArgumentException($"bad cache fraction '{part}': use numbers in (0, 1], e.g. 0.05");
            list.Add(f);
        }
        return [.. list.Distinct().Order()];
    }

    private static string F(double v) => double.IsFinite(v) ? v.ToString("G6", CultureInfo.InvariantCulture) : "";

    private static void WriteOutputs(string dir, List<SweepPoint> points, List<HitRatioPoint> hits, YcsbWorkload[] workloads,
        int iopsPerSsd, YcsbOptions options, double cacheFraction)
    {
        var csv = new StringBuilder("system,workload,ssds,ops_per_s,p50_us,p99_us,hit_ratio,ssd_reads_per_op,ssd_writes_per_op,server_busy_us_per_op,calibrated_cpu_us_per_op,iops_used,iops_cap,ssd_utilization,projected_ops_per_s,bottleneck,scaled_projected_ops_per_s,scaled_bottleneck\n");
        foreach (var p in points)
        {
            csv.AppendLine(string.Join(',', p.System, p.Workload, p.Ssds.ToString(CultureInfo.InvariantCulture), F(p.OpsPerSecond), F(p.P50Micros), F(p.P99Micros),
                F(p.HitRatio), F(p.SsdReadsPerOp), F(p.SsdWritesPerOp), F(p.ServerCpuMicrosPerOp), F(p.CalibratedCpuMicrosPerOp), F(p.IopsUsed), F(p.IopsCap), F(p.SsdUtilization),
                F(p.ProjectedOpsPerSecond), p.Bottleneck, F(p.ScaledProjectedOpsPerSecond), p.ScaledBottleneck));
        }
        File.WriteAllText(Path.Combine(dir, "sweep.csv"), csv.ToString());
        var hcsv = new StringBuilder("system,cache_fraction,hit_ratio,ops_per_s,ssd_reads_per_op\n");
        foreach (var h in hits) hcsv.AppendLine(string.Join(',', h.System, F(h.CacheFraction), F(h.HitRatio), F(h.OpsPerSecond), F(h.SsdReadsPerOp)));
        File.WriteAllText(Path.Combine(dir, "hitratio.csv"), hcsv.ToString());

        static double? J(double v) => double.IsFinite(v) ? v : null;
        var doc = new
        {
            model = new { kind = "MODEL: RAM namespaces behind an IOPS-capped token bucket, zero added latency", iopsPerSsd },
            settings = new { records = options.RecordCount, operations = options.OperationCount, threads = options.Threads, serverWorkers = 1, cacheFraction, seed = options.Seed, variant = options.Variant.ToString() },
            projection = new { serverCores = 8, iopsPerSsd = 500_000, ssds = "the point's SSD count", cpu = "calibratedCpuMicrosPerOp (run without the model)", formula = "min(cores / server CPU s per op, ssds * IOPS / SSD I/Os per op)",
                scaled = "the same with server CPU x (paper LEED 10 us/op / LEED's calibrated us/op of the workload): scaled to the paper's Arm cores, an estimate" },
            host = new { Environment.ProcessorCount, os = Environment.OSVersion.ToString(), time = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture) },
            points = points.Select(p => new
            {
                p.System, p.Workload, p.Ssds, p.OpsPerSecond, p.P50Micros, p.P99Micros, hitRatio = J(p.HitRatio), p.SsdReadsPerOp, p.SsdWritesPerOp,
                p.ServerCpuMicrosPerOp, p.CalibratedCpuMicrosPerOp, p.IopsUsed, p.IopsCap, ssdUtilization = J(p.SsdUtilization), projectedOpsPerSecond = J(p.ProjectedOpsPerSecond), p.Bottleneck,
                scaledProjectedOpsPerSecond = J(p.ScaledProjectedOpsPerSecond), p.ScaledBottleneck,
            }).ToArray(),
            hitRatio = hits.Select(h => new { h.System, h.CacheFraction, hitRatio = J(h.HitRatio), h.OpsPerSecond, h.SsdReadsPerOp }).ToArray(),
        };
        File.WriteAllText(Path.Combine(dir, "sweep.json"), JsonSerializer.Serialize(doc, JsonOptions));

        foreach (var w in workloads)
        {
            string name = w.ToString();
            var sel = points.Where(p => p.Workload == name).ToList();
            Plot(Path.Combine(dir, $"throughput-{name}.png"), $"YCSB-{name}: measured throughput (1 server worker, SSD MODEL {iopsPerSsd:N0} IOPS each)",
                "SSDs", "ops/s", sel, static p => p.OpsPerSecond);
            Plot(Path.Combine(dir, $"ssd-utilization-{name}.png"), $"YCSB-{name}: SSD IOPS used / IOPS cap",
                "SSDs", "utilization", sel, static p => p.SsdUtilization);
            Plot(Path.Combine(dir, $"projected-{name}.png"), $"YCSB-{name}: projected onto the paper's server (8 cores, N x 500K IOPS)",
                "SSDs", "projected ops/s", sel, static p => p.ProjectedOpsPerSecond);
            if (sel.Any(p => double.IsFinite(p.ScaledProjectedOpsPerSecond)))
                Plot(Path.Combine(dir, $"projected-scaled-{name}.png"), $"YCSB-{name}: projected, server CPU scaled to the paper's cores (anchor: LEED)",
                    "SSDs", "projected ops/s", sel, static p => p.ScaledProjectedOpsPerSecond);
        }
        if (hits.Count > 0)
        {
            var plt = new ScottPlot.Plot();
            var sp = plt.Add.Scatter(hits.Select(h => h.CacheFraction * 100).ToArray(), hits.Select(h => h.HitRatio * 100).ToArray());
            sp.LegendText = "scalio, YCSB-C";
            plt.Title("Hit ratio vs cache size");
            plt.XLabel("cache slots, % of records");
            plt.YLabel("hit ratio, %");
            plt.ShowLegend();
            plt.SavePng(Path.Combine(dir, "hitratio.png"), 800, 500);
        }
    }

    private static void Plot(string path, string title, string xLabel, string yLabel, List<SweepPoint> points, Func<SweepPoint, double> y)
    {
        var plt = new ScottPlot.Plot();
        foreach (var group in points.GroupBy(p => p.System))
        {
            var pts = group.Where(p => double.IsFinite(y(p))).OrderBy(p => p.Ssds).ToArray();
            if (pts.Length == 0) continue;
            var sp = plt.Add.Scatter(pts.Select(p => (double)p.Ssds).ToArray(), pts.Select(y).ToArray());
            sp.LegendText = group.Key;
        }
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        plt.ShowLegend();
        plt.SavePng(path, 900, 540);
    }

    private static void PrintTable(List<SweepPoint> points)
    {
        var table = new Table().AddColumns("workload", "SSDs", "system", "ops/s", "p99 µs", "hit", "SSD I/O per op", "IOPS used / cap", "srv busy µs/op", "srv CPU µs/op (no model)", "projected ops/s", "bound", "scaled projected", "scaled bound");
        foreach (var p in points)
        {
            table.AddRow(p.Workload, p.Ssds.ToString(CultureInfo.InvariantCulture), p.System, p.OpsPerSecond.ToString("N0", CultureInfo.InvariantCulture),
                p.P99Micros.ToString("F0", CultureInfo.InvariantCulture), double.IsFinite(p.HitRatio) ? p.HitRatio.ToString("P1", CultureInfo.InvariantCulture) : "-",
                (p.SsdReadsPerOp + p.SsdWritesPerOp).ToString("F3", CultureInfo.InvariantCulture), p.SsdUtilization.ToString("P0", CultureInfo.InvariantCulture),
                p.ServerCpuMicrosPerOp.ToString("F2", CultureInfo.InvariantCulture), p.CalibratedCpuMicrosPerOp.ToString("F2", CultureInfo.InvariantCulture),
                double.IsFinite(p.ProjectedOpsPerSecond) ? p.ProjectedOpsPerSecond.ToString("N0", CultureInfo.InvariantCulture) : "inf", p.Bottleneck,
                double.IsNaN(p.ScaledProjectedOpsPerSecond) ? "-" : double.IsFinite(p.ScaledProjectedOpsPerSecond) ? p.ScaledProjectedOpsPerSecond.ToString("N0", CultureInfo.InvariantCulture) : "inf",
                p.ScaledBottleneck);
        }
        AnsiConsole.Write(table);
    }

    private sealed class PhaseProgress : IProgress<YcsbProgress>
    {
        private readonly ProgressTask _task;

        public PhaseProgress(ProgressTask task, string description)
        {
            _task = task;
            task.Description = description;
            task.Value = 0;
        }

        public void Report(YcsbProgress value)
        {
            _task.MaxValue = Math.Max(1, value.Total);
            _task.Value = value.Done;
        }
    }
}
