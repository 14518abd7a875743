using System.CommandLine;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Ycsb;
using Spectre.Console;

namespace Scalio.Cli;

/// <summary><c>scalio ycsb</c>: load an embedded store and run a YCSB workload against it.</summary>
internal static class YcsbCommand
{
    public static Command Create()
    {
        var workload = new Option<string>("--workload", "-w") { Description = "YCSB workload: A, B, C, D or F (E needs range scans, which a hash store does not have)", DefaultValueFactory = _ => "C" };
        var records = new Option<long>("--records") { Description = "Records loaded before the run", DefaultValueFactory = _ => 200_000 };
        var operations = new Option<long>("--operations") { Description = "Operations in the run phase", DefaultValueFactory = _ => 400_000 };
        var seconds = new Option<double>("--seconds") { Description = "Upper bound on the run phase in seconds (0: none)", DefaultValueFactory = _ => 30 };
        var threads = new Option<int>("--threads", "-t") { Description = "Client threads", DefaultValueFactory = _ => 2 };
        var cache = new Option<double>("--cache-fraction") { Description = "Cache slots as a fraction of the records", DefaultValueFactory = _ => 0.10 };
        var ssds = new Option<int>("--ssds") { Description = "Number of SSD namespaces", DefaultValueFactory = _ => 1 };
        var dataDir = new Option<string?>("--data-dir") { Description = "Put the namespaces in files in this directory (real I/O, O_DIRECT where the filesystem allows) instead of RAM; existing files are recovered and reused (same --records and --ssds)" };
        var variant = new Option<string>("--variant") { Description = "Key choice: ycsb-c (the C++ port used by LEED and Scalio) or official (Java CoreWorkload)", DefaultValueFactory = _ => "ycsb-c" };
        var seed = new Option<long>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 1 };
        var workers = new Option<int>("--server-workers") { Description = "Server worker threads", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch-size") { Description = "PUTs/DELETEs packed into one SSD write per device (1 turns batching off; up to 128)", DefaultValueFactory = _ => 8 };

        var cmd = new Command("ycsb", "Load an embedded Scalio store (loopback fabric, emulated NVMe-oF offload, RAM or file namespaces) and run a YCSB workload")
        {
            workload, records, operations, seconds, threads, cache, ssds, dataDir, variant, seed, workers, batch,
        };
        cmd.SetAction(parse =>
        {
            YcsbWorkload parsed;
            try
            {
                parsed = WorkloadSpec.ParseWorkload(parse.GetValue(workload)!);
            }
            catch (Exception e) when (e is NotSupportedException or ArgumentException)
            {
                Console.Error.WriteLine(e.Message);
                return 2;
            }
            var v = ParseVariant(parse.GetValue(variant)!);
            long n = parse.GetValue(records);
            double secs = parse.GetValue(seconds);
            var options = new YcsbOptions
            {
                Workload = parsed,
                Variant = v,
                RecordCount = n,
                OperationCount = parse.GetValue(operations),
                Duration = secs > 0 ? TimeSpan.FromSeconds(secs) : null,
                Threads = parse.GetValue(threads),
                Seed = parse.GetValue(seed),
                WarmupOperations = Math.Min(20_000, parse.GetValue(operations) / 10),
            };
            options.Validate();
            string? dir = parse.GetValue(dataDir);
            if (dir is not null) Directory.CreateDirectory(dir);
            ScalioStore opened;
            try
            {
                opened = new ScalioStore(new ScalioStoreOptions
                {
                    ExpectedRecords = n + n / 4,
                    CacheFraction = parse.GetValue(cache) * n / (n + n / 4),
                    Devices = parse.GetValue(ssds),
                    DataDirectory = dir,
                    ServerWorkers = parse.GetValue(workers),
                    BatchSize = parse.GetValue(batch),
                    Layout = SlotLayout.Default,
                });
            }
            catch (Exception e) when (dir is not null && e is InvalidDataException or InvalidOperationException or IOException)
            {
                Console.Error.WriteLine($"cannot open the store in {dir}: {e.Message}");
                return 2;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"invalid store options: {e.Message}");
                return 2;
            }
            using var store = opened;
            var target = new ScalioYcsbTarget(store, "scalio");
            var runner = new YcsbRunner(options);
            AnsiConsole.MarkupLine($"[grey]Scalio.Fast embedded: {store.CacheSlots:N0} cache slots for {n:N0} records, {store.Options.Devices} SSD ({(dir is null ? "RAM" : "file: " + Markup.Escape(dir))}), {options.Threads} client thread(s), workload {parsed}, {v}[/]");
            YcsbResult result = null!;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var load = ctx.AddTask("load", maxValue: n);
                    var run = ctx.AddTask("run", maxValue: options.OperationCount, autoStart: false);
                    var progress = new Progress(load, run);
                    result = runner.Run(target, progress);
                    load.Value = load.MaxValue;
                    run.Value = run.MaxValue;
                });
            ResultTable.Print([result]);
            return result.ValueMismatches == 0 ? 0 : 1;
        });
        cmd.Subcommands.Add(CreateKeys());
        return cmd;
    }

    /// <summary><c>scalio ycsb keys</c>: the key names the load phase inserts, in order.</summary>
    private static Command CreateKeys()
    {
        var variant = new Option<string>("--variant") { Description = "official (Java CoreWorkload) or ycsb-c (the C++ port)", DefaultValueFactory = _ => "official" };
        var count = new Option<long>("--count") { Description = "How many keys", DefaultValueFactory = _ => 10 };
        var start = new Option<long>("--start") { Description = "First record number", DefaultValueFactory = _ => 0 };
        var cmd = new Command("keys", "Print the keys the YCSB load phase inserts, in order, one per line") { variant, count, start };
        cmd.SetAction(parse =>
        {
            var v = ParseVariant(parse.GetValue(variant)!);
            long first = parse.GetValue(start), n = parse.GetValue(count);
            if (first < 0 || n < 0) { Console.Error.WriteLine("--start and --count must not be negative"); return 2; }
            using var output = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false };
            for (long i = first; i < first + n; i++) output.WriteLine(KeyCodec.KeyName(v, i));
            return 0;
        });
        return cmd;
    }

    private static YcsbVariant ParseVariant(string text) => text switch
    {
        "official" => YcsbVariant.Official,
        "ycsb-c" => YcsbVariant.YcsbC,
        _ => throw new ArgumentException($"unknown variant '{text}': use ycsb-c or official"),
    };

    private sealed class Progress(ProgressTask load, ProgressTask run) : IProgress<YcsbProgress>
    {
        public void Report(YcsbProgress value)
        {
            if (value.Phase == YcsbPhase.Load) { load.MaxValue = value.Total; load.Value = value.Done; }
            else
            {
                load.Value = load.MaxValue;
                if (!run.IsStarted) run.StartTask();
                run.MaxValue = Math.Max(1, value.Total);
                run.Value = value.Done;
            }
        }
    }
}
