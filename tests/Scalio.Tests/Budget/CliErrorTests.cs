using System.Diagnostics;
using Scalio.Tests.Remote;

namespace Scalio.Tests.Budget;

/// <summary>Bad command-line values get one clear line and exit code 2, never a stack trace.</summary>
public sealed class CliErrorTests
{
    [Theory(Timeout = 60_000)]
    [InlineData("Record count must be at least 2", "ycsb", "--records", "-5")]
    [InlineData("Threads must be between 1 and 1024", "ycsb", "--threads", "0")]
    [InlineData("Could not find", "ycsb", "--data-dir", "/proc/scalio-no-such-dir")]
    [InlineData("--cache-fraction must be in (0, 1]", "ycsb", "--cache-fraction", "2")]
    [InlineData("--offload-threads must be 0..64", "ycsb", "--offload-threads", "-1")]
    [InlineData("must be in [0, 1]", "ycsb", "--inject-write-errors", "1.5")]
    [InlineData("drop --system, --rounds and --skip-load", "ycsb", "--inject-read-errors", "0.1", "--system", "leed")]
    [InlineData("--rounds must be 1..10000", "soak", "--rounds", "0")]
    public async Task A_bad_value_is_one_line_and_exit_code_2(string expected, params string[] args)
    {
        await Task.Yield();
        using var p = Process.Start(ScalioProcess.StartInfo(args))!;
        p.StandardInput.Close();
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(50_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"scalio {string.Join(' ', args)} did not exit");
        }
        string output = (stdout + await stderr).Trim();
        Assert.Equal(2, p.ExitCode);
        Assert.Contains(expected, output);
        Assert.DoesNotContain("Unhandled", output);
        Assert.DoesNotContain("   at ", output);
        Assert.Single(output.Split('\n'));
    }
}
