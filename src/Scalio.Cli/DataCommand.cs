using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Fast.Remote;
using Scalio.Verbs.Libfabric;

namespace Scalio.Cli;

/// <summary>
/// <c>scalio get|put|delete KEY [VALUE]</c> and <c>scalio stats</c>: poke at a store the way redis-cli or etcdctl do,
/// embedded on <c>--data-dir DIR</c> (the store is opened, recovered, used and closed with a checkpoint) or against a
/// running <c>scalio server --fabric tcp</c> with <c>--connect ADDRESS:PORT</c>.
/// Exit codes: 0 done, 1 key not found, 2 usage error, 3 the store failed the operation.
/// </summary>
internal static class DataCommand
{
    /// <summary>Exit code of a GET of a key that is not stored.</summary>
    public const int NotFound = 1;

    /// <summary>Exit code of an operation the store failed (timeout, unavailable, I/O error, full).</summary>
    public const int Failed = 3;

    private sealed record Common(Option<string?> DataDir, Option<string?> Connect, Option<bool> Hex, Option<long> Records, Option<int> Ssds);

    public static IEnumerable<Command> Create()
    {
        yield return Op("get", "Print the value of KEY (as text, or hex with --hex); exit 1 when the key is not stored", withValue: false);
        yield return Op("put", "Store VALUE under KEY (durable when it returns)", withValue: true);
        yield return Op("delete", "Remove KEY (durable when it returns); removing a key that is not stored succeeds too (the server does not look it up first)", withValue: false);
        var c = Options();
        var stats = new Command("stats", "Print the store's geometry and counters (embedded: what recovery rebuilt; --connect: what the server's descriptor says)");
        Add(stats, c);
        stats.SetAction(parse => Run(parse, c, "stats", null, null));
        yield return stats;
    }

    private static Common Options() => new(
        new Option<string?>("--data-dir") { Description = "Open the store in this directory in-process (as `scalio server --data-dir` does; not while a server runs on it)" },
        new Option<string?>("--connect") { Description = "Use the running `scalio server --fabric tcp` at ADDRESS:PORT" },
        new Option<bool>("--hex") { Description = "KEY and VALUE are given, and the value printed, as hexadecimal bytes" },
        new Option<long>("--records") { Description = "With --data-dir: records the store was created for (as given to `scalio server`)", DefaultValueFactory = _ => 200_000 },
        new Option<int>("--ssds") { Description = "With --data-dir: SSD namespaces the store was created with", DefaultValueFactory = _ => 1 });

    private static void Add(Command cmd, Common c)
    {
        cmd.Options.Add(c.DataDir);
        cmd.Options.Add(c.Connect);
        cmd.Options.Add(c.Hex);
        cmd.Options.Add(c.Records);
        cmd.Options.Add(c.Ssds);
    }

    private static Command Op(string name, string description, bool withValue)
    {
        var c = Options();
        var key = new Argument<string>("KEY") { Description = "The key (UTF-8 text, or hex with --hex)" };
        var value = new Argument<string>("VALUE") { Description = "The value (UTF-8 text, or hex with --hex)" };
        var cmd = new Command(name, description) { key };
        if (withValue) cmd.Arguments.Add(value);
        Add(cmd, c);
        cmd.SetAction(parse => Run(parse, c, name, parse.GetValue(key), withValue ? parse.GetValue(value) : null));
        return cmd;
    }

    private static int Run(ParseResult parse, Common c, string op, string? keyText, string? valueText)
    {
        string? dir = parse.GetValue(c.DataDir), connect = parse.GetValue(c.Connect);
        bool hex = parse.GetValue(c.Hex);
        if ((dir is null) == (connect is null)) return CliErrors.Fail($"{op}: give exactly one of --data-dir DIR and --connect ADDRESS:PORT");
        if (!TryBytes(keyText, hex, "KEY", out byte[]? key) || !TryBytes(valueText, hex, "VALUE", out byte[]? value)) return CliErrors.Usage;
        return dir is not null
            ? Embedded(op, dir, parse.GetValue(c.Records), parse.GetValue(c.Ssds), key, value, hex)
            : Remote(op, connect!, key, value, hex);
    }

    private static bool TryBytes(string? text, bool hex, string what, out byte[]? bytes)
    {
        bytes = null;
        if (text is null) return true;
        if (!hex)
        {
            bytes = Encoding.UTF8.GetBytes(text);
            return true;
        }
        try
        {
            bytes = Convert.FromHexString(text);
            return true;
        }
        catch (FormatException)
        {
            CliErrors.Report($"{what} '{text}' is not hexadecimal bytes (--hex)");
            return false;
        }
    }

    /// <summary>Checks the key and value against the schema before anything is sent (the client throws otherwise).</summary>
    private static bool Fits(SlotLayout layout, byte[]? key, byte[]? value)
    {
        if (key is not null && (key.Length == 0 || key.Length > layout.KeyCapacity))
        {
            CliErrors.Report($"the key is {key.Length} bytes; this store's keys are 1..{layout.KeyCapacity} bytes");
            return false;
        }
        if (value is not null && value.Length > layout.ValueCapacity)
        {
            CliErrors.Report($"the value is {value.Length} bytes; this store's values are at most {layout.ValueCapacity} bytes");
            return false;
        }
        return true;
    }

    private static int Embedded(string op, string dir, long records, int ssds, byte[]? key, byte[]? value, bool hex)
    {
        // Reads never create a store: a mistyped directory is an error, not a fresh empty store.
        if (op != "put" && !File.Exists(ScalioStore.DeviceFilePath(dir, 0)))
            return CliErrors.Fail($"--data-dir {dir} holds no store (create one with `scalio put` or `scalio server --data-dir`)");
        if (!CliErrors.TryCreateDirectory("--data-dir", dir)) return CliErrors.Usage;
        ScalioStore store;
        try
        {
            store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = records, Devices = ssds, DataDirectory = dir });
        }
        catch (DataDirectoryInUseException)
        {
            return CliErrors.DataDirInUse(dir);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            return CliErrors.Fail($"cannot open the store in {dir}: {CliErrors.OneLine(e)} (give --records and --ssds as the store was created with)");
        }
        using (store)
        {
            if (op == "stats")
            {
                ServerCommand.PrintRecovery(store);
                var d = store.Server.Describe();
                var c = store.ReadCounters();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"store {Path.GetFullPath(dir)}: {store.Options.Devices} SSD(s), {store.CacheSlots:N0} cache slots, {d.SsdBuckets:N0} SSD buckets, keys up to {store.Layout.KeyCapacity} B, values up to {store.Layout.ValueCapacity} B; " +
                    $"opening read {c.DeviceReads:N0} and wrote {c.DeviceWrites:N0} SSD blocks"));
                return 0;
            }
            if (!Fits(store.Layout, key, value)) return CliErrors.Usage;
            using var client = store.OpenClient();
            var buffer = new byte[store.Layout.ValueCapacity];
            return Finish(op, key!, hex, op switch
            {
                "get" => (client.Get(key, buffer, out int n), n),
                "put" => (client.Put(key, value), 0),
                _ => (client.Delete(key), 0),
            }, buffer, null);
        }
    }

    private static int Remote(string op, string connect, byte[]? key, byte[]? value, bool hex)
    {
        IPEndPoint server;
        try
        {
            server = RemoteYcsbCommand.ParseEndPoint(connect);
        }
        catch (FormatException e)
        {
            return CliErrors.Fail($"--connect: {e.Message}");
        }
        RemoteScalioStore store;
        try
        {
            store = RemoteScalioStore.Connect(server, new RemoteStoreOptions { Client = new ScalioClientOptions { RequestTimeoutMilliseconds = 5000 } });
        }
        catch (LibfabricUnavailableException e)
        {
            return CliErrors.Fail($"--connect: libfabric cannot be loaded: {e.Message}");
        }
        catch (Exception e) when (RemoteScalioStore.IsTransient(e) || e is InvalidOperationException)
        {
            return CliErrors.Fail($"--connect: cannot connect to {server}: {e.Message}");
        }
        using (store)
        {
            var d = store.Descriptor;
            if (op == "stats")
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"server {server}: {d.DeviceLbaSizes.Length} SSD(s), {d.CacheBuckets * d.Layout.SlotsPerBucket:N0} cache slots, {d.SsdBuckets:N0} SSD buckets, keys up to {d.Layout.KeyCapacity} B, values up to {d.Layout.ValueCapacity} B; " +
                    $"offload target {d.OffloadTarget?.ToString() ?? "none"}; clock offset bound ±{d.ClockUncertainty.TotalMicroseconds:F0} µs"));
                return 0;
            }
            if (!Fits(d.Layout, key, value)) return CliErrors.Usage;
            using var client = store.OpenClient();
            var buffer = new byte[d.Layout.ValueCapacity];
            var result = op switch
            {
                "get" => (client.Get(key, buffer, out int n), n),
                "put" => (client.Put(key, value), 0),
                _ => (client.Delete(key), 0),
            };
            return Finish(op, key!, hex, result, buffer, client.LastFailure);
        }
    }

    private static int Finish(string op, byte[] key, bool hex, (OpStatus Status, int Length) result, byte[] buffer, Exception? failure)
    {
        string shown = hex ? Convert.ToHexStringLower(key) : Encoding.UTF8.GetString(key);
        switch (result.Status)
        {
            case OpStatus.Ok:
                if (op == "get")
                {
                    var v = buffer.AsSpan(0, result.Length);
                    Console.WriteLine(hex ? Convert.ToHexStringLower(v) : Encoding.UTF8.GetString(v));
                }
                return 0;
            case OpStatus.NotFound:
                Console.Error.WriteLine($"not found: {shown}");
                return NotFound;
            default:
                CliErrors.Report($"{op} {shown}: {result.Status}{(failure is null ? "" : " (" + CliErrors.OneLine(failure) + ")")}");
                return Failed;
        }
    }
}
