using System.Diagnostics;
using System.Globalization;
using Scalio.Tests.Gate;

// Times each hot-path step of this commit's HotPathRig and prints one line per step:
//   step <name> <median ns/op> <bytes allocated on this thread over the timed calls> <calls timed>
// Usage: Scalio.Perf [--ms M (timed milliseconds per step, default 300)] [--steps A,B,...]
// The median of many short blocks, not the mean, so that a preempted block (a noisy shared host) does not decide it.
int ms = 300;
string[]? only = null;
for (int i = 0; i < args.Length; i++)
{
    if (args[i] == "--ms" && i + 1 < args.Length && int.TryParse(args[++i], out int m) && m is > 0 and <= 60_000) ms = m;
    else if (args[i] == "--steps" && i + 1 < args.Length) only = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries);
    else
    {
        Console.Error.WriteLine($"error: unknown or invalid argument '{args[i]}' (usage: [--ms 1..60000] [--steps A,B])");
        return 2;
    }
}

using var rig = new HotPathRig();
var steps = new (string Name, Action Run)[]
{
    ("BlockFetch", () => rig.FetchBlock()),
    ("VictimPick", () => rig.PickVictim()),
    ("CasLock", rig.LockVictim),
    ("OffloadedRead", rig.OffloadedRead),
    ("RdmaFill", rig.RdmaFill),
    ("BatchedWrite", rig.BatchedWrite),
    ("GetHit", () => rig.GetHit()),
    ("GetMissWithFill", () => rig.GetMissWithFill()),
    ("Put", () => rig.Put()),
};
foreach (var (name, run) in steps)
{
    if (only is not null && Array.IndexOf(only, name) < 0) continue;
    // Size a block to ~200 us, warm up (a fifth of the time, at least 50 ms and 2048 calls: a fresh device log is
    // slow for its first few hundred batches), then time blocks.
    int block = 1;
    long t0 = Stopwatch.GetTimestamp();
    while (true)
    {
        long s = Stopwatch.GetTimestamp();
        for (int k = 0; k < block; k++) run();
        if (Stopwatch.GetElapsedTime(s).TotalMicroseconds >= 200 || block >= 1 << 20) break;
        block *= 2;
    }
    for (long warm = 0; warm < 2048 || Stopwatch.GetElapsedTime(t0).TotalMilliseconds < Math.Max(50, ms / 5.0); warm += block)
        for (int k = 0; k < block; k++) run();
    var perOp = new List<double>(4096);
    long calls = 0;
    long allocated = GC.GetAllocatedBytesForCurrentThread();
    long start = Stopwatch.GetTimestamp();
    while (Stopwatch.GetElapsedTime(start).TotalMilliseconds < ms)
    {
        long s = Stopwatch.GetTimestamp();
        for (int k = 0; k < block; k++) run();
        long e = Stopwatch.GetTimestamp();
        if (perOp.Count < perOp.Capacity) perOp.Add((e - s) * (1e9 / Stopwatch.Frequency) / block);
        calls += block;
    }
    allocated = GC.GetAllocatedBytesForCurrentThread() - allocated; // the list was sized up front: it does not grow here
    perOp.Sort();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {name} {perOp[perOp.Count / 2]:0.0} {allocated} {calls}"));
}
if (rig.Failures != 0)
{
    Console.Error.WriteLine($"error: {rig.Failures} step results were wrong");
    return 1;
}
return 0;
