using System.Diagnostics;
using Scalio.Tests.Remote;

namespace Scalio.Tests.Budget;

/// <summary>Bad command-line values, paths and ports get one line starting "error:" on stderr and exit code 2, never a stack trace.</summary>
public sealed class CliErrorTests
{
    [Theory(Timeout = 60_000)]
    [InlineData("Record count must be at least 2", "ycsb", "--records", "-5")]
    [InlineData("Threads must be between 1 and 1024", "ycsb", "--threads", "0")]
    [InlineData("--data-dir /proc/scalio-no-such-dir cannot be used", "ycsb", "--data-dir", "/proc/scalio-no-such-dir")]
    [InlineData("--cache-fraction must be in (0, 1]", "ycsb", "--cache-fraction", "2")]
    [InlineData("--offload-threads must be 0..64", "ycsb", "--offload-threads", "-1")]
    [InlineData("must be in [0, 1]", "ycsb", "--inject-write-errors", "1.5")]
    [InlineData("drop --system, --rounds and --skip-load", "ycsb", "--inject-read-errors", "0.1", "--system", "leed")]
    [InlineData("--rounds must be 1..10000", "soak", "--rounds", "0")]
    [InlineData("Unknown YCSB workload 'Z'", "ycsb", "--workload", "Z")]
    [InlineData("Cannot parse argument 'abc' for option '--records'", "ycsb", "--records", "abc")]
    [InlineData("Unrecognized command or argument '--no-such-option'", "ycsb", "--no-such-option")]
    [InlineData("'127.0.0.1' is not an address:port", "ycsb", "--connect", "127.0.0.1")]
    [InlineData("Required command was not provided")]
    [InlineData("server: --data-dir is required", "server")]
    [InlineData("--data-dir /proc/scalio-no-such-dir cannot be used", "server", "--data-dir", "/proc/scalio-no-such-dir")]
    [InlineData("batch size must be 1..128", "server", "--data-dir", "/tmp/scalio-cli-error-batch", "--batch-size", "0")]
    [InlineData("server: --listen 'nope' is not ADDRESS:PORT", "server", "--fabric", "tcp", "--listen", "nope")]
    [InlineData("--fabric 'udp' is not supported", "server", "--fabric", "udp", "--listen", "127.0.0.1:0")]
    [InlineData("server: --max-connections must be 1..65536; got 0", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--max-connections", "0")]
    [InlineData("server: --max-inflight must be 1..1024; got 0", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--max-inflight", "0")]
    [InlineData("server: --reader-token-file needs --auth-token-file", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--reader-token-file", "/tmp/scalio-no-token")]
    [InlineData("--auth-token-file, --reader-token-file and --max-connections need --fabric tcp", "server", "--data-dir", "/tmp/scalio-cli-error-auth", "--auth-token-file", "/tmp/scalio-no-token")]
    [InlineData("--auth-token-file: auth token file /proc/scalio-no-such-token does not exist", "ycsb", "--connect", "127.0.0.1:9", "--auth-token-file", "/proc/scalio-no-such-token")]
    [InlineData("--auth-token-file needs --connect", "ycsb", "--auth-token-file", "/tmp/scalio-no-token")]
    [InlineData("target: --auth-token-file: auth token file /proc/scalio-no-such-token does not exist", "target", "--data-dir", "/tmp", "--auth-token-file", "/proc/scalio-no-such-token")]
    [InlineData("target: cannot serve /proc/scalio-no-such-dir", "target", "--data-dir", "/proc/scalio-no-such-dir")]
    [InlineData("target: --listen needs ADDRESS:PORT", "target", "--data-dir", "/tmp", "--listen", "bad")]
    [InlineData("--listen needs ADDRESS:PORT", "nvme", "target", "--listen", "bad")]
    [InlineData("--blocks must be 1..65536", "nvme", "encode", "read", "--blocks", "0")]
    [InlineData("--clients must be 1..64", "check", "--clients", "0")]
    [InlineData("unknown --broken mode 'nonsense'", "check", "--broken", "nonsense")]
    [InlineData("--figure must be 10, 11, 12, 13, 14 or all", "figures", "--figure", "9")]
    [InlineData("bad SSD count '0'", "sweep", "--ssds", "0")]
    [InlineData("--records must be at least 100", "sweep", "--records", "5")]
    public async Task A_bad_value_is_one_error_line_and_exit_code_2(string expected, params string[] args)
    {
        var (exit, stdout, stderr) = await Run(args);
        Assert.True(exit == 2, $"exit {exit}\n{stdout}\n{stderr}");
        Assert.DoesNotContain("Unhandled", stdout + stderr);
        Assert.DoesNotContain("   at ", stdout + stderr);
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        Assert.Contains(expected, line);
    }

    [Fact(Timeout = 60_000)]
    public async Task Ycsb_connect_to_a_closed_port_is_one_error_line_and_exit_code_2()
    {
        int port = ScalioProcess.FreePort(); // free a moment ago: nothing listens there
        var (exit, stdout, stderr) = await Run("ycsb", "--connect", $"127.0.0.1:{port}", "--records", "100");
        Assert.True(exit == 2, $"exit {exit}\n{stdout}\n{stderr}");
        string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"error: ycsb --connect: cannot connect to 127.0.0.1:{port}", line);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_port_in_use_is_one_error_line_and_exit_code_2()
    {
        var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        try
        {
            int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
            var (exit, stdout, stderr) = await Run("nvme", "target", "--listen", $"127.0.0.1:{port}", "--ram-mib", "1", "--allow-host", "nqn.2024-01.io.scalio:h");
            Assert.True(exit == 2, $"exit {exit}\n{stdout}\n{stderr}");
            string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"error: nvme target: cannot listen on 127.0.0.1:{port}", line);
        }
        finally
        {
            busy.Stop();
        }
    }

    internal static async Task<(int Exit, string Stdout, string Stderr)> Run(params string[] args)
    {
        using var p = Process.Start(ScalioProcess.StartInfo(args))!;
        p.StandardInput.Close();
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(50));
        try
        {
            await p.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"scalio {string.Join(' ', args)} did not exit");
        }
        return (p.ExitCode, await stdout, await stderr);
    }
}
