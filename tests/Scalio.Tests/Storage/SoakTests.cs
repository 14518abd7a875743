using System.CommandLine;
using System.Text.RegularExpressions;
using Scalio.Cli;

namespace Scalio.Tests.Storage;

/// <summary><c>scalio soak</c>: a short kill campaign against real server processes, and the ledger that judges it.</summary>
public class SoakTests
{
    private static (int Exit, string Output, string Error) Cli(params string[] args)
    {
        var root = new RootCommand { SoakCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = root.Parse(["soak", .. args]).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    private static long Number(string output, string pattern)
    {
        var m = Regex.Match(output, pattern);
        Assert.True(m.Success, $"no match for '{pattern}' in:\n{output}");
        return long.Parse(m.Groups[1].Value);
    }

    [Fact]
    public void A_short_kill_campaign_loses_no_acknowledged_write()
    {
        if (!OperatingSystem.IsLinux()) return; // file namespaces are Linux-only
        var run = Cli("--rounds", "2", "--seed", "3");
        Assert.True(run.Exit == 0, run.Output + run.Error);
        Assert.Contains("acknowledged writes lost: 0", run.Output);
        Assert.Contains("soak: PASSED", run.Output);
        Assert.Equal(2, Number(run.Output, @"rounds: 2 \((\d+) SIGKILLs recovered"));
        Assert.True(Number(run.Output, @"PUTs acknowledged: (\d+)") >= 200, run.Output);
        // Round 2 and the final start each read back every key written before their kill.
        Assert.True(Number(run.Output, @"acknowledged writes checked: (\d+)") >= 100, run.Output);
        Assert.Matches(@"recovery time \(store open after SIGKILL\): p50 \d+ ms, p99 \d+ ms, max \d+ ms", run.Output);
        Assert.Contains("stopped cleanly", run.Output);
    }

    /// <summary>The same with 5 % of the server's SSD writes failing: refused PUTs are counted, none comes back after a
    /// kill, nothing acknowledged is lost, and the server keeps serving until it is killed.</summary>
    [Fact]
    public void A_short_kill_campaign_with_failing_writes_loses_nothing_and_brings_no_refused_write_back()
    {
        if (!OperatingSystem.IsLinux()) return;
        var run = Cli("--rounds", "2", "--seed", "4", "--inject-write-errors", "0.05");
        Assert.True(run.Exit == 0, run.Output + run.Error);
        Assert.Contains("acknowledged writes lost: 0", run.Output);
        Assert.Contains("values never written or not in flight: 0", run.Output);
        Assert.True(Number(run.Output, @"PUTs refused under injected write errors \(p = 0\.05\): (\d+)") > 0, run.Output);
        Assert.True(Number(run.Output, @"acknowledged writes checked: (\d+)") >= 100, run.Output);
    }

    [Fact]
    public void The_ledger_accepts_the_acknowledged_or_the_in_flight_version_only()
    {
        ulong V(long round, long n) => ((ulong)round << 40) | (ulong)n;
        var ledger = new SoakLedger(5);
        ledger.Ack(0, V(1, 1));
        ledger.Ack(0, V(1, 7));
        ledger.Ack(1, V(1, 2));
        ledger.Ack(2, V(1, 3));
        ledger.Ack(3, V(1, 4));
        var problems = new List<string>();
        var found = new Dictionary<int, ulong>
        {
            [0] = V(1, 7),  // the last acknowledged
            [1] = V(1, 9),  // newer, from the killed round: the PUT in flight
            [2] = V(1, 1),  // older than acknowledged: lost
            // 3 missing: lost
            [4] = V(1, 12), // never acknowledged, but written in the killed round: in flight
        };
        var (checkedKeys, lost, phantoms) = ledger.Judge(found, killedRound: 1, problems);
        Assert.Equal(4, checkedKeys);
        Assert.Equal(2, lost);
        Assert.Equal(0, phantoms);
        Assert.Contains(problems, p => p.StartsWith("key 2:", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("key 3:", StringComparison.Ordinal) && p.Contains("found nothing"));

        // What recovery found is the new expectation; a version of an earlier round that appears now was never in flight.
        problems.Clear();
        found[4] = V(1, 13);
        (_, lost, phantoms) = ledger.Judge(found, killedRound: 2, problems);
        Assert.Equal(1, phantoms);
        Assert.Equal(0, lost);

        // A newer version of the killed round is the PUT in flight, unless the server refused it.
        problems.Clear();
        ledger.Refuse(V(3, 20));
        found[0] = V(3, 20);
        found[1] = V(3, 21);
        (_, lost, phantoms) = ledger.Judge(found, killedRound: 3, problems);
        Assert.Equal(1, phantoms);
        Assert.Contains(problems, p => p.StartsWith("key 0:", StringComparison.Ordinal) && p.Contains("refused"));
    }

    [Fact]
    public void Soak_values_are_checked_byte_for_byte()
    {
        var value = new byte[SoakLoad.MaxValue];
        var scratch = new byte[SoakLoad.MaxValue];
        int small = 0, large = 0;
        for (ulong v = 1; v <= 200; v++)
        {
            int n = SoakLoad.ValueOf(7, v, value);
            if (n > 1000) large++; else small++;
            Assert.Equal(v, SoakLoad.Check(7, value.AsSpan(0, n), scratch));
            Assert.Equal(0UL, SoakLoad.Check(8, value.AsSpan(0, n), scratch)); // another key's value
            value[n - 1] ^= 1;
            Assert.Equal(0UL, SoakLoad.Check(7, value.AsSpan(0, n), scratch)); // one flipped bit
        }
        Assert.True(small > 100 && large > 30, $"{small} inline-sized, {large} value-log-sized");
    }

    [Fact]
    public void Bad_arguments_exit_with_2()
    {
        Assert.Equal(2, Cli("--rounds", "0").Exit);
        Assert.Equal(2, Cli("--rounds", "many").Exit);
        Assert.Equal(2, Cli("--max-recovery-seconds", "-1").Exit);
        Assert.Equal(2, Cli("--inject-write-errors", "0.9").Exit);
        Assert.Equal(2, Cli("--no-such-option").Exit);
        string dir = Path.Combine(Path.GetTempPath(), $"scalio-soak-nonempty-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "ssd0.img"), "x");
            var run = Cli("--data-dir", dir);
            Assert.Equal(2, run.Exit);
            Assert.Contains("not empty", run.Error);
            Assert.Single(run.Error.Trim().Split('\n'));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
