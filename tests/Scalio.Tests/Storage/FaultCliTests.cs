using System.Text.RegularExpressions;
using Scalio.Tests.Remote;

namespace Scalio.Tests.Storage;

/// <summary><c>scalio ycsb --inject-write-errors P --history H</c> then <c>scalio check --verify H</c>, as child processes.</summary>
public class FaultCliTests
{
    [Fact(Timeout = 180_000)]
    public async Task A_ycsb_run_with_write_errors_completes_counts_its_failed_puts_and_its_history_is_linearizable()
    {
        string history = Path.Combine(Path.GetTempPath(), $"scalio-faults-{Guid.NewGuid():N}.jsonl");
        try
        {
            string output;
            using (var run = new ScalioProcess("ycsb", "ycsb", "--workload", "A", "--records", "5000", "--operations", "20000",
                "--inject-write-errors", "0.02", "--seed", "4", "--history", history))
            {
                Assert.True(await run.WaitForExitAsync(TimeSpan.FromSeconds(120)) == 0, run.Output);
                output = run.Output;
            }
            var failed = Regex.Match(output, @"PUTs failed: ([\d,]+)");
            Assert.True(failed.Success, output);
            Assert.True(long.Parse(failed.Groups[1].Value.Replace(",", "")) > 0, output);
            Assert.Contains("server still serving after the faults: yes", output);
            using var verify = new ScalioProcess("check", "check", "--verify", history);
            Assert.True(await verify.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, verify.Output);
            Assert.Contains("verdict: LINEARIZABLE", verify.Output);
        }
        finally
        {
            File.Delete(history);
        }
    }
}
