using Scalio.Fast;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Storage;

/// <summary>
/// Entry point of the test assembly when it runs as a child process (<c>dotnet Scalio.Tests.dll crash-child DIR</c>):
/// a write-heavy workload on file-backed namespaces in DIR that prints "ACK key value" for every PUT the moment it
/// is acknowledged, until it is killed. Used by <see cref="CrashTests"/>; the test host never calls it.
/// </summary>
public static class CrashChild
{
    /// <summary>Options shared by the child and the test that reopens its files; <paramref name="large"/>: a schema with
    /// 4096-byte values, every one of them in the value log.</summary>
    public static ScalioStoreOptions Options(string dir, bool large = false) => new()
    {
        ExpectedRecords = 2_000,
        CacheBuckets = 8,
        Devices = 2,
        DataDirectory = dir,
        BatchSize = 8,
        Layout = large ? LargeLayout : Scalio.Fast.Cache.SlotLayout.Default,
    };

    /// <summary>The large-value schema of the value-log crash test.</summary>
    public static readonly Scalio.Fast.Cache.SlotLayout LargeLayout = new(16, 4096, 4);

    /// <summary>The value the child writes: the text "id:n", padded to 64 bytes, or for the large schema to 4096 bytes
    /// with a pattern that depends on the text (checked after recovery by <see cref="IsIntactLarge"/>).</summary>
    public static byte[] ValueOf(string text, bool large)
    {
        if (!large) return Value(text);
        var v = new byte[4096];
        System.Text.Encoding.ASCII.GetBytes(text).CopyTo(v, 0);
        uint seed = (uint)text.Length * 2654435761u;
        foreach (char ch in text) seed = seed * 31 + ch;
        for (int i = 32; i < v.Length; i++) v[i] = (byte)((seed >> (i % 24)) + (uint)i);
        return v;
    }

    /// <summary>True when a large value read back is exactly what <see cref="ValueOf"/> made for its text.</summary>
    public static bool IsIntactLarge(ReadOnlySpan<byte> value) => value.SequenceEqual(ValueOf(Text(value[..32]), large: true));

    /// <summary>Runs the child workload; returns a process exit code.</summary>
    public static int Main(string[] args)
    {
        if (args.Length is not (2 or 3) || args[0] != "crash-child" || (args.Length == 3 && args[2] != "large"))
        {
            Console.Error.WriteLine("usage: dotnet Scalio.Tests.dll crash-child DIR [large]   (test helper: writes until killed)");
            return 2;
        }
        bool large = args.Length == 3;
        var store = new ScalioStore(Options(args[1], large));
        var output = Console.Out;
        var gate = new object();
        lock (gate) { output.WriteLine("READY"); output.Flush(); }
        const int threads = 4;
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                using var c = store.OpenClient();
                for (long n = 0; ; n++)
                {
                    string key = $"c{id}-{n % 97}";
                    string value = $"{id}:{n}";
                    var st = c.Put(Key(key), ValueOf(value, large));
                    if (st != OpStatus.Ok) { lock (gate) { output.WriteLine($"ERR {key} {st}"); output.Flush(); } continue; }
                    lock (gate) { output.WriteLine($"ACK {key} {value}"); output.Flush(); }
                }
            }) { IsBackground = true };
            workers[t].Start();
        }
        foreach (var w in workers) w.Join();
        return 0;
    }
}
