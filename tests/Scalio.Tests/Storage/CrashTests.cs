using System.Diagnostics;
using Scalio.Fast;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Storage;

/// <summary>SIGKILL of a real server process in the middle of a write-heavy workload, then recovery in-process.</summary>
public class CrashTests
{
    [Fact]
    public Task Every_acknowledged_put_survives_SIGKILL() => KillAndRecover(large: false);

    /// <summary>The same with 4096-byte values: every PUT writes a value-log record and the block pointing to it.</summary>
    [Fact]
    public Task Every_acknowledged_large_put_survives_SIGKILL() => KillAndRecover(large: true);

    private static async Task KillAndRecover(bool large)
    {
        if (!OperatingSystem.IsLinux()) return; // file namespaces are Linux-only
        using var dir = new TempDir();
        string testAssembly = typeof(CrashChild).Assembly.Location;
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var psi = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(testAssembly);
        psi.ArgumentList.Add("crash-child");
        psi.ArgumentList.Add(dir.Path);
        if (large) psi.ArgumentList.Add("large");

        // key -> (thread's counter of the last acknowledged value)
        var lastAcked = new Dictionary<string, long>();
        int acks = 0, errors = 0;
        using (var child = Process.Start(psi)!)
        {
            var stderr = child.StandardError.ReadToEndAsync();
            var deadline = Stopwatch.StartNew();
            bool ready = false;
            const int target = 600;
            while (acks < target && deadline.Elapsed < TimeSpan.FromSeconds(40))
            {
                string? line;
                try { line = await child.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20)); }
                catch (TimeoutException) { break; }
                if (line is null) break;
                if (line == "READY") { ready = true; continue; }
                if (Record(line, lastAcked)) acks++;
                else if (line.StartsWith("ERR", StringComparison.Ordinal)) errors++;
            }
            child.Kill(entireProcessTree: true); // SIGKILL
            Assert.True(child.WaitForExit(20_000), "child did not die");
            // Acknowledgements already in the pipe were printed before the kill: they count too.
            string? rest;
            while ((rest = await child.StandardOutput.ReadLineAsync()) is not null) if (Record(rest, lastAcked)) acks++;
            string err = await stderr.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.True(ready, "child never became ready: " + err);
            Assert.True(acks >= 100, $"child acknowledged only {acks} PUTs before the deadline: {err}");
        }
        Assert.Equal(0, errors);

        using var store = new ScalioStore(CrashChild.Options(dir.Path, large));
        using var c = store.OpenClient();
        var buf = new byte[store.Layout.ValueCapacity];
        foreach (var (key, counter) in lastAcked)
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key(key), buf, out _));
            string stored = Text(buf.AsSpan(0, large ? 32 : buf.Length));
            if (large) Assert.True(CrashChild.IsIntactLarge(buf), $"{key}: the large value {stored} read back damaged");
            long storedCounter = long.Parse(stored[(stored.IndexOf(':') + 1)..]);
            // The last acknowledged value, or the one PUT of this key's thread that was in flight at the kill.
            Assert.True(storedCounter == counter || storedCounter == counter + 97,
                $"{key}: acknowledged {counter}, found {stored}");
        }
    }

    private static bool Record(string line, Dictionary<string, long> lastAcked)
    {
        var parts = line.Split(' ');
        if (parts.Length != 3 || parts[0] != "ACK") return false;
        long counter = long.Parse(parts[2][(parts[2].IndexOf(':') + 1)..]);
        if (!lastAcked.TryGetValue(parts[1], out long prev) || counter > prev) lastAcked[parts[1]] = counter;
        return true;
    }
}
