using System.Globalization;
using System.Text.RegularExpressions;
using Scalio.Tests.Libfabric;

namespace Scalio.Tests.Remote;

/// <summary>
/// Issue 15, must-show 3: <c>scalio server --fabric tcp --listen 127.0.0.1:P</c> alone (its emulated NIC starts in the
/// same process), then <c>scalio ycsb --connect 127.0.0.1:P --workload A</c> runs to the table, its misses read
/// through that NIC.
/// </summary>
public sealed partial class OneCommandServerTests
{
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(30);

    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();

    [GeneratedRegex(@"emulated NIC: (\d+) connection\(s\), ([\d,]+) NVMe commands")]
    private static partial Regex NicStop();

    [LibfabricFact]
    public Task Server_alone_serves_ycsb_A_with_misses_read_through_its_in_process_emulated_NIC()
        => ServerAloneRunsYcsbA(null);

    [LibfabricFact]
    public async Task Server_alone_on_file_namespaces_serves_ycsb_A_through_its_emulated_NIC()
    {
        string dir = Path.Combine(Path.GetTempPath(), "scalio-onecmd-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await ServerAloneRunsYcsbA(dir);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static async Task ServerAloneRunsYcsbA(string? dataDir)
    {
        using var server = new ScalioProcess("server", ["server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--records", "400", .. (dataDir is null ? Array.Empty<string>() : ["--data-dir", dataDir])]);
        string ready = await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), Ready);
        Assert.Contains("emulated NIC", ready, StringComparison.Ordinal);
        Assert.Contains(dataDir is null ? "in RAM" : "in " + dataDir, ready, StringComparison.Ordinal);
        int port = int.Parse(Listening().Match(ready).Groups[1].Value, CultureInfo.InvariantCulture);

        using var ycsb = new ScalioProcess("ycsb", "ycsb", "--connect", $"127.0.0.1:{port}", "--workload", "A", "--records", "400",
            "--operations", "400", "--threads", "1", "--seconds", "3");
        int exit = await ycsb.WaitForExitAsync(TimeSpan.FromSeconds(90));
        Assert.True(exit == 0, $"ycsb exited {exit}\n{ycsb.Output}\n{server.Output}");
        Assert.Contains(ycsb.Lines, l => l.Contains("scalio (remote)", StringComparison.Ordinal)); // the table's row
        Assert.Contains(ycsb.Lines, l => l.Contains("offload target 127.0.0.1:", StringComparison.Ordinal));

        server.Terminate();
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(20)) == 0, server.Output);
        string nic = server.Lines.FirstOrDefault(l => NicStop().IsMatch(l)) ?? "";
        Assert.True(nic.Length > 0, "no emulated NIC line at shutdown\n" + server.Output);
        var m = NicStop().Match(nic);
        // 400 records, a 10 % cache: the run misses, and every miss is an NVMe read at the server's own NIC.
        Assert.True(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) >= 1, nic);
        Assert.True(long.Parse(m.Groups[2].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture) > 0, nic);
        Assert.Contains(server.Lines, l => l.StartsWith("stopped cleanly", StringComparison.Ordinal));
    }

    [LibfabricFact]
    public async Task Offload_target_and_nic_listen_together_are_one_error_line_and_exit_2()
    {
        using var server = new ScalioProcess("server", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--offload-target", "127.0.0.1:4420",
            "--nic-listen", "127.0.0.1:0");
        int exit = await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, exit);
        var errors = server.Lines.Where(l => l.StartsWith("[stderr] ", StringComparison.Ordinal)).ToList();
        Assert.Single(errors);
        Assert.StartsWith("[stderr] error: ", errors[0], StringComparison.Ordinal);
    }
}
