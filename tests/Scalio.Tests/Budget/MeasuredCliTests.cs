using System.Diagnostics;
using System.Text.Json;
using Scalio.Tests.Remote;

namespace Scalio.Tests.Budget;

/// <summary>The measured-capacity commands end to end, tiny: the JSON fields the issue's must-shows read, and one figure.</summary>
public sealed class MeasuredCliTests
{
    private static (int Exit, string Output) Run(int timeoutSeconds, params string[] args)
    {
        using var p = Process.Start(ScalioProcess.StartInfo(args))!;
        p.StandardInput.Close();
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"scalio {string.Join(' ', args)} ran over {timeoutSeconds} s");
        }
        return (p.ExitCode, stdout + stderr.Result);
    }

    [Fact(Timeout = 120_000)]
    public async Task Scale_down_runs_report_measured_ops_saturation_costs_and_per_type_latency()
    {
        await Task.Yield();
        string json = Path.Combine(Path.GetTempPath(), $"scalio-measured-{Environment.ProcessId}.json");
        try
        {
            var (exit, output) = Run(100, "ycsb", "--system", "scalio,leed", "--workload", "A", "--ssds", "2", "--scale-down", "50",
                "--records", "4000", "--operations", "4000", "--seconds", "1", "--threads", "2", "--saturation-seconds", "0.3", "--json", json);
            Assert.True(exit == 0, output);
            Assert.Contains("server CPU budget MODEL", output);
            // The scaled-down server's SSDs are real files in a scratch directory, gone after the run.
            var scratch = System.Text.RegularExpressions.Regex.Match(output, @"file namespaces in (\S+) \(real I/O");
            Assert.True(scratch.Success, output);
            Assert.False(Directory.Exists(scratch.Groups[1].Value), $"{scratch.Groups[1].Value} was left behind");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var settings = doc.RootElement.GetProperty("settings");
            Assert.True(settings.GetProperty("serverCores").GetDouble() > 0);
            Assert.Equal(10_000, settings.GetProperty("iopsPerSsd").GetInt32());
            Assert.Equal("files", settings.GetProperty("namespaces").GetString());
            Assert.Equal(5, settings.GetProperty("scaleDown").GetProperty("calibrationSamples").GetArrayLength());
            foreach (var s in doc.RootElement.GetProperty("systems").EnumerateArray())
            {
                Assert.True(s.GetProperty("opsPerSecond").GetDouble() > 0);
                Assert.True(s.GetProperty("serverMicrosPerPutAtSaturation").GetDouble() > 0);
                Assert.True(s.GetProperty("putP50Micros").GetDouble() > 0);
                Assert.Equal(0, s.GetProperty("valueMismatches").GetInt64());
            }
            var scalio = doc.RootElement.GetProperty("systems")[0];
            Assert.Equal("scalio", scalio.GetProperty("system").GetString());
            Assert.True(scalio.GetProperty("getHitP50Micros").GetDouble() > 0);
            Assert.True(scalio.GetProperty("getMissP50Micros").GetDouble() > 0);
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Ram_namespaces_are_asked_for_with_scale_down_only()
    {
        await Task.Yield();
        var (exit, output) = Run(30, "ycsb", "--ram");
        Assert.Equal(2, exit);
        Assert.Contains("error: --ram goes with --scale-down", output);
        (exit, output) = Run(30, "ycsb", "--scale-down", "50", "--ram", "--data-dir", Path.GetTempPath());
        Assert.Equal(2, exit);
        Assert.Contains("error: --ram goes with --scale-down and without --data-dir", output);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_figure_is_measured_and_written_as_csv_and_png()
    {
        await Task.Yield();
        string dir = Path.Combine(Path.GetTempPath(), $"scalio-figures-{Environment.ProcessId}");
        try
        {
            var (exit, output) = Run(100, "figures", "--figure", "14", "--cache-fractions", "0.05,0.2", "--records", "3000", "--seconds", "0.3", "--out", dir);
            Assert.True(exit == 0, output);
            string[] lines = File.ReadAllLines(Path.Combine(dir, "fig14.csv"));
            Assert.StartsWith("# scalio figures", lines[0]);
            Assert.Equal("cache_fraction,system,ops_per_s,hit_ratio,warmup_ops", lines[1]);
            Assert.Equal(4, lines.Length - 2);
            foreach (var l in lines.Skip(2)) Assert.True(double.Parse(l.Split(',')[2], System.Globalization.CultureInfo.InvariantCulture) > 0, l);
            Assert.True(new FileInfo(Path.Combine(dir, "fig14.png")).Length > 1000);
            var bad = Run(30, "figures", "--figure", "9");
            Assert.Equal(2, bad.Exit);
            Assert.Contains("--figure must be", bad.Output);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
