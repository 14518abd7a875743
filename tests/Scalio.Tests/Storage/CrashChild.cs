using Scalio.Fast;
using Scalio.Fast.Rpc;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Storage;

/// <summary>
/// Entry point of the test assembly when it runs as a child process (<c>dotnet Scalio.Tests.dll crash-child DIR</c>):
/// a write-heavy workload on file-backed namespaces in DIR that prints "ACK key value" for every PUT the moment it
/// is acknowledged, until it is killed. Used by <see cref="CrashTests"/>; the test host never calls it.
/// </summary>
public static class CrashChild
{
    /// <summary>Options shared by the child and the test that reopens its files.</summary>
    public static ScalioStoreOptions Options(string dir) => new()
    {
        ExpectedRecords = 2_000,
        CacheBuckets = 8,
        Devices = 2,
        DataDirectory = dir,
        BatchSize = 8,
    };

    /// <summary>Runs the child workload; returns a process exit code.</summary>
    public static int Main(string[] args)
    {
        if (args.Length != 2 || args[0] != "crash-child")
        {
            Console.Error.WriteLine("usage: dotnet Scalio.Tests.dll crash-child DIR   (test helper: writes until killed)");
            return 2;
        }
        var store = new ScalioStore(Options(args[1]));
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
                    var st = c.Put(Key(key), Value(value));
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
