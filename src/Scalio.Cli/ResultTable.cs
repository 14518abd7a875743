using System.Globalization;
using Spectre.Console;

namespace Scalio.Cli;

/// <summary>Prints a <c>scalio ycsb</c> run as one table, a row per system.</summary>
internal static class ResultTable
{
    /// <summary>One table for a <c>--system</c> run: a row per system with its costs, its projection onto
    /// <paramref name="hardware"/> and its ratios against LEED+Ditto of the same run.</summary>
    public static void Print(IReadOnlyList<SystemResult> rows, PaperHardware hardware)
    {
        var first = rows.Count > 0 ? rows[0].Result : null;
        var t = new Table().Border(TableBorder.Rounded).Title(first is null ? "[bold]YCSB results[/]"
            : $"[bold]YCSB {first.Workload} ({first.Variant}), {first.RecordCount:N0} records, {first.Threads} thread(s)[/]");
        t.AddColumn("system");
        foreach (var c in new[] { "ops/s", "hit ratio", "p50 µs", "p99 µs", "p99.9 µs", "RT/op", "server CPU µs/op", "NIC µs/op",
            "SSD rd/op", "SSD wr/op", $"projected ops/s ({hardware.ServerCores} cores, {hardware.Ssds}x{hardware.IopsPerSsd / 1000:N0}K IOPS)", "bound",
            "ops/s ÷ L+D", "CPU/op ÷ L+D", "projected ÷ L+D", "scaled projected ops/s", "scaled ÷ L+D" })
            t.AddColumn(new TableColumn(Markup.Escape(c)).RightAligned());
        foreach (var x in rows)
        {
            var r = x.Result;
            t.AddRow(
                SystemComparison.Name(x.System),
                F(r.OpsPerSecond, "N0"),
                double.IsNaN(r.HitRatio) ? "-" : F(r.HitRatio, "P1"),
                F(r.P50Micros, "F1"),
                F(r.P99Micros, "F1"),
                F(r.P999Micros, "F1"),
                F(r.RoundTripsPerOp, "F2"),
                F(r.ServerCpuMicrosPerOp, "F3"),
                F(r.OffloadMicrosPerOp, "F3"),
                F(r.SsdReadsPerOp, "F3"),
                F(r.SsdWritesPerOp, "F3"),
                double.IsInfinity(x.Projection.OpsPerSecond) ? "∞" : F(x.Projection.OpsPerSecond, "N0"),
                x.Projection.Bottleneck,
                R(x.OpsRatio, x.OpsRatioRange, x.Rounds),
                R(x.ServerCpuRatio, x.ServerCpuRatioRange, x.Rounds),
                R(x.ProjectedRatio, x.ProjectedRatioRange, x.Rounds),
                double.IsNaN(x.ScaledProjection.OpsPerSecond) ? "-" : double.IsInfinity(x.ScaledProjection.OpsPerSecond) ? "∞" : F(x.ScaledProjection.OpsPerSecond, "N0"),
                R(x.ScaledProjectedRatio, x.ScaledProjectedRatioRange, x.Rounds));
        }
        AnsiConsole.Write(t);
        AnsiConsole.MarkupLine("[grey]projected = min(cores / server CPU s per op, SSDs x IOPS / SSD I/Os per op); L+D = leed-ditto of this run" +
            (rows.Count > 0 && rows[0].Rounds > 1 ? $"; {rows[0].Rounds} interleaved rounds: each row is the system's median round, ratios are medians (range)" : "") + "[/]");
        if (rows.Count > 1)
        {
            double factor = rows[0].CoreScaleFactor;
            AnsiConsole.MarkupLine(double.IsNaN(factor)
                ? "[grey]scaled to paper cores: needs leed in the same run (--system all) to anchor the core speed[/]"
                : string.Create(CultureInfo.InvariantCulture, $"[grey]scaled to paper cores: server CPU x {factor:F2} (= the paper's LEED {hardware.LeedMicrosPerOp:F1} µs/op on its Arm cores ÷ leed's measured µs/op in this run); an estimate, the raw projection is the measured one[/]"));
        }
        foreach (var x in rows)
        {
            var r = x.Result;
            AnsiConsole.MarkupLine(CultureInfo.InvariantCulture,
                "[grey]{0}: {1:N0} ops in {2:F2} s after a {3:F1} s load of {4:N0} records; {5} threads; reads {6:N0}, updates {7:N0}, inserts {8:N0}, read-modify-writes {9:N0}, not found {10:N0}, value mismatches {11:N0}[/]",
                SystemComparison.Name(x.System), r.Operations, r.Seconds, r.LoadSeconds, r.RecordCount, r.Threads, r.Reads, r.Updates, r.Inserts, r.ReadModifyWrites, r.NotFound, r.ValueMismatches);
        }
    }

    private static string R(double v) => double.IsNaN(v) ? "-" : double.IsInfinity(v) ? "∞" : F(v, "F2") + "x";

    private static string R(double median, (double Min, double Max) range, int rounds)
        => rounds <= 1 || double.IsNaN(median) ? R(median) : $"{R(median)} ({R(range.Min)}–{R(range.Max)})";

    private static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}
