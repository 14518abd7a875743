using System.Globalization;
using Spectre.Console;

namespace Scalio.Cli;

/// <summary>Prints a <c>scalio ycsb</c> run: the measured table, the server at saturation, then the projections (a model).</summary>
internal static class ResultTable
{
    /// <summary>Prints the rows of a run made with <paramref name="settings"/>; projections onto <paramref name="hardware"/>
    /// come last, as a model beside the measurement.</summary>
    public static void Print(IReadOnlyList<SystemResult> rows, PaperHardware hardware, StoreSettings? settings = null)
    {
        var first = rows.Count > 0 ? rows[0].Result : null;
        bool compare = rows.Count > 1;
        var t = new Table().Border(TableBorder.Rounded).Title(first is null ? "[bold]YCSB results (measured)[/]"
            : $"[bold]YCSB {first.Workload} ({first.Variant}), {first.RecordCount:N0} records, {first.Threads} thread(s): measured[/]");
        t.AddColumn("system");
        var columns = new List<string> { "ops/s" };
        if (compare) columns.Add("ops/s ÷ L+D");
        columns.AddRange(["hit ratio", "p50 µs", "p99 µs", "GET hit p50", "GET miss p50", "PUT p50", "RT/op", "server CPU µs/op", "NIC µs/op", "SSD rd/op", "SSD wr/op"]);
        var table = new List<List<string>>();
        foreach (var x in rows)
        {
            var r = x.Result;
            var cells = new List<string> { SystemComparison.Name(x.System), F(r.OpsPerSecond, "N0") };
            if (compare) cells.Add(R(x.OpsRatio, x.OpsRatioRange, x.Rounds));
            cells.AddRange([
                double.IsNaN(r.HitRatio) ? "-" : F(r.HitRatio, "P1"),
                F(r.P50Micros, "F1"), F(r.P99Micros, "F1"),
                F(r.Latencies.GetHit.P50Micros, "F1"), F(r.Latencies.GetMiss.P50Micros, "F1"), F(r.Latencies.Put.P50Micros, "F1"),
                F(r.RoundTripsPerOp, "F2"), F(r.ServerCpuMicrosPerOp, "F3"), F(r.OffloadMicrosPerOp, "F3"),
                F(r.SsdReadsPerOp, "F3"), F(r.SsdWritesPerOp, "F3")]);
            table.Add(cells);
        }
        // A column no row has a value for (e.g. PUT p50 on a read-only workload) is left out.
        var shown = Enumerable.Range(0, columns.Count).Where(i => table.Count == 0 || table.Any(cells => cells[i + 1] != "-")).ToList();
        foreach (int i in shown) t.AddColumn(new TableColumn(Markup.Escape(columns[i])).RightAligned());
        foreach (var cells in table) t.AddRow([cells[0], .. shown.Select(i => cells[i + 1])]);
        AnsiConsole.Write(t);
        if (settings is not null) AnsiConsole.MarkupLine("[grey]" + Markup.Escape(DescribeModels(settings)) + "[/]");
        if (rows.Count > 0 && rows[0].Rounds > 1)
            AnsiConsole.MarkupLine($"[grey]{rows[0].Rounds} interleaved rounds: each row is the system's median round, ratios are medians (range); L+D = leed-ditto of this run[/]");

        if (rows.Any(x => x.SaturatedPuts is not null))
        {
            var leed = rows.FirstOrDefault(x => x.System == YcsbSystem.Leed)?.SaturatedPuts ?? rows.FirstOrDefault(x => x.System == YcsbSystem.LeedDitto)?.SaturatedPuts;
            var s = new Table().Border(TableBorder.Rounded).Title($"[bold]server at saturation ({Saturation.Outstanding} requests always in flight)[/]");
            s.AddColumn("system");
            string[] saturationColumns = leed is null
                ? ["server µs/PUT", "SSD wr/PUT", "PUTs/s", "server µs/GET request"]
                : ["server µs/PUT", "÷ LEED", "SSD wr/PUT", "PUTs/s", "server µs/GET request"];
            foreach (var c in saturationColumns) s.AddColumn(new TableColumn(Markup.Escape(c)).RightAligned());
            foreach (var x in rows)
            {
                if (x.SaturatedPuts is not { } p) continue;
                var cells = new List<string> { SystemComparison.Name(x.System), F(p.ServerMicrosPerRequest, "F3") };
                if (leed is { } l) cells.Add(R(p.ServerMicrosPerRequest / l.ServerMicrosPerRequest));
                cells.AddRange([F(p.SsdWritesPerOp, "F3"), F(p.Operations / p.Seconds, "N0"),
                    x.SaturatedGets is { } g ? F(g.ServerMicrosPerRequest, "F3") : x.System == YcsbSystem.ScalioNoOffload ? "- (misses: NVMe-oF)" : "none (one-sided)"]);
                s.AddRow([.. cells]);
            }
            AnsiConsole.Write(s);
            AnsiConsole.MarkupLine("[grey]server µs = thread CPU of the server's serving steps (device waits and the emulated NIC's and SSDs' own work excluded, idle polling never counted) ÷ requests answered; GET requests: LEED reads, LEED+Ditto miss-fills; ÷ LEED: against leed (or leed-ditto) of this run[/]");
        }

        var pt = new Table().Border(TableBorder.Rounded).Title($"[grey]projection onto the paper's server (MODEL, secondary): {hardware.ServerCores} cores, {hardware.Ssds}x{hardware.IopsPerSsd / 1000:N0}K IOPS[/]");
        pt.AddColumn("system");
        // Ratios and the LEED-anchored scaling need a comparison run: a single system gets only its own columns.
        string[] projectionColumns = compare
            ? ["projected ops/s", "bound", "projected ÷ L+D", "CPU/op ÷ L+D", "scaled projected ops/s", "scaled ÷ L+D"]
            : ["projected ops/s", "bound"];
        foreach (var c in projectionColumns) pt.AddColumn(new TableColumn(Markup.Escape(c)).RightAligned());
        foreach (var x in rows)
        {
            string projected = double.IsInfinity(x.Projection.OpsPerSecond) ? "∞" : F(x.Projection.OpsPerSecond, "N0");
            if (!compare)
            {
                pt.AddRow(SystemComparison.Name(x.System), projected, x.Projection.Bottleneck);
                continue;
            }
            pt.AddRow(SystemComparison.Name(x.System), projected,
                x.Projection.Bottleneck,
                R(x.ProjectedRatio, x.ProjectedRatioRange, x.Rounds),
                R(x.ServerCpuRatio, x.ServerCpuRatioRange, x.Rounds),
                double.IsNaN(x.ScaledProjection.OpsPerSecond) ? "-" : double.IsInfinity(x.ScaledProjection.OpsPerSecond) ? "∞" : F(x.ScaledProjection.OpsPerSecond, "N0"),
                R(x.ScaledProjectedRatio, x.ScaledProjectedRatioRange, x.Rounds));
        }
        AnsiConsole.Write(pt);
        AnsiConsole.MarkupLine("[grey]projected = min(cores / server CPU s per op, SSDs x IOPS / SSD I/Os per op): a model; a system with no server CPU per op is bounded only by its SSDs here, so its ratio holds by construction — the measured ops/s above is the result[/]");
        if (compare)
        {
            double factor = rows[0].CoreScaleFactor;
            AnsiConsole.MarkupLine(double.IsNaN(factor)
                ? "[grey]scaled to paper cores: needs leed in the same run (--system all) to anchor the core speed[/]"
                : string.Create(CultureInfo.InvariantCulture, $"[grey]scaled to paper cores: server CPU x {factor:F2} (= the paper's LEED {hardware.LeedMicrosPerOp:F1} µs/op on its Arm cores ÷ leed's measured µs/op in this run)[/]"));
        }
        foreach (var x in rows)
        {
            var r = x.Result;
            AnsiConsole.MarkupLine(CultureInfo.InvariantCulture,
                "[grey]{0}: {1:N0} ops in {2:F2} s after a {3:F1} s load of {4:N0} records; {5} threads; reads {6:N0}, updates {7:N0}, inserts {8:N0}, read-modify-writes {9:N0}, not found {10:N0}, value mismatches {11:N0}[/]",
                SystemComparison.Name(x.System), r.Operations, r.Seconds, r.LoadSeconds, r.RecordCount, r.Threads, r.Reads, r.Updates, r.Inserts, r.ReadModifyWrites, r.NotFound, r.ValueMismatches);
        }
    }

    /// <summary>One line naming the emulated parts of a run (server CPU budget, SSD model) as models.</summary>
    public static string DescribeModels(StoreSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var ssd = settings.EffectiveSsdModel;
        string cpu = settings.ServerCores > 0 ? string.Create(CultureInfo.InvariantCulture, $"server CPU budget MODEL {settings.ServerCores:F4} cores ({settings.ServerWorkers} workers)") : $"server CPU unlimited ({settings.ServerWorkers} workers)";
        string disk = settings.DataDirectory is not null ? "file namespaces (real I/O)"
            : ssd is null ? "RAM namespaces, no SSD model"
            : string.Create(CultureInfo.InvariantCulture, $"SSD MODEL {ssd.MaxIops:N0} IOPS, {ssd.ReadLatency.TotalMicroseconds:F0} µs read each x {settings.Ssds}");
        string k = settings.ScaleDown is { } sd
            ? string.Create(CultureInfo.InvariantCulture, $"; scale-down K={sd.K}: the paper's {sd.Paper.ServerCores} cores / K at a host core {sd.CoreSpeedFactor:F2}x an Arm core (LEED here {sd.HostLeedMicrosPerGet:F2} µs/GET at saturation vs the paper's {sd.Paper.LeedMicrosPerOp:F0} µs/op), {sd.Paper.IopsPerSsd:N0}/K IOPS per SSD")
            : "";
        string nic = settings.OffloadThreads == 0
            ? "emulated NIC (offload engine) run inline on the client thread that sends each read, as the loopback fabric runs RDMA, never charged to the server"
            : $"emulated NIC (offload engine) on {settings.OffloadThreads} thread(s) of its own, never charged to the server";
        return $"{cpu}; {disk}; {nic}{k}";
    }

    private static string R(double v) => double.IsNaN(v) ? "-" : double.IsInfinity(v) ? "∞" : F(v, "F2") + "x";

    private static string R(double median, (double Min, double Max) range, int rounds)
        => rounds <= 1 || double.IsNaN(median) ? R(median) : $"{R(median)} ({R(range.Min)}–{R(range.Max)})";

    private static string F(double v, string format) => double.IsNaN(v) ? "-" : v.ToString(format, CultureInfo.InvariantCulture);
}
