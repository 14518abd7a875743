using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary>
/// The paper's server scaled down by one factor K (DESIGN.md "Reproducing the figures"): a server CPU budget of the
/// paper's 8 Arm cores / K, converted to this host's cores, and SSDs of 500K / K IOPS each. The conversion is
/// calibrated in the same run: LEED's server cost per GET at saturation is measured here (<see cref="HostLeedMicrosPerGet"/>)
/// and mapped onto LEED's published ~10 µs per op on the paper's cores (800K QPS on 8 cores), so a budgeted LEED saturates
/// near 800K / K ops/s whatever this host's core speed.
/// </summary>
/// <param name="K">The scale-down factor.</param>
/// <param name="HostLeedMicrosPerGet">LEED's serving CPU per GET request at saturation on this host, µs.</param>
/// <param name="Paper">The paper's server.</param>
internal sealed record ScaleDown(int K, double HostLeedMicrosPerGet, PaperHardware Paper)
{
    /// <summary>The calibration phases' LEED µs per GET, sorted (the median is <see cref="HostLeedMicrosPerGet"/>).</summary>
    public IReadOnlyList<double> CalibrationSamples { get; init; } = [];

    /// <summary>How many times faster a core of this host serves LEED than a core of the paper's server.</summary>
    public double CoreSpeedFactor => Paper.LeedMicrosPerOp / HostLeedMicrosPerGet;

    /// <summary>Host core-seconds per second: paper cores / K / <see cref="CoreSpeedFactor"/>.</summary>
    public double ServerCores => Paper.ServerCores / (double)K / CoreSpeedFactor;

    /// <summary>IOPS of each modelled SSD: paper IOPS / K.</summary>
    public int IopsPerSsd => (int)Math.Max(1, Paper.IopsPerSsd / K);

    /// <summary>Server workers of a scaled-down server: one, since a worker never blocks on a modelled SSD (replies wait
    /// for the I/O instead, <c>SsdPerformanceModel.DeferWaits</c>), so the budget, not the device latency, bounds it.</summary>
    public const int ServerWorkers = 1;

    /// <summary>CPU budget of the calibration's measured phase (about the budgets it produces for K of 50 to 100).</summary>
    public const double CalibrationCores = 0.01;

    /// <summary>Measures LEED's serving CPU per GET at saturation (under <see cref="CalibrationCores"/>) on a small LEED store (no SSD model, same
    /// geometry otherwise) and returns the scale-down.</summary>
    public static ScaleDown Calibrate(int k, StoreSettings settings, YcsbOptions options, PaperHardware? paper = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(options);
        if (k < 1 || k > 100_000) throw new ArgumentOutOfRangeException(nameof(k), k, "--scale-down must be 1..100000");
        long records = Math.Min(settings.Records, 50_000);
        // On the run's own kind of namespace (RAM, or files: then the anchor pays the kernel's I/O path as the runs do).
        string? dir = settings.DataDirectory is null ? null : Path.Combine(settings.DataDirectory, "calibration");
        if (dir is not null && Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var calibration = settings with { Records = records, ServerCores = 0, IopsPerSsd = 0, SsdModel = null, DataDirectory = dir, SubdirectoryPerSystem = false, ScaleDown = null };
        var o = options with { RecordCount = records, Threads = 4, Load = true };
        using var store = SystemComparison.OpenStore(YcsbSystem.Leed, calibration);
        var target = SystemComparison.CreateTarget(YcsbSystem.Leed, store);
        new YcsbRunner(o).Load(target);
        Saturation.Gets(store, o, TimeSpan.FromMilliseconds(300)); // warm-up
        // Measured under a small budget, as the runs it calibrates are: a server that runs in short bursts between
        // other threads pays cold caches on every request, and the anchor must pay them too.
        store.Server.Budget = new Scalio.Fast.Server.CpuBudget(CalibrationCores);
        // The median of five short phases: one phase that shares the host with a burst of other work is an outlier.
        var samples = new double[5];
        for (int i = 0; i < samples.Length; i++) samples[i] = Saturation.Gets(store, o, TimeSpan.FromMilliseconds(400)).ServerMicrosPerRequest;
        Array.Sort(samples);
        double median = samples[samples.Length / 2];
        if (!(median > 0)) throw new InvalidOperationException("calibration measured no LEED server time");
        return new ScaleDown(k, median, paper ?? PaperHardware.Paper) { CalibrationSamples = samples };
    }
}

/// <summary>The hardware a result is projected onto: the paper's server by default (8 Arm cores, 7 SSDs of 500K IOPS).</summary>
/// <param name="ServerCores">Server cores.</param>
/// <param name="Ssds">SSDs.</param>
/// <param name="IopsPerSsd">I/Os per second each SSD sustains.</param>
/// <param name="LeedMicrosPerOp">Server CPU µs one LEED operation costs on these cores: the anchor of the core-speed
/// scaling (<see cref="CoreScale"/>). The paper's LEED saturates its 8 Arm cores at about 800K QPS (the talk: "achieves
/// 800K QPS under a 4-SSD configuration", then "fails to scale up: overloaded Arm cores"), so 8 cores / 800K op/s =
/// 10 µs per op.</param>
internal sealed record PaperHardware(int ServerCores = 8, int Ssds = 7, double IopsPerSsd = 500_000, double LeedMicrosPerOp = 10.0)
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
internal readonly record struct Projection(double CoreBound, double SsdBound, double OpsPerSecond)
{
    /// <summary>No projection (every figure NaN): e.g. a scaled projection without a LEED anchor.</summary>
    public static Projection None { get; } = new(double.NaN, double.NaN, double.NaN);

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

/// <summary>
/// Core-speed scaling of server CPU time onto the paper's cores. The raw projection charges a server operation what it
/// cost on THIS machine's x86 core; the paper's server has 8 Arm cores of a DPU, which are slower. The factor anchors one
/// known point: LEED measured in the same run (same workload, same build, same host condition) is mapped onto LEED's
/// published cost on the paper's cores (<see cref="PaperHardware.LeedMicrosPerOp"/>), and every system's server CPU per
/// op is multiplied by the same factor. It is an estimate: it assumes the other systems' server work slows down on the
/// Arm cores as LEED's does, and it folds in that our LEED does 1 SSD read per GET where the paper's does 2 (its value
/// log) — it maps "a LEED operation here" onto "a LEED operation there". The raw projection is always shown beside it.
/// </summary>
internal static class CoreScale
{
    /// <summary>Factor = paper LEED µs/op ÷ measured LEED µs/op; NaN without a LEED measurement.</summary>
    public static double Factor(double measuredLeedMicrosPerOp, PaperHardware hardware)
    {
        ArgumentNullException.ThrowIfNull(hardware);
        return measuredLeedMicrosPerOp > 0 && double.IsFinite(measuredLeedMicrosPerOp) ? hardware.LeedMicrosPerOp / measuredLeedMicrosPerOp : double.NaN;
    }

    /// <summary>The projection of <paramref name="result"/> with its server CPU multiplied by <paramref name="factor"/>
    /// (NaN projection when the factor is NaN).</summary>
    public static Projection Project(YcsbResult result, double factor, PaperHardware hardware)
    {
        ArgumentNullException.ThrowIfNull(result);
        return Project(result.ServerCpuMicrosPerOp, result.SsdReadsPerOp + result.SsdWritesPerOp, factor, hardware);
    }

    /// <summary>The projection of per-op costs with the server CPU multiplied by <paramref name="factor"/>
    /// (<see cref="Projection.None"/> when the factor is NaN).</summary>
    public static Projection Project(double serverCpuMicrosPerOp, double ssdIosPerOp, double factor, PaperHardware hardware)
        => double.IsNaN(factor) ? Projection.None : Projection.Of(serverCpuMicrosPerOp * factor, ssdIosPerOp, hardware);
}

