using System.Globalization;
using System.Text.Json;
using Scalio.Fast;
using Scalio.Fast.Baselines;
using Scalio.Fast.Cache;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary>A system <c>scalio ycsb --system</c> can run (DESIGN.md, "Baselines").</summary>
public enum YcsbSystem
{
    /// <summary>Scalio with batched write (the configured batch size).</summary>
    Scalio,
    /// <summary>Scalio with batch size 1.</summary>
    ScalioNoBatch,
    /// <summary>LEED: every op a two-sided RPC, the server CPU does the SSD I/O, no cache.</summary>
    Leed,
    /// <summary>LEED+Ditto: one-sided cache reads, misses and writes through the server CPU.</summary>
    LeedDitto,
}

/// <summary>How the stores of a comparison are sized (the same for every system).</summary>
public sealed record StoreSettings
{
    /// <summary>Records loaded (the store is sized for 1.25x this, leaving room for inserts).</summary>
    public long Records { get; init; } = 200_000;

    /// <summary>Cache slots as a fraction of the records.</summary>
    public double CacheFraction { get; init; } = 0.10;

    /// <summary>SSD namespaces.</summary>
    public int Ssds { get; init; } = 1;

    /// <summary>Server worker threads.</summary>
    public int ServerWorkers { get; init; } = 1;

    /// <summary>Batch size of <see cref="YcsbSystem.Scalio"/> (the others use 1: LEED does not batch).</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>File-backed namespaces under this directory (one subdirectory per system); null keeps them in RAM.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Give each system its own subdirectory of <see cref="DataDirectory"/> (off: use it as is, one system only).</summary>
    public bool SubdirectoryPerSystem { get; init; } = true;

    /// <summary>SSD performance MODEL wrapped around each RAM namespace (ignored with <see cref="DataDirectory"/>); null: no cap.</summary>
    public Scalio.Verbs.Nvme.SsdModelOptions? SsdModel { get; init; }
}

/// <summary>The hardware a result is projected onto: the paper's server by default (8 Arm cores, 7 SSDs of 500K IOPS).</summary>
/// <param name="ServerCores">Server cores.</param>
/// <param name="Ssds">SSDs.</param>
/// <param name="IopsPerSsd">I/Os per second each SSD sustains.</param>
public sealed record PaperHardware(int ServerCores = 8, int Ssds = 7, double IopsPerSsd = 500_000)
{
    /// <summary>The paper's server.</summary>
    public static PaperHardware Paper { get; } = new();
}

/// <summary>
/// Throughput a design would reach on <see cref="PaperHardware"/>, from its measured per-operation costs:
/// <code>
/// throughput = min( cores / (server CPU seconds per op),  ssds x IOPS / (SSD I/Os per op) )
/// </code>
/// A cost of zero leaves its bound unlimited (infinity). The client side is not a bound here: the paper's 5 client
/// nodes and 160 threads are taken as non-binding, and NIC offload time (the NVMe-oF target) is reported, not bounded,
/// since on the paper's hardware it runs in NIC hardware.
/// </summary>
/// <param name="CoreBound">cores / server CPU seconds per op.</param>
/// <param name="SsdBound">total IOPS / SSD I/Os per op.</param>
/// <param name="OpsPerSecond">The smaller of the two bounds.</param>
public readonly record struct Projection(double CoreBound, double SsdBound, double OpsPerSecond)
{
    /// <summary>Which bound binds: "cores" or "SSDs".</summary>
    public string Bottleneck => CoreBound <= SsdBound ? "cores" : "SSDs";

    /// <summary>Projects measured per-op costs onto <paramref name="hardware"/>.</summary>
    public static Projection Of(double serverCpuMicrosPerOp, double ssdIosPerOp, PaperHardware hardware)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        double cores = serverCpuMicrosPerOp > 0 ? hardware.ServerCores / (serverCpuMicrosPerOp * 1e-6) : double.PositiveInfinity;
        double ssds = ssdIosPerOp > 0 ? hardware.Ssds * hardware.IopsPerSsd / ssdIosPerOp : double.PositiveInfinity;
        return new Projection(cores, ssds, Math.Min(cores, ssds));
    }

    /// <summary>Projects a YCSB result.</summary>
    public static Projection Of(YcsbResult result, PaperHardware hardware)
    {
        ArgumentNullException.ThrowIfNull(result);
        return Of(result.ServerCpuMicrosPerOp, result.SsdReadsPerOp + result.SsdWritesPerOp, hardware);
    }
}

/// <summary>One system's row: its result, its projection, and its ratios against LEED+Ditto measured in the same run
/// (NaN when LEED+Ditto was not run). Over several rounds: the result is the system's median-throughput round, each
/// ratio the median of the per-round ratios, with their range.</summary>
/// <param name="System">The system.</param>
/// <param name="Result">The YCSB result.</param>
/// <param name="Projection">The projection onto the paper's hardware.</param>
/// <param name="OpsRatio">ops/s divided by LEED+Ditto's.</param>
/// <param name="ServerCpuRatio">server CPU µs/op divided by LEED+Ditto's.</param>
/// <param name="ProjectedRatio">projected ops/s divided by LEED+Ditto's.</param>
public sealed record SystemResult(YcsbSystem System, YcsbResult Result, Projection Projection, double OpsRatio, double ServerCpuRatio, double ProjectedRatio)
{
    /// <summary>Rounds the row summarizes.</summary>
    public int Rounds { get; init; } = 1;

    /// <summary>Smallest and largest per-round <see cref="OpsRatio"/>.</summary>
    public (double Min, double Max) OpsRatioRange { get; init; } = (OpsRatio, OpsRatio);

    /// <summary>Smallest and largest per-round <see cref="ServerCpuRatio"/>.</summary>
    public (double Min, double Max) ServerCpuRatioRange { get; init; } = (ServerCpuRatio, ServerCpuRatio);

    /// <summary>Smallest and largest per-round <see cref="ProjectedRatio"/>.</summary>
    public (double Min, double Max) ProjectedRatioRange { get; init; } = (ProjectedRatio, ProjectedRatio);
}

/// <summary>Runs several systems on the same workload, one after the other in one process, and compares them.</summary>
public static class SystemComparison
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Command-line name of a system.</summary>
    public static string Name(YcsbSystem system) => system switch
    {
        YcsbSystem.Scalio => "scalio",
        YcsbSystem.ScalioNoBatch => "scalio-nobatch",
        YcsbSystem.Leed => "leed",
        YcsbSystem.LeedDitto => "leed-ditto",
        _ => throw new ArgumentOutOfRangeException(nameof(system)),
    };

    /// <summary>Parses <c>scalio|scalio-nobatch|leed|leed-ditto|all</c> (comma-separated lists allowed).</summary>
    /// <exception cref="ArgumentException">An unknown name.</exception>
    public static IReadOnlyList<YcsbSystem> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var list = new List<YcsbSystem>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            switch (part.ToLowerInvariant())
            {
                case "all": list.AddRange([YcsbSystem.Scalio, YcsbSystem.ScalioNoBatch, YcsbSystem.Leed, YcsbSystem.LeedDitto]); break;
                case "scalio": list.Add(YcsbSystem.Scalio); break;
                case "scalio-nobatch": list.Add(YcsbSystem.ScalioNoBatch); break;
                case "leed": list.Add(YcsbSystem.Leed); break;
                case "leed-ditto": list.Add(YcsbSystem.LeedDitto); break;
                default: throw new ArgumentException($"unknown system '{part}': use scalio, scalio-nobatch, leed, leed-ditto or all");
            }
        }
        if (list.Count == 0) throw new ArgumentException("no system given: use scalio, scalio-nobatch, leed, leed-ditto or all");
        return [.. list.Distinct()];
    }

    /// <summary>Opens the store a system runs on: same geometry for all, only batch size and server-side fill differ.</summary>
    public static ScalioStore OpenStore(YcsbSystem system, StoreSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        long n = settings.Records;
        string? dir = settings.DataDirectory is null ? null
            : settings.SubdirectoryPerSystem ? Path.Combine(settings.DataDirectory, Name(system)) : settings.DataDirectory;
        if (dir is not null) Directory.CreateDirectory(dir);
        return new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = n + n / 4,
            CacheFraction = settings.CacheFraction * n / (n + n / 4),
            Devices = settings.Ssds,
            DataDirectory = dir,
            SsdModel = settings.SsdModel,
            ServerWorkers = settings.ServerWorkers,
            BatchSize = system == YcsbSystem.Scalio ? settings.BatchSize : 1,
            ServerFillsCacheOnGet = system == YcsbSystem.LeedDitto,
            Layout = SlotLayout.Default,
        });
    }

    /// <summary>The YCSB target of a system on a store opened by <see cref="OpenStore"/>.</summary>
    public static IYcsbTarget CreateTarget(YcsbSystem system, ScalioStore store) => system switch
    {
        YcsbSystem.Scalio or YcsbSystem.ScalioNoBatch => new ScalioYcsbTarget(store, Name(system)),
        YcsbSystem.Leed => new LeedYcsbTarget(store, LeedMode.Leed, Name(system)),
        YcsbSystem.LeedDitto => new LeedYcsbTarget(store, LeedMode.LeedDitto, Name(system)),
        _ => throw new ArgumentOutOfRangeException(nameof(system)),
    };

    /// <summary>
    /// Opens a fresh store per system and loads it, then runs the measured phase <paramref name="rounds"/> times,
    /// interleaved (A B C D A B C D ...), since figures on a shared host drift between runs; returns per system the
    /// median round with the median and range of each ratio against LEED+Ditto. <paramref name="progress"/> is asked
    /// for a reporter per system and round (round -1 is the load).
    /// </summary>
    public static IReadOnlyList<SystemResult> Run(YcsbOptions options, StoreSettings settings, IReadOnlyList<YcsbSystem> systems,
        int rounds = 1, PaperHardware? hardware = null, Func<YcsbSystem, int, IProgress<YcsbProgress>?>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(systems);
        if (rounds < 1 || rounds > 100) throw new ArgumentOutOfRangeException(nameof(rounds), rounds, "rounds must be 1..100");
        options.Validate();
        hardware ??= PaperHardware.Paper;
        var stores = new List<ScalioStore>();
        try
        {
            var targets = new IYcsbTarget[systems.Count];
            var loadSeconds = new double[systems.Count];
            for (int i = 0; i < systems.Count; i++)
            {
                stores.Add(OpenStore(systems[i], settings));
                targets[i] = CreateTarget(systems[i], stores[i]);
                if (options.Load) loadSeconds[i] = new YcsbRunner(options).Load(targets[i], progress?.Invoke(systems[i], -1)).TotalSeconds;
            }
            var runOptions = options with { Load = false };
            var perRound = new List<IReadOnlyList<SystemResult>>();
            for (int r = 0; r < rounds; r++)
            {
                var results = new List<(YcsbSystem, YcsbResult)>();
                for (int i = 0; i < systems.Count; i++)
                {
                    var result = new YcsbRunner(runOptions).Run(targets[i], progress?.Invoke(systems[i], r));
                    results.Add((systems[i], result with { LoadSeconds = loadSeconds[i] }));
                }
                perRound.Add(Compare(results, hardware));
            }
            return Summarize(perRound);
        }
        finally
        {
            foreach (var s in stores) s.Dispose();
        }
    }

    /// <summary>Per system: the median-throughput round, the median of each per-round ratio and its range.</summary>
    public static IReadOnlyList<SystemResult> Summarize(IReadOnlyList<IReadOnlyList<SystemResult>> rounds)
    {
        ArgumentNullException.ThrowIfNull(rounds);
        if (rounds.Count == 0) return [];
        if (rounds.Count == 1) return rounds[0];
        var rows = new List<SystemResult>();
        for (int i = 0; i < rounds[0].Count; i++)
        {
            var all = new SystemResult[rounds.Count];
            for (int r = 0; r < all.Length; r++) all[r] = rounds[r][i];
            var byOps = all.OrderBy(x => x.Result.OpsPerSecond).ToArray();
            var median = byOps[(byOps.Length - 1) / 2];
            rows.Add(median with
            {
                OpsRatio = Median(all, static x => x.OpsRatio),
                ServerCpuRatio = Median(all, static x => x.ServerCpuRatio),
                ProjectedRatio = Median(all, static x => x.ProjectedRatio),
                Rounds = all.Length,
                OpsRatioRange = Range(all, static x => x.OpsRatio),
                ServerCpuRatioRange = Range(all, static x => x.ServerCpuRatio),
                ProjectedRatioRange = Range(all, static x => x.ProjectedRatio),
            });
        }
        return rows;
    }

    private static double Median(SystemResult[] rows, Func<SystemResult, double> f)
    {
        var v = rows.Select(f).Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    private static (double Min, double Max) Range(SystemResult[] rows, Func<SystemResult, double> f)
        => (rows.Min(f), rows.Max(f));

    /// <summary>Projections and ratios against the LEED+Ditto row of the same run.</summary>
    public static IReadOnlyList<SystemResult> Compare(IReadOnlyList<(YcsbSystem System, YcsbResult Result)> results, PaperHardware hardware)
    {
        ArgumentNullException.ThrowIfNull(results);
        YcsbResult? reference = null;
        foreach (var (s, r) in results) if (s == YcsbSystem.LeedDitto) reference = r;
        var referenceProjection = reference is null ? default : Projection.Of(reference, hardware);
        var rows = new List<SystemResult>(results.Count);
        foreach (var (s, r) in results)
        {
            var p = Projection.Of(r, hardware);
            rows.Add(new SystemResult(s, r, p,
                reference is null ? double.NaN : r.OpsPerSecond / reference.OpsPerSecond,
                reference is null ? double.NaN : r.ServerCpuMicrosPerOp / reference.ServerCpuMicrosPerOp,
                reference is null ? double.NaN : p.OpsPerSecond / referenceProjection.OpsPerSecond));
        }
        return rows;
    }

    /// <summary>Writes the rows as JSON (the same data as the table; infinities and NaN as null).</summary>
    public static void WriteJson(string path, IReadOnlyList<SystemResult> rows, StoreSettings settings, PaperHardware hardware)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(hardware);
        static double? J(double v) => double.IsFinite(v) ? v : null;
        var doc = new
        {
            settings = new { settings.Records, settings.CacheFraction, settings.Ssds, settings.ServerWorkers, settings.BatchSize },
            hardware = new { hardware.ServerCores, hardware.Ssds, hardware.IopsPerSsd, formula = "min(cores / server CPU s per op, ssds * IOPS / SSD I/Os per op)" },
            host = new { Environment.ProcessorCount, os = Environment.OSVersion.ToString(), time = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture) },
            systems = rows.Select(x => new
            {
                system = Name(x.System),
                workload = x.Result.Workload.ToString(),
                variant = x.Result.Variant.ToString(),
                threads = x.Result.Threads,
                records = x.Result.RecordCount,
                operations = x.Result.Operations,
                seconds = x.Result.Seconds,
                opsPerSecond = x.Result.OpsPerSecond,
                hitRatio = J(x.Result.HitRatio),
                p50Micros = x.Result.P50Micros,
                p99Micros = x.Result.P99Micros,
                p999Micros = x.Result.P999Micros,
                roundTripsPerOp = x.Result.RoundTripsPerOp,
                serverCpuMicrosPerOp = x.Result.ServerCpuMicrosPerOp,
                nicMicrosPerOp = x.Result.OffloadMicrosPerOp,
                ssdReadsPerOp = x.Result.SsdReadsPerOp,
                ssdWritesPerOp = x.Result.SsdWritesPerOp,
                bytesPerOp = x.Result.BytesPerOp,
                valueMismatches = x.Result.ValueMismatches,
                projectedCoreBound = J(x.Projection.CoreBound),
                projectedSsdBound = J(x.Projection.SsdBound),
                projectedOpsPerSecond = J(x.Projection.OpsPerSecond),
                bottleneck = x.Projection.Bottleneck,
                opsRatioVsLeedDitto = J(x.OpsRatio),
                serverCpuRatioVsLeedDitto = J(x.ServerCpuRatio),
                projectedRatioVsLeedDitto = J(x.ProjectedRatio),
                rounds = x.Rounds,
                opsRatioRange = new[] { J(x.OpsRatioRange.Min), J(x.OpsRatioRange.Max) },
                serverCpuRatioRange = new[] { J(x.ServerCpuRatioRange.Min), J(x.ServerCpuRatioRange.Max) },
                projectedRatioRange = new[] { J(x.ProjectedRatioRange.Min), J(x.ProjectedRatioRange.Max) },
            }).ToArray(),
        };
        File.WriteAllText(path, JsonSerializer.Serialize(doc, JsonOptions));
    }
}

/// <summary>Drives a LEED or LEED+Ditto baseline (<see cref="LeedClient"/>) from the YCSB runner.</summary>
public sealed class LeedYcsbTarget : IYcsbTarget
{
    private readonly ScalioStore _store;
    private readonly LeedMode _mode;
    private readonly List<LeedClient> _clients = [];

    /// <summary>Creates the target; sessions connect to <paramref name="store"/>'s server.</summary>
    public LeedYcsbTarget(ScalioStore store, LeedMode mode, string name)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _mode = mode;
        Name = name;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>One-sided cache reads by all sessions so far.</summary>
    public long OneSidedReads { get { long n = 0; lock (_clients) foreach (var c in _clients) n += c.OneSidedReads; return n; } }

    /// <summary>Two-sided requests sent by all sessions so far.</summary>
    public long ServerRequests { get { long n = 0; lock (_clients) foreach (var c in _clients) n += c.ServerRequests; return n; } }

    /// <inheritdoc/>
    public IYcsbSession OpenSession(int threadIndex)
    {
        var client = new LeedClient(_store, _mode);
        lock (_clients) _clients.Add(client);
        return new Session(client);
    }

    /// <inheritdoc/>
    public TargetCounters ReadCounters()
    {
        long rts = 0, gets = 0, hits = 0, bytes = 0;
        lock (_clients)
        {
            foreach (var c in _clients)
            {
                rts += c.Counters.RoundTrips;
                gets += c.Counters.Gets;
                hits += c.Counters.Hits;
                bytes += c.Counters.BytesMoved;
            }
        }
        var s = _store.ReadCounters();
        return new TargetCounters(rts, s.ServerBusyNanoseconds, s.OffloadBusyNanoseconds, s.DeviceReads, s.DeviceWrites, hits, gets - hits, bytes);
    }

    private sealed class Session(LeedClient client) : IYcsbSession
    {
        public bool Read(ReadOnlySpan<byte> key, Span<byte> value)
        {
            var st = client.Get(key, value, out _);
            if (st == Fast.Rpc.OpStatus.Ok) return true;
            if (st == Fast.Rpc.OpStatus.NotFound) return false;
            throw new ScalioException($"GET failed: {st}");
        }

        public void Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Check(client.Put(key, value));

        public void Insert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Check(client.Put(key, value));

        private static void Check(Fast.Rpc.OpStatus st)
        {
            if (st != Fast.Rpc.OpStatus.Ok) throw new ScalioException($"PUT failed: {st}");
        }

        public void Dispose() => client.Dispose();
    }
}
