using System.Collections.Concurrent;
using System.CommandLine;
using System.CommandLine.Invocation;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Scalio.Cli;

/// <summary>
/// <c>scalio soak --rounds N [--seed S]</c>: a kill campaign. Each round starts <c>scalio server --data-dir DIR</c> as
/// a child process; the server recovers the store, reads every key back (checked here against every PUT acknowledged
/// before the last kill), then runs YCSB-A threads that print each acknowledged PUT; at a seeded moment the child is
/// SIGKILLed. A last start checks the last kill and stops with SIGTERM. Exit codes: 0 nothing lost, 1 a loss or another
/// failure, 2 usage.
/// </summary>
internal static partial class SoakCommand
{
    public const int ExitPassed = 0;
    public const int ExitFailed = 1;
    public const int ExitUsage = 2;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);

    private const int SigTerm = 15;

    public static Command Create()
    {
        var rounds = new Option<int>("--rounds") { Description = "Kill rounds (each: start, recover, check, run YCSB-A, SIGKILL)", DefaultValueFactory = _ => 20 };
        var seed = new Option<long>("--seed") { Description = "Seed of the store geometry, the batch sizes, the kill moments and the workload", DefaultValueFactory = _ => 1 };
        var dataDir = new Option<string?>("--data-dir") { Description = "Empty or new directory for the namespace files (default: a fresh temporary directory, removed when the campaign passes)" };
        var writeErrors = new Option<double>("--inject-write-errors") { Description = "Fail this fraction of the server's SSD writes while it runs (seeded; refused PUTs must never come back)", DefaultValueFactory = _ => 0 };
        var maxRecovery = new Option<double>("--max-recovery-seconds") { Description = "Longest a recovery (store open after a kill) may take before the round fails", DefaultValueFactory = _ => 10 };
        var cmd = new Command("soak",
            "Kill campaign: run N rounds of a file-backed 'scalio server' child under YCSB-A with every acknowledged PUT logged, SIGKILL it at a " +
            "seeded moment, restart it and check that every acknowledged value is read back intact and how long recovery took " +
            "(exit 0: nothing lost, 1: a loss or failure)")
        {
            rounds, seed, dataDir, maxRecovery, writeErrors,
        };
        cmd.Action = new SoakAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var problems = new List<string>();
            foreach (var e in parse.Errors) problems.Add(e.Message);
            foreach (var o in (Option[])[rounds, seed, dataDir, maxRecovery, writeErrors])
            {
                if (parse.GetResult(o) is { } r)
                    foreach (var e in r.Errors) problems.Add(e.Message);
            }
            foreach (string t in parse.UnmatchedTokens) problems.Add($"unrecognized argument '{t}'");
            if (problems.Count > 0)
            {
                CliErrors.Report(error, $"soak: {problems[0]}");
                return ExitUsage;
            }
            int n = parse.GetValue(rounds);
            double bound = parse.GetValue(maxRecovery);
            if (problems.Count == 0 && (n < 1 || n > 10_000)) problems.Add("--rounds must be 1..10000");
            if (problems.Count == 0 && !(bound > 0 && bound <= 3600)) problems.Add("--max-recovery-seconds must be in (0, 3600]");
            double faults = parse.GetValue(writeErrors);
            if (problems.Count == 0 && !(faults >= 0 && faults <= 0.5)) problems.Add("--inject-write-errors must be in [0, 0.5]");
            string? dir = parse.GetValue(dataDir);
            if (problems.Count == 0 && dir is not null && Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
                problems.Add($"--data-dir {dir} is not empty (the campaign formats a new store)");
            if (problems.Count > 0)
            {
                CliErrors.Report(error, $"soak: {problems[0]}");
                return ExitUsage;
            }
            var campaign = new SoakCampaign(n, parse.GetValue(seed), dir, TimeSpan.FromSeconds(bound), faults, output, error);
            return campaign.Run();
        });
        return cmd;
    }

    /// <summary>Runs even when the command line has errors, so that those exit with 2 (usage), never with 1 (a loss).</summary>
    private sealed class SoakAction(Func<ParseResult, int> run) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult) => run(parseResult);
    }

    /// <summary>Sends SIGTERM to <paramref name="pid"/>.</summary>
    internal static bool Terminate(int pid) => SendSignal(pid, SigTerm) == 0;
}

/// <summary>
/// What a campaign knows about the store: per key, the version of its last acknowledged PUT (or what the last recovery
/// found). After a kill of round R a recovered key must hold exactly that version, or a newer one written in round R
/// (the one PUT of that key in flight at the kill) and not refused; anything else is a loss (older or missing) or a phantom.
/// </summary>
internal sealed class SoakLedger(int keys)
{
    private readonly ulong[] _expected = new ulong[keys];
    private readonly HashSet<ulong> _refused = [];

    /// <summary>PUTs acknowledged so far.</summary>
    public long Acknowledged { get; private set; }

    /// <summary>Records an acknowledged PUT of key <paramref name="k"/> at <paramref name="version"/>.</summary>
    public void Ack(int k, ulong version)
    {
        Acknowledged++;
        if (version > _expected[k]) _expected[k] = version;
    }

    /// <summary>Records a PUT the server refused (answered with an error): its version must never be found.</summary>
    public void Refuse(ulong version) => _refused.Add(version);

    /// <summary>Judges what recovery found (<paramref name="found"/>: version per key, absent = not found) after the kill
    /// of round <paramref name="killedRound"/> (0: none, a fresh store); the found versions become the expectation.</summary>
    public (int Checked, int Lost, int Phantoms) Judge(IReadOnlyDictionary<int, ulong> found, long killedRound, List<string> problems)
    {
        int checkedKeys = 0, lost = 0, phantoms = 0;
        for (int k = 0; k < _expected.Length; k++)
        {
            ulong e = _expected[k];
            ulong f = found.TryGetValue(k, out ulong v) ? v : 0;
            if (e != 0) checkedKeys++;
            if (e != 0 && f < e)
            {
                lost++;
                if (problems.Count < 20) problems.Add(f == 0 ? $"key {k}: version {e} was acknowledged, recovery found nothing" : $"key {k}: version {e} was acknowledged, recovery found the older {f}");
            }
            else if (f > e && (SoakLoad.RoundOf(f) != killedRound || _refused.Contains(f)))
            {
                phantoms++;
                if (problems.Count < 20)
                    problems.Add(_refused.Contains(f) ? $"key {k}: recovery found version {f}, a PUT the server refused (last acknowledged {e})"
                        : $"key {k}: recovery found version {f}, never in flight at the kill of round {killedRound} (last acknowledged {e})");
            }
            _expected[k] = f;
        }
        return (checkedKeys, lost, phantoms);
    }
}

/// <summary>One campaign of <c>scalio soak</c>.</summary>
internal sealed class SoakCampaign(int rounds, long seed, string? dataDir, TimeSpan maxRecovery, double writeErrors, TextWriter output, TextWriter error)
{
    private const int Threads = 3;
    private static readonly int[] BatchSizes = [1, 8, 32];

    private readonly List<string> _problems = [];
    private readonly List<double> _recoveryMs = [];
    private long _checked, _lost, _phantoms, _bad, _stale, _putErrors, _killsInCleaner, _killsInCheckpoint, _roundFailures;

    public int Run()
    {
        var inv = CultureInfo.InvariantCulture;
        var wall = Stopwatch.StartNew();
        var random = new Random(unchecked((int)(seed * 0x5DEECE66DL)));
        // A small store laps its log every few seconds, so the cleaner moves blocks and checkpoints are written all the time.
        int records = 800 << random.Next(3); // 800, 1600 or 3200
        int ssds = 1 + random.Next(2);
        int keys = records / 2;
        string dir = dataDir ?? Path.Combine(Path.GetTempPath(), $"scalio-soak-{Environment.ProcessId}-{seed}");
        bool ownDir = dataDir is null;
        Directory.CreateDirectory(dir);
        output.WriteLine(string.Create(inv,
            $"scalio soak: {rounds} rounds, seed {seed}, {ssds} SSD(s) sized for {records} records, {keys} keys, values 16..2047 B (~30 % in the value log), {Threads} YCSB-A threads{(writeErrors > 0 ? $", SSD writes failing with p = {writeErrors}" : "")}, data in {dir}"));
        output.Flush();
        var ledger = new SoakLedger(keys);
        bool passed = false;
        try
        {
            for (int r = 1; r <= rounds + 1; r++)
            {
                bool last = r == rounds + 1;
                int batch = BatchSizes[random.Next(BatchSizes.Length)];
                int runMs = 800 + random.Next(2700);
                var aim = (KillAim)random.Next(3);
                if (!RunRound(r, last, dir, records, ssds, keys, batch, runMs, aim, ledger)) break;
            }
            passed = Summary(ledger, wall.Elapsed);
        }
        finally
        {
            if (ownDir && passed) TryDelete(dir);
        }
        if (!passed && ownDir) output.WriteLine($"the store is left in {dir}");
        return passed ? SoakCommand.ExitPassed : SoakCommand.ExitFailed;
    }

    /// <summary>When a round's SIGKILL comes: at its seeded time, or (from 0.5 s on, at the latest after 5 s) as soon as
    /// the server reports that a checkpoint was written or the cleaner moved blocks in its last 10 ms.</summary>
    private enum KillAim
    {
        Time,
        Checkpoint,
        Cleaner,
    }

    /// <summary>One start of the server: recover, judge, then (unless <paramref name="last"/>) load and SIGKILL; the
    /// last start is stopped with SIGTERM and must exit cleanly. False when the campaign cannot go on.</summary>
    private bool RunRound(int round, bool last, string dir, int records, int ssds, int keys, int batch, int runMs, KillAim aim, SoakLedger ledger)
    {
        var inv = CultureInfo.InvariantCulture;
        using var child = new ServerChild(dir, records, ssds, keys, round, seed, batch, last ? 0 : Threads, last ? 0 : writeErrors);
        var found = new Dictionary<int, ulong>();
        var pendingAcks = new List<(int, ulong)>();
        long acks = 0;
        double openedMs = -1;
        (long Moves, long Checkpoints) previous = (-1, -1), latest = (-1, -1);
        // Recovery: rec/bad lines until "ready" (acks of this round may come first; they are applied after the judgement).
        var readyBy = Stopwatch.StartNew();
        while (openedMs < 0)
        {
            string? line = child.Next(TimeSpan.FromSeconds(120) - readyBy.Elapsed);
            if (line is null) return Fail(round, $"the server never became ready{child.Describe()}");
            if (line.StartsWith("ready", StringComparison.Ordinal)) openedMs = OpenedMs(line);
            else Take(line, round, found, pendingAcks, ref previous, ref latest, dumping: true, ledger);
        }
        var (checkedKeys, lost, phantoms) = ledger.Judge(found, round - 1, _problems);
        _checked += checkedKeys;
        _lost += lost;
        _phantoms += phantoms;
        if (round > 1)
        {
            _recoveryMs.Add(openedMs);
            if (openedMs > maxRecovery.TotalMilliseconds) Fail(round, string.Create(inv, $"recovery took {openedMs} ms, over the bound of {maxRecovery.TotalMilliseconds} ms"));
        }
        foreach (var (k, v) in pendingAcks) ledger.Ack(k, v);
        acks += pendingAcks.Count;

        if (last)
        {
            child.Terminate();
            string? line;
            while ((line = child.Next(TimeSpan.FromSeconds(60))) is not null) { }
            int exit = child.WaitExit(TimeSpan.FromSeconds(30));
            if (exit != 0) Fail(round, $"the final server did not stop cleanly on SIGTERM (exit {exit}){child.Describe()}");
            output.WriteLine(string.Create(inv, $"final restart: recovered in {openedMs:0} ms, {checkedKeys} keys checked, {lost} lost; stopped cleanly"));
            output.Flush();
            return true;
        }

        var kill = Stopwatch.StartNew();
        int limitMs = aim == KillAim.Time ? runMs : 5000;
        while (kill.ElapsedMilliseconds < limitMs)
        {
            string? line = child.Next(TimeSpan.FromMilliseconds(Math.Max(1, limitMs - kill.ElapsedMilliseconds)));
            if (line is null)
            {
                if (child.Exited) return Fail(round, $"the server exited before the kill{child.Describe()}");
                continue;
            }
            acks += Take(line, round, found, null, ref previous, ref latest, dumping: false, ledger);
            if (aim == KillAim.Time || kill.ElapsedMilliseconds < 500 || !line.StartsWith("stat", StringComparison.Ordinal) || previous.Moves < 0) continue;
            if (aim == KillAim.Checkpoint ? latest.Checkpoints > previous.Checkpoints : latest.Moves > previous.Moves) break;
        }
        long killedAtMs = kill.ElapsedMilliseconds;
        child.Kill(); // SIGKILL, by PID
        child.WaitExit(TimeSpan.FromSeconds(30));
        string? rest;
        while ((rest = child.Next(TimeSpan.FromSeconds(10))) is not null) acks += Take(rest, round, found, null, ref previous, ref latest, dumping: false, ledger); // acks already in the pipe count
        bool inCleaner = previous.Moves >= 0 && latest.Moves > previous.Moves;
        bool inCheckpoint = previous.Checkpoints >= 0 && latest.Checkpoints > previous.Checkpoints;
        if (inCleaner) _killsInCleaner++;
        if (inCheckpoint) _killsInCheckpoint++;
        string during = inCleaner && inCheckpoint ? " (cleaner moving blocks, checkpoint written in the last 10 ms)"
            : inCleaner ? " (cleaner moving blocks in the last 10 ms)" : inCheckpoint ? " (checkpoint written in the last 10 ms)" : "";
        string aimed = aim == KillAim.Time ? "at its seeded time" : aim == KillAim.Checkpoint ? "aimed at a checkpoint" : "aimed at the cleaner";
        output.WriteLine(string.Create(inv,
            $"round {round}: {(round == 1 ? "formatted" : $"recovered in {openedMs:0} ms")}, {checkedKeys} keys checked, {lost} lost; batch {batch}, {acks} PUTs acknowledged, SIGKILL {aimed} after {killedAtMs} ms{during}"));
        output.Flush();
        return true;
    }

    /// <summary>Handles one line of the child; returns the acks it applied (1 or 0).</summary>
    private int Take(string line, int round, Dictionary<int, ulong> found, List<(int, ulong)>? pendingAcks,
        ref (long, long) previous, ref (long, long) latest, bool dumping, SoakLedger? ledger = null)
    {
        string[] f = line.Split(' ');
        switch (f[0])
        {
            case "ack" when f.Length == 3 && int.TryParse(f[1], out int k) && ulong.TryParse(f[2], out ulong v):
                if (pendingAcks is not null) pendingAcks.Add((k, v));
                else ledger!.Ack(k, v);
                return pendingAcks is null ? 1 : 0;
            case "rec" when dumping && f.Length == 3 && int.TryParse(f[1], out int k) && ulong.TryParse(f[2], out ulong v):
                found[k] = v;
                return 0;
            case "stat" when f.Length == 4 && long.TryParse(f[1], out long moves) && long.TryParse(f[2], out long checkpoints):
                previous = latest;
                latest = (moves, checkpoints);
                return 0;
            case "bad":
                _bad++;
                Problem(round, line);
                return 0;
            case "stale":
                _stale++;
                Problem(round, line);
                return 0;
            case "err" when f.Length == 4 && ulong.TryParse(f[2], out ulong refused):
                _putErrors++;
                ledger?.Refuse(refused);
                if (writeErrors == 0) Problem(round, line);
                return 0;
            case "err":
                _putErrors++;
                Problem(round, line);
                return 0;
            default:
                return 0; // recovery report, ready, stopping: informational
        }
    }

    private static double OpenedMs(string readyLine)
    {
        int at = readyLine.IndexOf("opened in ", StringComparison.Ordinal);
        if (at < 0) return 0;
        string rest = readyLine[(at + 10)..];
        int end = rest.IndexOf(' ');
        return double.TryParse(end < 0 ? rest : rest[..end], NumberStyles.Float, CultureInfo.InvariantCulture, out double ms) ? ms : 0;
    }

    private void Problem(int round, string text)
    {
        if (_problems.Count < 20) _problems.Add($"round {round}: {text}");
    }

    private bool Fail(int round, string text)
    {
        _roundFailures++;
        _problems.Add($"round {round}: {text}");
        return false;
    }

    private bool Summary(SoakLedger ledger, TimeSpan elapsed)
    {
        var inv = CultureInfo.InvariantCulture;
        int kills = _recoveryMs.Count;
        output.WriteLine(string.Create(inv, $"rounds: {rounds} ({kills} SIGKILLs recovered, {elapsed.TotalSeconds:0.0} s)"));
        output.WriteLine(string.Create(inv, $"PUTs acknowledged: {ledger.Acknowledged}"));
        output.WriteLine(string.Create(inv, $"acknowledged writes checked: {_checked} (each key's latest acknowledged value, read back after every restart)"));
        output.WriteLine(string.Create(inv, $"acknowledged writes lost: {_lost}"));
        output.WriteLine(string.Create(inv, $"values never written or not in flight: {_phantoms}; damaged values: {_bad}; stale reads while running: {_stale}; {(writeErrors > 0 ? $"PUTs refused under injected write errors (p = {writeErrors}): {_putErrors}" : $"failed PUTs: {_putErrors}")}"));
        output.WriteLine(string.Create(inv, $"kills with the cleaner moving blocks in the last 10 ms: {_killsInCleaner}/{kills}; with a checkpoint written in the last 10 ms: {_killsInCheckpoint}/{kills}"));
        if (kills > 0)
        {
            var sorted = _recoveryMs.Order().ToArray();
            output.WriteLine(string.Create(inv,
                $"recovery time (store open after SIGKILL): p50 {Percentile(sorted, 0.50):0} ms, p99 {Percentile(sorted, 0.99):0} ms, max {sorted[^1]:0} ms (bound {maxRecovery.TotalMilliseconds:0} ms)"));
        }
        foreach (string p in _problems) error.WriteLine(p);
        output.Flush();
        bool passed = _lost == 0 && _phantoms == 0 && _bad == 0 && _stale == 0 && (_putErrors == 0 || writeErrors > 0) && _roundFailures == 0;
        output.WriteLine(passed ? "soak: PASSED" : "soak: FAILED");
        return passed;
    }

    private static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
            // a leftover temporary directory is not worth failing the campaign for
        }
    }

    /// <summary>A <c>scalio server</c> child: every line of its stdout in a queue (null at the end), stderr kept for messages.</summary>
    private sealed class ServerChild : IDisposable
    {
        private readonly Process _process;
        private readonly BlockingCollection<string?> _lines = new();
        private readonly StringBuilder _stderr = new();
        private bool _ended;

        public ServerChild(string dir, int records, int ssds, int keys, int round, long seed, int batch, int threads, double writeErrors)
        {
            var inv = CultureInfo.InvariantCulture;
            var psi = StartInfo(["server", "--data-dir", dir, "--records", records.ToString(inv), "--ssds", ssds.ToString(inv),
                "--batch-size", batch.ToString(inv), "--self-load", threads.ToString(inv), "--soak-keys", keys.ToString(inv),
                "--soak-round", round.ToString(inv), "--soak-seed", seed.ToString(inv), "--soak-write-errors", writeErrors.ToString("R", inv)]);
            _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
            _process.OutputDataReceived += (_, e) => _lines.Add(e.Data);
            _process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (_stderr) if (_stderr.Length < 4000) _stderr.AppendLine(e.Data);
            };
            _process.Start();
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public bool Exited => _ended || _process.HasExited;

        /// <summary>The next stdout line; null at the end of the output or when <paramref name="timeout"/> passes first.</summary>
        public string? Next(TimeSpan timeout)
        {
            if (_ended) return null;
            if (!_lines.TryTake(out string? line, timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout)) return null;
            if (line is null) _ended = true;
            return line;
        }

        public void Kill()
        {
            if (!_process.HasExited) _process.Kill(); // SIGKILL on Unix
        }

        public void Terminate()
        {
            if (!_process.HasExited) SoakCommand.Terminate(_process.Id);
        }

        public int WaitExit(TimeSpan timeout)
        {
            if (!_process.WaitForExit(timeout)) return -1;
            _process.WaitForExit(); // lets the asynchronous readers reach the end of the output
            return _process.ExitCode;
        }

        public string Describe()
        {
            string code = _process.HasExited ? $" (exit {_process.ExitCode})" : "";
            lock (_stderr) return code + (_stderr.Length > 0 ? ": " + _stderr.ToString().Trim().Replace('\n', ' ') : "");
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited) _process.Kill();
                _process.WaitForExit(10_000);
            }
            catch (InvalidOperationException)
            {
                // never started or already reaped
            }
            _process.Dispose();
            _lines.Dispose();
        }

        /// <summary><c>dotnet exec</c> of this CLI assembly with its runtime config (or the entry assembly's).</summary>
        private static ProcessStartInfo StartInfo(string[] args)
        {
            string cli = typeof(SoakCommand).Assembly.Location;
            string runtimeConfig = Path.ChangeExtension(cli, ".runtimeconfig.json");
            if (!File.Exists(runtimeConfig) && System.Reflection.Assembly.GetEntryAssembly()?.Location is { Length: > 0 } entry)
                runtimeConfig = Path.ChangeExtension(entry, ".runtimeconfig.json");
            string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h
                : Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
            var psi = new ProcessStartInfo(dotnet)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string a in (string[])["exec", "--runtimeconfig", runtimeConfig, cli, .. args]) psi.ArgumentList.Add(a);
            return psi;
        }
    }
}
