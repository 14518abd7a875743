using System.Globalization;
using Scalio.Ycsb;
using Spectre.Console;

namespace Scalio.Cli;

/// <summary>Prints YCSB results as one table, a row per system.</summary>
internal static class ResultTable
{
    public static void Print(IReadOnlyList<YcsbResult> results)
    {
        var t = new Table().Border(TableBorder.Rounded).Title("[bold]YCSB results[/]");
        t.AddColumn("system");
        t.AddColumn("workload");
        t.AddColumn(new TableColumn("ops/s").RightAligned());
        t.AddColumn(new TableColumn("hit ratio").RightAligned());
        t.AddColumn(new TableColumn("p50 µs").RightAligned());
        t.AddColumn(new TableColumn("p99 µs").RightAligned());
        t.AddColumn(new TableColumn("p99.9 µs").RightAligned());
        t.AddColumn(new TableColumn("RT/op").RightAligned());
        t.AddColumn(new TableColumn("server CPU µs/op").RightAligned());
        t.AddColumn(new TableColumn("NIC µs/op").RightAligned());
        t.AddColumn(new TableColumn("SSD reads/op").RightAligned());
        t.AddColumn(new TableColumn("SSD writes/op").RightAligned());
        foreach (var r in results)
        {
            t.AddRow(
                r.Target,
                $"{r.Workload} ({r.Variant})",
                F(r.OpsPerSecond, "N0"),
                double.IsNaN(r.HitRatio) ? "-" : F(r.HitRatio, "P1"),
                F(r.P50Micros, "F1"),
                F(r.P99Micros, "F1"),
                F(r.P999Micros, "F1"),
                F(r.RoundTripsPerOp, "F2"),
                F(r.ServerCpuMicrosPerOp, "F3"),
                F(r.OffloadMicrosPerOp, "F3"),
                F(r.SsdReadsPerOp, "F3"),
                F(r.SsdWritesPerOp, "F3"));
        }
        AnsiConsole.Write(t);
        foreach (var r in results)
        {
            AnsiConsole.MarkupLine(CultureInfo.InvariantCulture,
                "[grey]{0}: {1:N0} ops in {2:F2} s after a {3:F1} s load of {4:N0} records; {5} threads; reads {6:N0}, updates {7:N0}, inserts {8:N0}, read-modify-writes {9:N0}, not found {10:N0}, value mismatches {11:N0}[/]",
                r.Target, r.Operations, r.Seconds, r.LoadSeconds, r.RecordCount, r.Threads, r.Reads, r.Updates, r.Inserts, r.ReadModifyWrites, r.NotFound, r.ValueMismatches);
        }
    }

    private static string F(double v, string format) => v.ToString(format, CultureInfo.InvariantCulture);
}
