using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Scalio.Cli;
using Scalio.Tests.Libfabric;
using Scalio.Verbs.Libfabric;

namespace Scalio.Tests.Remote;

/// <summary>
/// A fact that needs libfabric and Debian's promtool (package prometheus, which ./test.sh installs). Without promtool it
/// is skipped with the reason, except under CI=true, where it runs and fails: a CI that could not install promtool
/// must not pass a check it never made.
/// </summary>
public sealed class PromtoolFactAttribute : FactAttribute
{
    /// <summary>Where Debian's prometheus package puts promtool.</summary>
    public const string Promtool = "/usr/bin/promtool";

    /// <summary>Sets <see cref="FactAttribute.Skip"/> when libfabric, or promtool outside CI, is missing.</summary>
    public PromtoolFactAttribute()
    {
        if (!LibfabricFabric.IsInstalled(out string reason))
            Skip = "libfabric is not installed (apt-get install libfabric1): " + reason;
        else if (!File.Exists(Promtool) && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = $"promtool is not installed ({Promtool}; apt-get install --no-install-recommends prometheus)";
    }
}

/// <summary>
/// Issue 15, must-show 4: <c>scalio server --fabric tcp --listen ... --metrics 127.0.0.1:M</c> serves Prometheus text at
/// /metrics; a scrape taken while <c>scalio ycsb --connect</c> runs shows nonzero operation counters, and
/// <c>promtool check metrics</c> accepts it.
/// </summary>
public sealed partial class MetricsEndpointTests
{
    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();

    [GeneratedRegex(@"^metrics: http://127\.0\.0\.1:(\d+)/metrics")]
    private static partial Regex MetricsLine();

    private static async Task<string> Http(int port, string requestLine)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(requestLine + "\r\nHost: 127.0.0.1\r\n\r\n"));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await reader.ReadToEndAsync(cts.Token);
    }

    private static double Sample(string exposition, string series)
    {
        foreach (string line in exposition.Split('\n'))
            if (line.StartsWith(series + " ", StringComparison.Ordinal)) return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
        return double.NaN;
    }

    private static (int Exit, string Output) Promtool(string exposition)
    {
        Assert.True(File.Exists(PromtoolFactAttribute.Promtool), "promtool is missing (CI=true): ./test.sh installs it with apt-get install prometheus");
        var psi = new ProcessStartInfo(PromtoolFactAttribute.Promtool) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("check");
        psi.ArgumentList.Add("metrics");
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(exposition);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(30_000), "promtool did not finish within 30 s");
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [PromtoolFact]
    public async Task A_scrape_during_a_ycsb_run_has_nonzero_operation_counters_and_promtool_accepts_it()
    {
        // promtool itself must reject what is wrong, or its verdict below proves nothing.
        Assert.NotEqual(0, Promtool("# TYPE scalio_x counter\nscalio_x 1\n").Exit);

        using var server = new ScalioProcess("server", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--records", "400", "--metrics", "127.0.0.1:0");
        string ready = await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        int port = int.Parse(Listening().Match(ready).Groups[1].Value, CultureInfo.InvariantCulture);
        string metricsLine = server.Lines.First(l => MetricsLine().IsMatch(l));
        int metricsPort = int.Parse(MetricsLine().Match(metricsLine).Groups[1].Value, CultureInfo.InvariantCulture);

        string idle = await Http(metricsPort, "GET /metrics HTTP/1.1");
        Assert.StartsWith("HTTP/1.1 200 OK", idle, StringComparison.Ordinal);
        Assert.Contains("Content-Type: text/plain; version=0.0.4", idle, StringComparison.Ordinal);

        using var ycsb = new ScalioProcess("ycsb", "ycsb", "--connect", $"127.0.0.1:{port}", "--workload", "A", "--records", "400",
            "--threads", "1", "--seconds", "4");
        string? during = null;
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60) && !ycsb.HasExited)
        {
            string response = await Http(metricsPort, "GET /metrics HTTP/1.1");
            string body = response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
            // Mid-run: PUTs committed and misses read at the NIC, with the client still connected.
            if (Sample(body, "scalio_server_requests_total{op=\"put\"}") > 0 && Sample(body, "scalio_nic_commands_total") > 0
                && Sample(body, "scalio_server_connections_total{event=\"accepted\"}") > Sample(body, "scalio_server_connections_total{event=\"disconnected\"}"))
            {
                during = body;
                break;
            }
            await Task.Delay(200);
        }
        Assert.True(during is not null, "no scrape with nonzero counters while ycsb ran\n" + ycsb.Output + "\n" + server.Output);
        Assert.False(ycsb.HasExited, "the scrape must be taken during the run");
        Assert.True(await ycsb.WaitForExitAsync(TimeSpan.FromSeconds(90)) == 0, ycsb.Output);

        foreach (string series in (string[])["scalio_server_batches_total", "scalio_server_cpu_time_seconds_total",
            "scalio_ssd_operations_total{device=\"0\",op=\"write\"}", "scalio_ssd_operations_total{device=\"0\",op=\"read\"}",
            "scalio_ssd_io_bytes_total{device=\"0\",op=\"write\"}", "scalio_nic_time_seconds_total"]) // (invalidations may still be 0 this early: no filled key written yet)
        {
            Assert.True(Sample(during, series) > 0, $"{series} is not positive\n{during}");
        }
        Assert.Equal(0, Sample(during, "scalio_server_requests_total{op=\"get\"}")); // Scalio GETs never reach the server's workers

        var (exit, output) = Promtool(during);
        Assert.True(exit == 0, $"promtool check metrics: exit {exit}\n{output}\n{during}");

        Assert.StartsWith("HTTP/1.1 404", await Http(metricsPort, "GET / HTTP/1.1"), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 405", await Http(metricsPort, "POST /metrics HTTP/1.1"), StringComparison.Ordinal);

        server.Terminate();
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(20)) == 0, server.Output);
    }

    [Fact]
    public async Task The_embedded_server_serves_its_write_counters_while_its_in_process_writers_run()
    {
        string dir = Path.Combine(Path.GetTempPath(), "scalio-metrics-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using var server = new ScalioProcess("server", "server", "--data-dir", dir, "--records", "400", "--self-load", "1", "--metrics", "127.0.0.1:0");
            await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            int metricsPort = int.Parse(MetricsLine().Match(server.Lines.First(l => MetricsLine().IsMatch(l))).Groups[1].Value, CultureInfo.InvariantCulture);
            string body = "";
            for (int i = 0; i < 100 && !(Sample(body, "scalio_server_batches_total") > 0); i++)
            {
                await Task.Delay(100);
                body = await Http(metricsPort, "GET /metrics HTTP/1.1");
            }
            Assert.True(Sample(body, "scalio_server_requests_total{op=\"put\"}") > 0, body);
            Assert.True(Sample(body, "scalio_ssd_operations_total{device=\"0\",op=\"write\"}") > 0, body);
            Assert.True(Sample(body, "scalio_server_batches_total") > 0, body);
            Assert.DoesNotContain("scalio_fabric_progress", body, StringComparison.Ordinal); // no libfabric here: no such instrument
            server.Terminate();
            Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(20)) == 0, server.Output);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [Fact]
    public async Task A_bad_metrics_address_is_one_error_line_and_exit_2()
    {
        using var server = new ScalioProcess("server", "server", "--data-dir", Path.Combine(Path.GetTempPath(), "scalio-metrics-bad-" + Environment.ProcessId), "--metrics", "nope");
        Assert.Equal(2, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        string line = Assert.Single(server.Lines);
        Assert.StartsWith("[stderr] error: server: --metrics 'nope' is not PORT or ADDRESS:PORT", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("9464", "127.0.0.1:9464")]
    [InlineData("127.0.0.1:0", "127.0.0.1:0")]
    [InlineData("[::1]:9464", "[::1]:9464")]
    public void Metrics_address_parses_and_a_bare_port_stays_on_loopback(string text, string expected)
        => Assert.Equal(expected, MetricsEndpoint.Parse(text).ToString());

    [Theory]
    [InlineData("scalio_server_cpu_time_seconds_total", "scalio.server.cpu.time", "s", true)]
    [InlineData("scalio_ssd_io_bytes_total", "scalio.ssd.io", "By", true)]
    [InlineData("scalio_server_requests_total", "scalio.server.requests", "{request}", true)]
    [InlineData("scalio_cache_slots", "scalio.cache.slots", "{slot}", false)]
    public void Instrument_names_map_to_prometheus_names(string expected, string name, string unit, bool counter)
        => Assert.Equal(expected, MetricsEndpoint.PrometheusName(name, unit, counter));
}
