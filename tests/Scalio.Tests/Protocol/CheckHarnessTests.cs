using System.CommandLine;
using Scalio.Checking;
using Scalio.Cli;

namespace Scalio.Tests.Protocol;

/// <summary>The check harness and <c>scalio check</c> (run in-process through the command object).</summary>
public class CheckHarnessTests
{
    private static CheckRun Run(long seed, BrokenWriteMode broken = BrokenWriteMode.None, double seconds = 2.5, int ssdWriteMicroseconds = 300)
        => CheckHarness.Run(new CheckHarnessOptions
        {
            Seed = seed, Broken = broken, Duration = TimeSpan.FromSeconds(seconds), SsdWriteLatency = TimeSpan.FromMicroseconds(ssdWriteMicroseconds),
        });

    [Fact]
    public void The_protocol_stays_linearizable_with_slow_ssd_writes()
    {
        var run = Run(1, ssdWriteMicroseconds: 2000);
        Assert.Empty(run.ClientErrors);
        Assert.True(run.Result.Verdict == Verdict.Linearizable, run.Result.Format());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void The_protocol_is_linearizable_under_faults(long seed)
    {
        var run = Run(seed);
        Assert.Empty(run.ClientErrors);
        Assert.True(run.Result.Verdict == Verdict.Linearizable, run.Result.Format());
        Assert.Equal(run.History.Count, run.Result.OperationCount);
        var c = run.Counters;
        Assert.True(c.Hits > 100 && c.Fills > 100, $"{c.Hits} hits, {c.Fills} fills");
        Assert.True(c.DirectReads > 0, "no reader ever bypassed a slow filler");
        Assert.True(run.Crashes > 0, "no filler was killed");
        Assert.True(run.Tears > 0 && run.OffloadDelays > 0, run.FaultSummary);
        Assert.True(run.IncompleteOperations >= run.Crashes, "killed operations must be recorded without an end");
    }

    /// <summary>Each broken write path is caught on a fixed seed set: most seeds for the two whose window is every
    /// read (measured: 10 of 10 seeds at the default 10 s, docs/history-format.md). write-cache-first's window is one
    /// SSD write; alone it is caught on 3 of 3 seeds, but under a suite that loads both cores on 1 of 3 (with 300 µs and
    /// with 2 ms writes alike), so here it must be caught at least once, and as the design's counterexample 1 as
    /// written: a reader sees the new value, a later reader the old. `scalio check --broken write-cache-first` on a
    /// quiet host is the must-show's "most seeds".</summary>
    [Theory]
    [InlineData("write-cache-first", 8.0, 2000, 1)]
    [InlineData("write-ssd-first-no-invalidate", 2.5, 300, 2)]
    [InlineData("unguarded-fill", 2.5, 300, 2)]
    public void Each_broken_write_path_is_caught(string mode, double seconds, int ssdWriteMicroseconds, int mustCatch)
    {
        Assert.True(CheckCommand.TryParseBroken(mode, out var broken));
        var verdicts = new List<string>();
        int caught = 0;
        bool newThenOld = false;
        foreach (long seed in (long[])[1, 2, 3])
        {
            var run = Run(seed, broken, seconds, ssdWriteMicroseconds);
            verdicts.Add($"seed {seed}: {run.Result.Verdict}");
            if (run.Result.Verdict == Verdict.NotLinearizable)
            {
                caught++;
                Assert.NotEmpty(run.Result.Counterexample);
                newThenOld |= run.Result.Format().Contains("new then old", StringComparison.Ordinal);
            }
        }
        Assert.True(caught >= mustCatch, $"{mode}: caught on {caught} of 3 seeds, fewer than {mustCatch} ({string.Join(", ", verdicts)})");
        if (broken == BrokenWriteMode.WriteCacheFirst) Assert.True(newThenOld, "write-cache-first was caught, but never as 'new then old'");
    }

    private static (int Exit, string Output, string Error) Cli(params string[] args)
    {
        var root = new RootCommand { CheckCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = root.Parse(["check", .. args]).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData("unguarded-fill", 1)]
    public void Verify_agrees_with_the_built_in_verdict_on_the_written_history(string? broken, int expectedExit)
    {
        string file = Path.Combine(Path.GetTempPath(), $"scalio-check-{Guid.NewGuid():N}.jsonl");
        try
        {
            string[] args = broken is null
                ? ["--seconds", "2", "--seed", "4", "--history", file]
                : ["--seconds", "2", "--broken", broken, "--history", file];
            var run = Cli(args);
            Assert.True(expectedExit == run.Exit, run.Output + run.Error);
            Assert.Contains("checked ", run.Output);
            Assert.Contains(expectedExit == 0 ? "verdict: LINEARIZABLE" : "verdict: VIOLATION", run.Output);
            if (expectedExit == 1) Assert.Contains("=>", run.Output); // the offending sub-history is printed

            var verify = Cli("--verify", file);
            Assert.True(run.Exit == verify.Exit, verify.Output + verify.Error);
            Assert.Equal(Line(run.Output, "checked "), Line(verify.Output, "checked "));
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static string Line(string text, string prefix)
        => text.Split('\n').First(l => l.StartsWith(prefix, StringComparison.Ordinal));

    [Fact]
    public void Verify_flags_a_get_that_returns_a_value_older_than_a_completed_put()
    {
        string file = Path.Combine(Path.GetTempPath(), $"scalio-stale-{Guid.NewGuid():N}.jsonl");
        try
        {
            File.WriteAllText(file,
                """
                {"client": 1, "op": "put", "key": "x", "value": "old", "start": 100, "end": 200}
                {"client": 2, "op": "put", "key": "x", "value": "new", "start": 300, "end": 400}
                {"client": 3, "op": "get", "key": "x", "value": "old", "start": 500, "end": 600}
                {"client": 4, "op": "get", "key": "y", "value": null, "start": 0, "end": null}
                """);
            var verify = Cli("--verify", file);
            Assert.True(verify.Exit == 1, verify.Output + verify.Error);
            Assert.Contains("verdict: VIOLATION", verify.Output);
            Assert.Contains("'old'", verify.Output);

            // The same history with the get returning the newer value is fine.
            File.WriteAllText(file, File.ReadAllText(file).Replace("\"value\": \"old\", \"start\": 500", "\"value\": \"new\", \"start\": 500"));
            Assert.Equal(0, Cli("--verify", file).Exit);

            File.WriteAllText(file, "{\"client\": 1, \"op\": \"put\", \"key\": \"x\", \"start\": 1, \"end\": 2}\n");
            var bad = Cli("--verify", file);
            Assert.Equal(2, bad.Exit);
            Assert.Contains("line 1", bad.Error);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Bad_arguments_exit_with_2()
    {
        Assert.Equal(2, Cli("--broken", "nonsense").Exit);
        Assert.Equal(2, Cli("--broken", "write-cache-last").Exit);
        Assert.Equal(2, Cli("--clients", "0").Exit);
        Assert.Equal(2, Cli("--seconds", "-1").Exit);
        Assert.Equal(2, Cli("--clients", "many").Exit);
        Assert.Equal(2, Cli("--no-such-option").Exit);
        Assert.Equal(2, Cli("--verify", "x.jsonl", "--broken", "unguarded-fill").Exit);
        Assert.Equal(2, Cli("--verify", "/nonexistent/history.jsonl").Exit);
    }
}
