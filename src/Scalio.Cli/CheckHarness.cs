using System.Diagnostics;
using System.Text;
using Scalio.Checking;
using Scalio.Fast.Client;
using Scalio.Fast;
using Scalio.Fast.Server;
using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Offload;

namespace Scalio.Cli;

/// <summary>Parameters of one run of the check harness.</summary>
internal sealed class CheckHarnessOptions
{
    /// <summary>Client threads running at once.</summary>
    public int Clients { get; init; } = 8;

    /// <summary>Distinct keys (the cache holds 8 slots per 16 keys: constant eviction).</summary>
    public int Keys { get; init; } = 16;

    /// <summary>Length of the workload.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Seed of the workload and of the fault schedule.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>A deliberately broken write path, or <see cref="BrokenWriteMode.None"/>.</summary>
    public BrokenWriteMode Broken { get; init; }

    /// <summary>Inject faults (delays, slow fills, torn READs, crashed fillers). On by default.</summary>
    public bool Faults { get; init; } = true;

    /// <summary>Clients that may be killed mid-fill over the run (each is replaced by a new client).</summary>
    public int MaxCrashes { get; init; } = 4;

    /// <summary>Modelled SSD write time with faults on: the window in which a write is in flight (default 300 µs).</summary>
    public TimeSpan SsdWriteLatency { get; init; } = TimeSpan.FromMicroseconds(300);

    /// <summary>Lease after which a stuck FILLING/ORPHAN slot may be reclaimed (short, so reclaims happen in a short run).</summary>
    public int LeaseMilliseconds { get; init; } = 50;

    /// <summary>Throws a clear error for values that make no sense.</summary>
    public void Validate()
    {
        if (Clients is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(Clients), Clients, "--clients must be 1..64");
        if (Keys is < 1 or > 100_000) throw new ArgumentOutOfRangeException(nameof(Keys), Keys, "--keys must be 1..100000");
        if (Duration <= TimeSpan.Zero || Duration > TimeSpan.FromHours(1)) throw new ArgumentOutOfRangeException(nameof(Duration), Duration, "--seconds must be in (0, 3600]");
        if (MaxCrashes < 0) throw new ArgumentOutOfRangeException(nameof(MaxCrashes));
        if (SsdWriteLatency < TimeSpan.Zero || SsdWriteLatency > TimeSpan.FromSeconds(1)) throw new ArgumentOutOfRangeException(nameof(SsdWriteLatency), SsdWriteLatency, "the SSD write time must be 0..1 s");
    }
}

/// <summary>What one harness run did and what the checker said.</summary>
internal sealed class CheckRun
{
    public required List<HistoryOperation> History { get; init; }
    public required CheckResult Result { get; init; }
    public required ClientCounters Counters { get; init; }
    public required string FaultSummary { get; init; }
    public required int Crashes { get; init; }
    public required long OffloadDelays { get; init; }
    public required long Tears { get; init; }
    public required long IncompleteOperations { get; init; }
    public required IReadOnlyList<string> ClientErrors { get; init; }
    public required TimeSpan Elapsed { get; init; }
}

/// <summary>
/// The linearizability check harness behind <c>scalio check</c>: N clients run a random get/put/delete mix on K keys
/// against a tiny cache (8 slots per 16 keys, so fills evict all the time) with faults on, every operation is
/// recorded (killed ones with no end), and the history is judged by <see cref="LinearizabilityChecker"/>.
/// <para>The store is composed here rather than through <c>ScalioStore</c> so the harness can put a MODELLED SSD
/// under it (RAM namespace with injected latencies: slow SSD writes and reads widen the race windows the broken
/// write paths fall into) and fault hooks in the fabric and the offload target.</para>
/// </summary>
internal static class CheckHarness
{
    private const int SsdBuckets = 64;

    public static CheckRun Run(CheckHarnessOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var clock = Stopwatch.StartNew();
        var injector = new LoopbackFaultInjector(options.Seed);
        var offloadDelays = options.Faults ? new SeededOffloadDelays(options.Seed, 0.05, 400) : null;
        if (options.Faults) ConfigureFaults(injector, options);
        var fabric = new LoopbackFabric(new LoopbackOptions { Faults = injector });
        var ssd = new SsdModelOptions
        {
            MaxIops = 2_000_000,
            Burst = 256,
            ReadLatency = TimeSpan.FromMicroseconds(options.Faults ? 30 : 0),
            WriteLatency = options.Faults ? options.SsdWriteLatency : TimeSpan.Zero,
            FlushLatency = TimeSpan.Zero,
        };
        NvmeNamespace[] devices = [new ModeledNamespace(new RamNamespace(1, 4096, 4096), ssd)];
        ScalioServer? server = null;
        OffloadTarget? target = null;
        var clients = new List<ScalioClient>();
        bool joined = false;
        try
        {
            server = new ScalioServer(fabric, devices, new ScalioServerOptions
            {
                CacheBuckets = Math.Max(1, options.Keys / 16),
                SsdBuckets = SsdBuckets,
                PageSize = 4096,
                Workers = 2,
                LeaseMilliseconds = options.LeaseMilliseconds,
            });
            BrokenWritePaths.Inject(server, options.Broken);
            injector.TargetRemoteKey = server.CacheRegion.RemoteKey;
            target = new OffloadTarget(fabric, devices, new OffloadTargetOptions { Threads = 2, Faults = offloadDelays });

            int crashes = options.Faults ? options.MaxCrashes : 0;
            var recorder = new HistoryRecorder(options.Clients + crashes, 16 * 1024, 32);
            var clientOptions = new ScalioClientOptions { FillWaitMicroseconds = 500, RequestTimeoutMilliseconds = 10_000, MaxAttempts = 1_000_000 };
            var state = new RunState(options, recorder, fabric, server, target, clientOptions, clients);
            var threads = new Thread[options.Clients];
            for (int t = 0; t < threads.Length; t++)
            {
                int first = t;
                threads[t] = new Thread(() => state.ClientLoop(first)) { IsBackground = true, Name = $"check-client-{t}" };
            }
            long deadline = Stopwatch.GetTimestamp() + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
            state.Deadline = deadline;
            foreach (var th in threads) th.Start();
            joined = true;
            foreach (var th in threads)
            {
                if (!th.Join(options.Duration + TimeSpan.FromSeconds(60))) joined = false;
            }
            if (!joined) state.Errors.Add("a client thread did not finish within 60 s of the deadline (the store was left running)");

            var history = recorder.ToOperations();
            long incomplete = 0;
            foreach (var op in history)
            {
                if (!op.IsComplete) incomplete++;
            }
            var result = LinearizabilityChecker.Check(history);
            var counters = new ClientCounters();
            lock (clients)
            {
                foreach (var c in clients) counters.Add(in c.Counters);
            }
            return new CheckRun
            {
                History = history,
                Result = result,
                Counters = counters,
                FaultSummary = options.Faults ? $"{injector}, {offloadDelays!.Delayed} slow NVMe reads" : "faults off",
                OffloadDelays = offloadDelays?.Delayed ?? 0,
                Tears = injector.Tears,
                Crashes = (int)injector.Crashes,
                IncompleteOperations = incomplete,
                ClientErrors = [.. state.Errors],
                Elapsed = clock.Elapsed,
            };
        }
        finally
        {
            if (joined || server is null)
            {
                lock (clients)
                {
                    foreach (var c in clients) c.Dispose();
                }
                target?.Dispose();
                server?.Dispose();
                foreach (var d in devices) d.Dispose();
            }
        }
    }

    private static void ConfigureFaults(LoopbackFaultInjector f, CheckHarnessOptions o)
    {
        // Reordering across queue pairs: a few requests wait before executing, a few completions arrive late.
        f.DelayProbability = 0.02;
        f.MaxDelayMicroseconds = 200;
        f.CompletionDelayProbability = 0.02;
        f.MaxCompletionDelayMicroseconds = 200;
        // Slow fills: the body WRITE of some fills waits 0.5-3 ms, longer than a whole write (SSD write 300 us),
        // so writes land between a filler's SSD read and its publish.
        f.SlowWriteProbability = 0.15;
        f.MinSlowWriteMicroseconds = 500;
        f.MaxSlowWriteMicroseconds = 3000;
        // Torn bucket READs at slot-relative boundaries: inside the header/checksum/stamp words, at the key, in the value.
        var layout = Scalio.Fast.Cache.SlotLayout.Default;
        f.TearProbability = 0.05;
        f.TearUnit = layout.SlotSize;
        f.TearBoundaries = [4, 8, 12, 16, 20, layout.ValueOffset, layout.ValueOffset + 4, layout.ValueOffset + 32, layout.SlotSize];
        f.MaxTearPauseMicroseconds = 1000;
        // Crashed fillers: a few clients die just before writing their fill, leaving the slot FILLING forever.
        f.CrashProbability = 0.005;
        f.MaxCrashes = o.MaxCrashes;
    }

    private sealed class RunState(
        CheckHarnessOptions options, HistoryRecorder recorder, LoopbackFabric fabric, ScalioServer server, OffloadTarget target,
        ScalioClientOptions clientOptions, List<ScalioClient> clients)
    {
        private int _nextSpareClient = options.Clients;

        public long Deadline;

        public List<string> Errors { get; } = [];

        public void ClientLoop(int clientId)
        {
            var rnd = new Random(unchecked((int)(options.Seed * 1_000_003 + clientId * 7919)));
            var keys = new byte[options.Keys][];
            for (int k = 0; k < keys.Length; k++) keys[k] = Encoding.ASCII.GetBytes($"key{k:D4}");
            var value = new byte[64];
            while (true)
            {
                ScalioClient client;
                try
                {
                    client = new ScalioClient(fabric.CreateDomain(), server, target, clientOptions, BrokenWritePaths.ClientPublish(options.Broken));
                }
                catch (Exception e)
                {
                    lock (Errors) Errors.Add($"client {clientId}: could not connect: {e.Message}");
                    return;
                }
                lock (clients) clients.Add(client);
                var rec = recorder.Client(clientId);
                try
                {
                    RunClient(client, rec, clientId, rnd, keys, value);
                    return;
                }
                catch (LoopbackCrashException)
                {
                    // This client died mid-operation: the operation stays without an end, the client is abandoned
                    // (a slot it locked stays FILLING until reclaimed). A new client takes its place.
                    clientId = Interlocked.Increment(ref _nextSpareClient) - 1;
                    if (clientId >= recorder.ClientCount) return;
                }
                catch (Exception e)
                {
                    lock (Errors) Errors.Add($"client {clientId}: {e.GetType().Name}: {e.Message}");
                    return;
                }
            }
        }

        private void RunClient(ScalioClient c, ClientRecorder rec, int clientId, Random rnd, byte[][] keys, byte[] value)
        {
            var put = new byte[32];
            for (int i = 0; Stopwatch.GetTimestamp() < Deadline; i++)
            {
                byte[] key = keys[rnd.Next(keys.Length)];
                int roll = rnd.Next(100);
                if (roll < 55)
                {
                    int h = rec.BeginGet(key);
                    var st = c.Get(key, value, out int n);
                    if (st == OpStatus.Ok) rec.CompleteGet(h, value.AsSpan(0, n));
                    else if (st == OpStatus.NotFound) rec.CompleteGetNotFound(h);
                    else Fail(clientId, "GET", st); // stays incomplete: constrains nothing
                }
                else if (roll < 90)
                {
                    int len = Encoding.ASCII.GetBytes($"c{clientId}-{i}", put);
                    int h = rec.BeginPut(key, put.AsSpan(0, len));
                    var st = c.Put(key, put.AsSpan(0, len));
                    if (st == OpStatus.Ok) rec.Complete(h);
                    else Fail(clientId, "PUT", st); // stays incomplete: may or may not have taken effect
                }
                else
                {
                    int h = rec.BeginDelete(key);
                    var st = c.Delete(key);
                    if (st == OpStatus.Ok) rec.Complete(h);
                    else Fail(clientId, "DELETE", st);
                }
            }
        }

        private void Fail(int clientId, string op, OpStatus status)
        {
            lock (Errors)
            {
                if (Errors.Count < 20) Errors.Add($"client {clientId}: {op} returned {status}");
            }
        }
    }
}
