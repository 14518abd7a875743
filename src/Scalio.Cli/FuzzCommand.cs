using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Scalio.Cli.Fuzz;

namespace Scalio.Cli;

/// <summary>
/// <c>scalio fuzz --target NAME|all --inputs N [--seed S]</c>: seeded mutation fuzzing of every decoder of outside bytes
/// (RPC, bootstrap hello, server descriptor, history files, bucket blocks, value records, NVMe/TCP PDU headers,
/// superblock, checkpoints, log replay). Prints per decoder inputs, rejected, accepted, crashes and hangs; exit 1 on any
/// crash or hang, 2 on a usage error.
/// </summary>
internal static class FuzzCommand
{
    public static Command Create()
    {
        var target = new Option<string>("--target") { Description = $"Decoder to fuzz: {string.Join(", ", FuzzTargets.Names)}, or all", DefaultValueFactory = _ => "all" };
        var inputs = new Option<long>("--inputs") { Description = "Inputs per decoder", DefaultValueFactory = _ => 100_000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the mutations", DefaultValueFactory = _ => 1 };
        var hangMs = new Option<int>("--hang-ms") { Description = "One input taking longer than this is a hang", DefaultValueFactory = _ => 1000 };
        var save = new Option<string?>("--save-corpus") { Description = "Directory to save inputs into: every crash and hang, and one input per distinct outcome (up to 24 per decoder)" };
        var cmd = new Command("fuzz", "Fuzz every decoder of outside bytes with seeded mutations of valid encodings (exit 0: no crash and no hang, 1: some)")
        {
            target, inputs, seed, hangMs, save,
        };
        cmd.SetAction(parse =>
        {
            string which = parse.GetValue(target)!;
            long n = parse.GetValue(inputs);
            int ms = parse.GetValue(hangMs);
            if (which != "all" && !FuzzTargets.Names.Contains(which)) return CliErrors.Fail($"fuzz: --target must be one of {string.Join(", ", FuzzTargets.Names)}, all; not '{which}'");
            if (n < 1 || n > 1_000_000_000) return CliErrors.Fail("fuzz: --inputs must be 1..1000000000");
            if (ms < 1 || ms > 600_000) return CliErrors.Fail("fuzz: --hang-ms must be 1..600000");
            string? dir = parse.GetValue(save);
            if (dir is not null && !CliErrors.TryCreateDirectory("--save-corpus", dir)) return CliErrors.Usage;
            return Run(which == "all" ? FuzzTargets.Names : [which], n, parse.GetValue(seed), TimeSpan.FromMilliseconds(ms), dir, Console.Out);
        });
        return cmd;
    }

    /// <summary>Runs the campaign; returns the exit code.</summary>
    public static int Run(IReadOnlyList<string> names, long inputs, int seed, TimeSpan hangBound, string? corpusDir, TextWriter output)
    {
        var inv = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(inv, $"fuzz: {inputs:N0} inputs per decoder, seed {seed}, hang bound {hangBound.TotalMilliseconds:F0} ms"));
        output.WriteLine($"{"decoder",-17} {"inputs",12} {"rejected",12} {"accepted",12} {"crashes",8} {"hangs",6} {"max µs",9} {"seconds",8} {"retimed",8}");
        bool clean = true;
        foreach (string name in names)
        {
            using var t = FuzzTargets.Create(name);
            var shapes = new HashSet<string>();
            int saved = 0;
            long savedBytes = 0;
            Action<FuzzTarget, byte[], string>? keep = corpusDir is null ? null : (tg, input, outcome) =>
            {
                // One input per distinct outcome (each refusal reason, acceptance) and size class is a small corpus that covers the decoder's paths.
                if (saved >= 24 || savedBytes + input.Length > 64 * 1024 || !shapes.Add($"{outcome} / {System.Numerics.BitOperations.Log2((uint)input.Length + 1)}")) return;
                savedBytes += input.Length;
                Save(corpusDir, tg.Name, $"{saved++:D2}", input);
            };
            // An input that never returns cannot be timed by the loop: a watchdog reports it and ends the process.
            using var watchdog = Watchdog(name, hangBound * 10, output);
            var stats = DecoderFuzz.Run(t, inputs, seed, hangBound, keep);
            watchdog.Set();
            output.WriteLine(string.Create(inv, $"{name,-17} {stats.Inputs,12:N0} {stats.Rejected,12:N0} {stats.Accepted,12:N0} {stats.Crashes,8:N0} {stats.Hangs,6:N0} {stats.MaxMicros,9:N0} {stats.Seconds,8:F1} {stats.Retimed,8:N0}"));
            foreach (var (input, what) in stats.Failures.Take(5)) output.WriteLine($"  {name}: {what} ({input.Length} bytes: {Convert.ToHexString(input.AsSpan(0, Math.Min(48, input.Length)))}...)");
            if (corpusDir is not null)
            {
                int i = 0;
                foreach (var (input, _) in stats.Failures) Save(corpusDir, name, $"crash-{i++:D2}", input);
            }
            clean &= stats.Clean;
        }
        output.WriteLine(clean ? "fuzz: 0 crashes, 0 hangs" : "fuzz: FAILED (crashes or hangs above)");
        return clean ? 0 : 1;
    }

    private static void Save(string dir, string target, string name, byte[] input)
    {
        string d = Path.Combine(dir, target);
        Directory.CreateDirectory(d);
        File.WriteAllBytes(Path.Combine(d, name + ".bin"), input);
    }

    private static ManualResetEventSlim Watchdog(string name, TimeSpan bound, TextWriter output)
    {
        var stop = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            // Polls the start of the input being decoded; disposing the event ends the loop.
            try
            {
                while (!stop.Wait(200))
                {
                    long start = DecoderFuzz.CurrentInputStart;
                    if (start != 0 && Stopwatch.GetElapsedTime(start) > bound)
                    {
                        output.WriteLine($"{name}: HANG: one input has run for over {bound.TotalSeconds:F0} s");
                        output.Flush();
                        Environment.Exit(1);
                    }
                }
            }
            catch (ObjectDisposedException)
            {
                // the decoder finished
            }
        }) { IsBackground = true, Name = "fuzz-watchdog" };
        thread.Start();
        return stop;
    }
}
