using System.CommandLine;
using System.CommandLine.Invocation;
using System.Globalization;
using System.Runtime.CompilerServices;
using Scalio.Checking;
using Scalio.Fast.Server;

[assembly: InternalsVisibleTo("Scalio.Tests")]

namespace Scalio.Cli;

/// <summary>
/// <c>scalio check</c>: run the linearizability harness (many clients, tiny cache, faults on), check the recorded
/// history and print the verdict; <c>scalio check --verify FILE</c>: check a history file written by anyone.
/// Exit codes: 0 linearizable, 1 violation, 2 usage or file format error, 3 unknown (search budget ran out).
/// </summary>
internal static class CheckCommand
{
    public const int ExitLinearizable = 0;
    public const int ExitViolation = 1;
    public const int ExitUsage = 2;
    public const int ExitUnknown = 3;

    public static Command Create()
    {
        var clients = new Option<int>("--clients") { Description = "Client threads running at once", DefaultValueFactory = _ => 8 };
        var keys = new Option<int>("--keys") { Description = "Distinct keys (the cache has 8 slots per 16 keys)", DefaultValueFactory = _ => 16 };
        var seconds = new Option<double>("--seconds") { Description = "Length of the workload in seconds", DefaultValueFactory = _ => 10 };
        var seed = new Option<long>("--seed") { Description = "Seed of the workload and the fault schedule", DefaultValueFactory = _ => 1 };
        var broken = new Option<string?>("--broken") { Description = "Run a deliberately broken write path: write-cache-first, write-ssd-first-no-invalidate or unguarded-fill" };
        var history = new Option<string?>("--history") { Description = "Write the recorded history to this file (JSON Lines, docs/history-format.md)" };
        var verify = new Option<string[]>("--verify")
        {
            Description = "Check these history files instead of running the harness; several files (e.g. one per client process) are merged: " +
                "their client ids are renumbered per file, their times must come from one clock (CLOCK_MONOTONIC of one machine)",
            AllowMultipleArgumentsPerToken = true,
        };
        var noFaults = new Option<bool>("--no-faults") { Description = "Run without fault injection" };

        var cmd = new Command("check", "Run many clients against a tiny cache with faults on, record the history and check it for linearizability (exit 0: linearizable, 1: violation)")
        {
            clients, keys, seconds, seed, broken, history, verify, noFaults,
        };
        cmd.Action = new CheckAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            // Our action clears System.CommandLine's parse errors (so that they do not exit with its code 1, which
            // here means "violation"); report them, and unknown tokens, ourselves.
            var problems = new List<string>();
            foreach (var e in parse.Errors) problems.Add(e.Message);
            foreach (var o in (Option[])[clients, keys, seconds, seed, broken, history, verify, noFaults])
            {
                if (parse.GetResult(o) is { } r)
                    foreach (var e in r.Errors) problems.Add(e.Message);
            }
            foreach (string t in parse.UnmatchedTokens) problems.Add($"unrecognized argument '{t}'");
            if (problems.Count > 0)
            {
                CliErrors.Report(error, string.Join("; ", problems.Distinct()) + " (usage: scalio check [--clients N] [--keys N] [--seconds N] [--seed N] [--broken write-cache-first|write-ssd-first-no-invalidate|unguarded-fill] [--history FILE] | --verify FILE [FILE ...])");
                return ExitUsage;
            }
            string[]? files = parse.GetValue(verify);
            if (parse.GetResult(verify) is not null && files is not { Length: > 0 })
            {
                CliErrors.Report(error, "--verify needs at least one history file");
                return ExitUsage;
            }
            if (files is { Length: > 0 })
            {
                if (parse.GetValue(broken) is not null || parse.GetValue(history) is not null)
                {
                    CliErrors.Report(error, "--verify checks an existing file; it cannot be combined with --broken or --history");
                    return ExitUsage;
                }
                return Verify(files, output, error);
            }

            if (!TryParseBroken(parse.GetValue(broken), out var mode))
            {
                CliErrors.Report(error, $"unknown --broken mode '{parse.GetValue(broken)}': use write-cache-first, write-ssd-first-no-invalidate or unguarded-fill");
                return ExitUsage;
            }
            double secs = parse.GetValue(seconds);
            if (!(secs > 0 && secs <= 3600))
            {
                CliErrors.Report(error, "--seconds must be in (0, 3600]");
                return ExitUsage;
            }
            var options = new CheckHarnessOptions
            {
                Clients = parse.GetValue(clients),
                Keys = parse.GetValue(keys),
                Duration = TimeSpan.FromSeconds(secs),
                Seed = parse.GetValue(seed),
                Broken = mode,
                Faults = !parse.GetValue(noFaults),
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                CliErrors.Report(error, e.Message);
                return ExitUsage;
            }
            return RunHarness(options, parse.GetValue(history), output, error);
        });
        return cmd;
    }

    /// <summary>Runs even when the command line has errors, so that those exit with 2 (usage), never with 1 (violation).</summary>
    private sealed class CheckAction(Func<ParseResult, int> run) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult) => run(parseResult);
    }

    internal static bool TryParseBroken(string? text, out BrokenWriteMode mode)
    {
        mode = text switch
        {
            null => BrokenWriteMode.None,
            "write-cache-first" => BrokenWriteMode.WriteCacheFirst,
            "unguarded-fill" => BrokenWriteMode.UnguardedFill,
            "write-ssd-first-no-invalidate" => BrokenWriteMode.WriteSsdFirstNoInvalidate,
            _ => (BrokenWriteMode)(-1),
        };
        return (int)mode >= 0;
    }

    private static string Name(BrokenWriteMode mode) => mode switch
    {
        BrokenWriteMode.WriteCacheFirst => "write-cache-first",
        BrokenWriteMode.UnguardedFill => "unguarded-fill",
        BrokenWriteMode.WriteSsdFirstNoInvalidate => "write-ssd-first-no-invalidate",
        _ => "none",
    };

    private static int RunHarness(CheckHarnessOptions o, string? historyFile, TextWriter output, TextWriter error)
    {
        var inv = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(inv,
            $"scalio check: {o.Clients} clients, {o.Keys} keys, {o.Duration.TotalSeconds:0.###} s, seed {o.Seed}, faults {(o.Faults ? "on" : "off")}{(o.Broken == BrokenWriteMode.None ? "" : $", BROKEN write path: {Name(o.Broken)}")}"));
        CheckRun run = CheckHarness.Run(o);
        var c = run.Counters;
        output.WriteLine(string.Create(inv,
            $"ran {run.History.Count} operations in {run.Elapsed.TotalSeconds:0.0} s ({run.IncompleteOperations} without an end: crashed or failed)"));
        output.WriteLine(string.Create(inv,
            $"clients: {c.Gets} gets ({c.Hits} hits, {c.Fills} fills, {c.DirectReads} direct SSD reads), {c.Writes} writes, {c.TornRetries} torn-read retries, {c.Reclaims} reclaims, {c.StaleBodiesFreed} stale bodies freed"));
        output.WriteLine("faults: " + run.FaultSummary);
        foreach (string e in run.ClientErrors) error.WriteLine("client error: " + e);
        if (historyFile is not null)
        {
            try
            {
                HistoryJson.WriteFile(historyFile, run.History);
                output.WriteLine($"history written to {historyFile}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                CliErrors.Report(error, $"cannot write the history to {historyFile}: {e.Message}");
                return ExitUsage;
            }
        }
        return Report(run.Result, output);
    }

    private static int Verify(string[] files, TextWriter output, TextWriter error)
    {
        var history = new List<HistoryOperation>();
        var ids = new Dictionary<(int File, int Client), int>();
        for (int f = 0; f < files.Length; f++)
        {
            string file = files[f];
            List<HistoryOperation> part;
            try
            {
                using var stream = File.OpenRead(file);
                part = HistoryJson.Read(stream);
            }
            catch (HistoryFormatException e)
            {
                CliErrors.Report(error, $"{file}: {e.Message}");
                return ExitUsage;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                CliErrors.Report(error, $"cannot read {file}: {e.Message}");
                return ExitUsage;
            }
            if (files.Length == 1)
            {
                history = part;
                break;
            }
            // One file per process: the same client id in two files names two different clients.
            foreach (var op in part)
            {
                if (!ids.TryGetValue((f, op.Client), out int id)) ids.Add((f, op.Client), id = ids.Count);
                history.Add(op with { Client = id });
            }
            output.WriteLine($"{file}: {part.Count} operations");
        }
        if (files.Length > 1)
            output.WriteLine($"scalio check --verify: {files.Length} files merged, {history.Count} operations, {ids.Count} clients (ids renumbered per file; times taken as one clock)");
        else
            output.WriteLine($"scalio check --verify {files[0]}: {history.Count} operations read");
        CheckResult result;
        try
        {
            result = LinearizabilityChecker.Check(history);
        }
        catch (ArgumentException e)
        {
            CliErrors.Report(error, $"{string.Join(' ', files)}: {e.Message}");
            return ExitUsage;
        }
        return Report(result, output);
    }

    private static int Report(CheckResult result, TextWriter output)
    {
        output.WriteLine($"checked {result.OperationCount} operations on {result.KeyCount} keys");
        output.Write(result.Format());
        switch (result.Verdict)
        {
            case Verdict.Linearizable:
                output.WriteLine("verdict: LINEARIZABLE");
                return ExitLinearizable;
            case Verdict.NotLinearizable:
                output.WriteLine("verdict: VIOLATION");
                return ExitViolation;
            default:
                output.WriteLine("verdict: UNKNOWN (search budget ran out; not a pass)");
                return ExitUnknown;
        }
    }
}
