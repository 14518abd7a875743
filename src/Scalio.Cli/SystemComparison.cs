using System.Globalization;
using System.Text.Json;
using Scalio.Fast;
using Scalio.Baselines;
using Scalio.Fast.Cache;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary>A system <c>scalio ycsb --system</c> can run (DESIGN.md, "Baselines").</summary>
internal enum YcsbSystem
{
    /// <summary>Scalio with batched write (the configured batch size).</summary>
    Scalio,
    /// <summary>Scalio with batch size 1.</summary>
    ScalioNoBatch,
    /// <summary>LEED: every op a two-sided RPC, the server CPU does the SSD I/O, no cache.</summary>
    Leed,
    /// <summary>LEED+Ditto: one-sided cache reads, misses and writes through the server CPU.</summary>
    LeedDitto,
    /// <summary>Scalio's one-sided miss path, but its SSD reads served by a software NVMe-oF target on the server's
    /// cores (no target offload), batch size 1: the paper's Figure 12 middle step.</summary>
    ScalioNoOffload,
}

/// <summary>How the stores of a comparison are sized (the same for every system).</summary>
internal sealed record StoreSettings
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

    /// <summary>SSD performance MODEL wrapped around each namespace (over files, add the device's own latency); null: no cap
    /// (or the one <see cref="IopsPerSsd"/> makes).</summary>
    public Scalio.Nvme.SsdModelOptions? SsdModel { get; init; }

    /// <summary>MODEL of a smaller server: core-seconds per second the server's serving work may use (<see cref="Scalio.Fast.Server.CpuBudget"/>),
    /// the same for every system; 0: unlimited.</summary>
    public double ServerCores { get; init; }

    /// <summary>IOPS cap of the SSD MODEL of each RAM namespace when <see cref="SsdModel"/> is null; 0: no model.</summary>
    public int IopsPerSsd { get; init; }

    /// <summary>The scale-down this run's budget and IOPS came from (<see cref="ScaleDown"/>); null: set by hand or none.</summary>
    public ScaleDown? ScaleDown { get; init; }

    /// <summary>Threads of the emulated offload engine (the NIC); with file namespaces each keeps many device reads in
    /// flight on its own io_uring.</summary>
    public int OffloadThreads { get; init; }

    /// <summary>NVMe commands each client connection may have in flight at the offload engine.</summary>
    public int OffloadQueueDepth { get; init; } = 8;

    /// <summary>Run the saturation phases (<see cref="Saturation"/>) after the measured rounds.</summary>
    public bool SaturationPhases { get; init; } = true;

    /// <summary>Length of each saturation phase.</summary>
    public TimeSpan SaturationDuration { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The SSD model the stores use: <see cref="SsdModel"/>, else one of <see cref="IopsPerSsd"/> IOPS, else none.</summary>
    public Scalio.Nvme.SsdModelOptions? EffectiveSsdModel => SsdModel ?? (IopsPerSsd <= 0 ? null
        : DataDirectory is null ? new Scalio.Nvme.SsdModelOptions { MaxIops = IopsPerSsd }
        // Over real files the device's own latency stands in for the model's: only the IOPS cap is modelled.
        : new Scalio.Nvme.SsdModelOptions { MaxIops = IopsPerSsd, ReadLatency = TimeSpan.Zero, WriteLatency = TimeSpan.Zero, FlushLatency = TimeSpan.Zero });
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
internal sealed record SystemResult(YcsbSystem System, YcsbResult Result, Projection Projection, double OpsRatio, double ServerCpuRatio, double ProjectedRatio)
{
    /// <summary>Rounds the row summarizes.</summary>
    public int Rounds { get; init; } = 1;

    /// <summary>Smallest and largest per-round <see cref="OpsRatio"/>.</summary>
    public (double Min, double Max) OpsRatioRange { get; init; } = (OpsRatio, OpsRatio);

    /// <summary>Smallest and largest per-round <see cref="ServerCpuRatio"/>.</summary>
    public (double Min, double Max) ServerCpuRatioRange { get; init; } = (ServerCpuRatio, ServerCpuRatio);

    /// <summary>Smallest and largest per-round <see cref="ProjectedRatio"/>.</summary>
    public (double Min, double Max) ProjectedRatioRange { get; init; } = (ProjectedRatio, ProjectedRatio);

    /// <summary>Core-speed factor of this run (<see cref="CoreScale.Factor"/>; over several rounds the median of the
    /// per-round factors, the same for every row); NaN when LEED was not run.</summary>
    public double CoreScaleFactor { get; init; } = double.NaN;

    /// <summary>The saturation phase of PUTs (<see cref="Saturation.Puts"/>), when run.</summary>
    public SaturationResult? SaturatedPuts { get; init; }

    /// <summary>The saturation phase of GETs of uniformly chosen records (mostly misses), when run.</summary>
    public SaturationResult? SaturatedGets { get; init; }

    /// <summary>The projection with server CPU scaled to the paper's cores (<see cref="CoreScale"/>); NaN without LEED.</summary>
    public Projection ScaledProjection { get; init; } = Projection.None;

    /// <summary><see cref="ScaledProjection"/> divided by LEED+Ditto's of the same run.</summary>
    public double ScaledProjectedRatio { get; init; } = double.NaN;

    /// <summary>Smallest and largest per-round <see cref="ScaledProjectedRatio"/>.</summary>
    public (double Min, double Max) ScaledProjectedRatioRange { get; init; } = (double.NaN, double.NaN);
}

/// <summary>Runs several systems on the same workload, one after the other in one process, and compares them.</summary>
internal static class SystemComparison
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Command-line name of a system.</summary>
    public static string Name(YcsbSystem system) => system switch
    {
        YcsbSystem.Scalio => "scalio",
        YcsbSystem.ScalioNoBatch => "scalio-nobatch",
        YcsbSystem.Leed => "leed",
        YcsbSystem.LeedDitto => "leed-ditto",
        YcsbSystem.ScalioNoOffload => "scalio-nooffload",
        _ => throw new ArgumentOutOfRangeException(nameof(system)),
    };

    /// <summary>Parses <c>scalio|scalio-nobatch|scalio-nooffload|leed|leed-ditto|all</c> (comma-separated lists allowed; all = the four of the paper's Figure 10).</summary>
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
                case "scalio-nooffload": list.Add(YcsbSystem.ScalioNoOffload); break;
                default: throw new ArgumentException($"unknown system '{part}': use scalio, scalio-nobatch, scalio-nooffload, leed, leed-ditto or all");
            }
        }
        if (list.Count == 0) throw new ArgumentException("no system given: use scalio, scalio-nobatch, scalio-nooffload, leed, leed-ditto or all");
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
        var store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = n + n / 4,
            CacheFraction = settings.CacheFraction * n / (n + n / 4),
            Devices = settings.Ssds,
            DataDirectory = dir,
            SsdModel = settings.EffectiveSsdModel,
            ServerWorkers = settings.ServerWorkers,
            OffloadThreads = settings.OffloadThreads,
            OffloadQueueDepth = settings.OffloadQueueDepth,
            TargetOnServerCpu = system == YcsbSystem.ScalioNoOffload,
            BatchSize = system == YcsbSystem.Scalio ? settings.BatchSize : 1,
            Layout = SlotLayout.Default,
        });
        if (system == YcsbSystem.LeedDitto) DittoServerFill.Enable(store);
        return store;
    }

    /// <summary>The YCSB target of a system on a store opened by <see cref="OpenStore"/>.</summary>
    public static IYcsbTarget CreateTarget(YcsbSystem system, ScalioStore store) => system switch
    {
        YcsbSystem.Scalio or YcsbSystem.ScalioNoBatch or YcsbSystem.ScalioNoOffload => new ScalioYcsbTarget(store, Name(system)),
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
                // Loading is set-up: the SSD model (and the budget, below) bind the measured phases only.
                stores[i].BypassSsdModel(true);
                if (options.Load) loadSeconds[i] = new YcsbRunner(options).Load(targets[i], progress?.Invoke(systems[i], -1)).TotalSeconds;
                stores[i].BypassSsdModel(false);
            }
            // The budget binds the measured phases only: loading is set-up, not part of the result.
            if (settings.ServerCores > 0) foreach (var s in stores) s.Server.Budget = new Scalio.Fast.Server.CpuBudget(settings.ServerCores);
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
            var rows = Summarize(perRound);
            if (!settings.SaturationPhases) return rows;
            var withSaturation = new List<SystemResult>(rows.Count);
            for (int i = 0; i < systems.Count; i++)
            {
                var puts = Saturation.Puts(stores[i], runOptions, settings.SaturationDuration);
                // Scalio's server serves no GETs (misses are one-sided and offloaded): nothing to saturate.
                SaturationResult? gets = systems[i] is YcsbSystem.Leed or YcsbSystem.LeedDitto ? Saturation.Gets(stores[i], runOptions, settings.SaturationDuration) : null;
                withSaturation.Add(rows[i] with { SaturatedPuts = puts, SaturatedGets = gets });
            }
            return withSaturation;
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
                ScaledProjectedRatio = Median(all, static x => x.ScaledProjectedRatio),
                CoreScaleFactor = Median(all, static x => x.CoreScaleFactor),
                Rounds = all.Length,
                OpsRatioRange = Range(all, static x => x.OpsRatio),
                ServerCpuRatioRange = Range(all, static x => x.ServerCpuRatio),
                ProjectedRatioRange = Range(all, static x => x.ProjectedRatio),
                ScaledProjectedRatioRange = Range(all, static x => x.ScaledProjectedRatio),
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

    /// <summary>Projections (raw and scaled to the paper's cores, <see cref="CoreScale"/>) and ratios against the
    /// LEED+Ditto row of the same run.</summary>
    public static IReadOnlyList<SystemResult> Compare(IReadOnlyList<(YcsbSystem System, YcsbResult Result)> results, PaperHardware hardware)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(hardware);
        YcsbResult? reference = null, leed = null;
        foreach (var (s, r) in results)
        {
            if (s == YcsbSystem.LeedDitto) reference = r;
            if (s == YcsbSystem.Leed) leed = r;
        }
        double factor = leed is null ? double.NaN : CoreScale.Factor(leed.ServerCpuMicrosPerOp, hardware);
        var referenceProjection = reference is null ? default : Projection.Of(reference, hardware);
        var referenceScaled = reference is null ? Projection.None : CoreScale.Project(reference, factor, hardware);
        var rows = new List<SystemResult>(results.Count);
        foreach (var (s, r) in results)
        {
            var p = Projection.Of(r, hardware);
            var scaled = CoreScale.Project(r, factor, hardware);
            double scaledRatio = scaled.OpsPerSecond / referenceScaled.OpsPerSecond;
            rows.Add(new SystemResult(s, r, p,
                reference is null ? double.NaN : r.OpsPerSecond / reference.OpsPerSecond,
                reference is null ? double.NaN : r.ServerCpuMicrosPerOp / reference.ServerCpuMicrosPerOp,
                reference is null ? double.NaN : p.OpsPerSecond / referenceProjection.OpsPerSecond)
            {
                CoreScaleFactor = factor,
                ScaledProjection = scaled,
                ScaledProjectedRatio = scaledRatio,
                ScaledProjectedRatioRange = (scaledRatio, scaledRatio),
            });
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
            settings = new
            {
                settings.Records, settings.CacheFraction, settings.Ssds, settings.ServerWorkers, settings.BatchSize,
                serverCores = settings.ServerCores > 0 ? settings.ServerCores : (double?)null,
                iopsPerSsd = settings.EffectiveSsdModel?.MaxIops,
                ssdModelReadLatencyMicros = settings.EffectiveSsdModel?.ReadLatency.TotalMicroseconds,
                namespaces = settings.DataDirectory is null ? "ram" : "files",
                scaleDown = settings.ScaleDown is { } sd ? new
                {
                    k = sd.K, hostLeedMicrosPerGet = sd.HostLeedMicrosPerGet, calibrationSamples = sd.CalibrationSamples, coreSpeedFactor = sd.CoreSpeedFactor,
                    paperLeedMicrosPerOp = sd.Paper.LeedMicrosPerOp, paperCores = sd.Paper.ServerCores, paperIopsPerSsd = sd.Paper.IopsPerSsd,
                    rule = "serverCores = paperCores / k / coreSpeedFactor, coreSpeedFactor = paperLeedMicrosPerOp / hostLeedMicrosPerGet (LEED GETs at saturation, this run); iopsPerSsd = paperIopsPerSsd / k",
                } : null,
                measured = "opsPerSecond is what the run measured, under the server CPU budget and SSD model above (MODELS, labelled); projections are secondary",
            },
            hardware = new
            {
                hardware.ServerCores, hardware.Ssds, hardware.IopsPerSsd, hardware.LeedMicrosPerOp,
                formula = "min(cores / server CPU s per op, ssds * IOPS / SSD I/Os per op)",
                scaledFormula = "the same with server CPU x coreScaleFactor, coreScaleFactor = LeedMicrosPerOp / LEED's measured server CPU us per op of this run",
            },
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
                getHitP50Micros = J(x.Result.Latencies.GetHit.P50Micros),
                getHitP99Micros = J(x.Result.Latencies.GetHit.P99Micros),
                getMissP50Micros = J(x.Result.Latencies.GetMiss.P50Micros),
                getMissP99Micros = J(x.Result.Latencies.GetMiss.P99Micros),
                putP50Micros = J(x.Result.Latencies.Put.P50Micros),
                putP99Micros = J(x.Result.Latencies.Put.P99Micros),
                serverMicrosPerPutAtSaturation = x.SaturatedPuts is { } sp ? J(sp.ServerMicrosPerRequest) : null,
                ssdWritesPerPutAtSaturation = x.SaturatedPuts is { } sp2 ? J(sp2.SsdWritesPerOp) : null,
                putsPerSecondAtSaturation = x.SaturatedPuts is { } sp3 ? J(sp3.Operations / sp3.Seconds) : null,
                serverMicrosPerGetRequestAtSaturation = x.SaturatedGets is { } sg ? J(sg.ServerMicrosPerRequest) : null,
                saturationOutstanding = x.SaturatedPuts?.Threads,
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
                coreScaleFactor = J(x.CoreScaleFactor),
                scaledProjectedOpsPerSecond = J(x.ScaledProjection.OpsPerSecond),
                scaledBottleneck = double.IsNaN(x.ScaledProjection.OpsPerSecond) ? null : x.ScaledProjection.Bottleneck,
                scaledProjectedRatioVsLeedDitto = J(x.ScaledProjectedRatio),
                scaledProjectedRatioRange = new[] { J(x.ScaledProjectedRatioRange.Min), J(x.ScaledProjectedRatioRange.Max) },
                rounds = x.Rounds,
                opsRatioRange = new[] { J(x.OpsRatioRange.Min), J(x.OpsRatioRange.Max) },
                serverCpuRatioRange = new[] { J(x.ServerCpuRatioRange.Min), J(x.ServerCpuRatioRange.Max) },
                projectedRatioRange = new[] { J(x.ProjectedRatioRange.Min), J(x.ProjectedRatioRange.Max) },
            }).ToArray(),
        };
        File.WriteAllText(path, JsonSerializer.Serialize(doc, JsonOptions));
    }
}
