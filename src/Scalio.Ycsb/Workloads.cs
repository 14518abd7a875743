using System.Collections.Concurrent;

namespace Scalio.Ycsb;

/// <summary>The YCSB core workloads that fit a hash key-value store.</summary>
public enum YcsbWorkload
{
    /// <summary>Update heavy: 50% read, 50% update, Zipfian.</summary>
    A,

    /// <summary>Read mostly: 95% read, 5% update, Zipfian.</summary>
    B,

    /// <summary>Read only: 100% read, Zipfian.</summary>
    C,

    /// <summary>Read latest: 95% read, 5% insert, latest distribution.</summary>
    D,

    /// <summary>Read-modify-write: 50% read, 50% read-modify-write, Zipfian.</summary>
    F,
}

/// <summary>How transaction keys are chosen.</summary>
public enum RequestDistribution
{
    /// <summary>Scrambled Zipfian (YCSB's "zipfian").</summary>
    Zipfian,

    /// <summary>Skewed towards the most recent inserts (YCSB's "latest").</summary>
    Latest,

    /// <summary>Uniform over the loaded records (YCSB's "uniform").</summary>
    Uniform,
}

/// <summary>One operation kind of the run phase.</summary>
public enum OperationKind
{
    /// <summary>Read one record.</summary>
    Read,

    /// <summary>Overwrite one record.</summary>
    Update,

    /// <summary>Insert one record.</summary>
    Insert,

    /// <summary>Read one record, then update the same record.</summary>
    ReadModifyWrite,
}

/// <summary>One chosen operation: what to do and to which record number.</summary>
/// <param name="Kind">The operation.</param>
/// <param name="KeyNumber">The record number; turn it into key bytes with <see cref="KeyCodec.Encode"/>.</param>
public readonly record struct YcsbOperation(OperationKind Kind, long KeyNumber);

/// <summary>The proportions and request distribution of a workload, as in YCSB's workloads/workload? files.</summary>
/// <param name="Workload">The workload letter.</param>
/// <param name="ReadProportion">Share of reads.</param>
/// <param name="UpdateProportion">Share of updates.</param>
/// <param name="InsertProportion">Share of inserts.</param>
/// <param name="ReadModifyWriteProportion">Share of read-modify-writes.</param>
/// <param name="Distribution">How keys are chosen.</param>
public sealed record WorkloadSpec(
    YcsbWorkload Workload,
    double ReadProportion,
    double UpdateProportion,
    double InsertProportion,
    double ReadModifyWriteProportion,
    RequestDistribution Distribution)
{
    /// <summary>The specification of a core workload.</summary>
    public static WorkloadSpec For(YcsbWorkload workload) => workload switch
    {
        YcsbWorkload.A => new WorkloadSpec(workload, 0.5, 0.5, 0, 0, RequestDistribution.Zipfian),
        YcsbWorkload.B => new WorkloadSpec(workload, 0.95, 0.05, 0, 0, RequestDistribution.Zipfian),
        YcsbWorkload.C => new WorkloadSpec(workload, 1.0, 0, 0, 0, RequestDistribution.Zipfian),
        YcsbWorkload.D => new WorkloadSpec(workload, 0.95, 0, 0.05, 0, RequestDistribution.Latest),
        YcsbWorkload.F => new WorkloadSpec(workload, 0.5, 0, 0, 0.5, RequestDistribution.Zipfian),
        _ => throw new ArgumentOutOfRangeException(nameof(workload), workload, "Unknown YCSB workload."),
    };

    /// <summary>
    /// Parses a workload letter ("a".."f", optionally written "workloada"). Workload E is refused: its range
    /// scans need ordered keys, which a hash store does not keep.
    /// </summary>
    public static YcsbWorkload ParseWorkload(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim();
        if (t.StartsWith("workload", StringComparison.OrdinalIgnoreCase))
        {
            t = t["workload".Length..];
        }
        if (t.Length == 1)
        {
            switch (char.ToUpperInvariant(t[0]))
            {
                case 'A': return YcsbWorkload.A;
                case 'B': return YcsbWorkload.B;
                case 'C': return YcsbWorkload.C;
                case 'D': return YcsbWorkload.D;
                case 'F': return YcsbWorkload.F;
                case 'E':
                    throw new NotSupportedException(
                        "YCSB workload E (95% short range scans) is not supported: Scalio is a hash key-value store, " +
                        "which places keys by hash and keeps no key order, so a scan of the next N keys cannot be served. " +
                        "Use A, B, C, D or F.");
            }
        }
        throw new ArgumentException($"Unknown YCSB workload '{text}': expected one of A, B, C, D, F (E is not supported by a hash store).", nameof(text));
    }
}

/// <summary>
/// The shared state of one workload run: the key space, the insert counter and precomputed constants.
/// Create one per run, then one <see cref="YcsbOperationGenerator"/> per client thread.
/// </summary>
/// <remarks>
/// Official (site.ycsb.workloads.CoreWorkload): Zipfian keys come from
/// <c>ScrambledZipfianGenerator(0, recordcount + expectednewkeys)</c> (note the inclusive max: one item more than
/// the records) with <c>expectednewkeys = (int)(operationcount * insertproportion * 2)</c>; "latest" follows the
/// AcknowledgedCounterGenerator of transaction inserts; key numbers above its last acknowledged value are drawn
/// again; inserts take the next counter value and acknowledge it when done.
/// YCSB-C as run by the Scalio artifact (spdk/app/leed/ycsb/core): Zipfian keys come from
/// <c>ScrambledZipfianGenerator(record_count + new_keys)</c>, i.e. [0, record_count + new_keys - 1], with
/// <c>new_keys = (int)(op_count * insert_proportion * 2)</c>; "latest" follows a CounterGenerator set to
/// record_count that is never advanced; key numbers above record_count - 1 are drawn again; and the artifact's
/// kv_ycsb_next takes the key of every transaction, inserts included, from NextTransactionKey, so an insert
/// overwrites an existing record (LEED sends it as a SET). "Uniform" uses YCSB's UniformLongGenerator arithmetic
/// in both variants (YCSB-C's std::uniform_int_distribution is not portable).
/// </remarks>
public sealed class YcsbWorkloadPlan
{
    private static readonly ConcurrentDictionary<(long N, double Theta), double> ZetaCache = new();

    private readonly double[] _cumulativeWeights;
    private readonly OperationKind[] _kinds;

    /// <summary>Creates the plan for a run.</summary>
    public YcsbWorkloadPlan(WorkloadSpec spec, YcsbVariant variant, long recordCount, long operationCount,
        double zipfianConstant = ZipfianGenerator.DefaultConstant, RequestDistribution? distribution = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (recordCount < 2)
        {
            ThrowHelper.OutOfRange(nameof(recordCount), $"Record count must be at least 2; got {recordCount}.");
        }
        if (operationCount < 0)
        {
            ThrowHelper.OutOfRange(nameof(operationCount), $"Operation count must not be negative; got {operationCount}.");
        }
        Spec = spec;
        Variant = variant;
        RecordCount = recordCount;
        OperationCount = operationCount;
        ZipfianConstant = zipfianConstant;
        Distribution = distribution ?? spec.Distribution;

        // Operation chooser in YCSB's order: READ, UPDATE, INSERT, (SCAN), READMODIFYWRITE; zero weights skipped.
        var kinds = new List<OperationKind>(4);
        var weights = new List<double>(4);
        AddWeight(kinds, weights, OperationKind.Read, spec.ReadProportion);
        AddWeight(kinds, weights, OperationKind.Update, spec.UpdateProportion);
        AddWeight(kinds, weights, OperationKind.Insert, spec.InsertProportion);
        AddWeight(kinds, weights, OperationKind.ReadModifyWrite, spec.ReadModifyWriteProportion);
        if (kinds.Count == 0)
        {
            ThrowHelper.Argument(nameof(spec), "A workload needs at least one operation with a positive proportion.");
        }
        double sum = 0;
        foreach (double w in weights)
        {
            sum += w;
        }
        _kinds = kinds.ToArray();
        _cumulativeWeights = new double[weights.Count];
        for (int i = 0; i < weights.Count; i++)
        {
            _cumulativeWeights[i] = weights[i] / sum; // YCSB compares against weight / sum one entry at a time.
        }

        ExpectedNewKeys = (long)(operationCount * spec.InsertProportion * 2.0);
        if (variant == YcsbVariant.Official)
        {
            InsertSequence = new AcknowledgedCounterGenerator(recordCount);
            ZipfianMax = recordCount + ExpectedNewKeys;
        }
        else
        {
            InsertSequence = new CounterGenerator(recordCount);
            ZipfianMax = recordCount + ExpectedNewKeys - 1;
            if (Distribution == RequestDistribution.Zipfian)
            {
                ScrambledZeta = CachedZeta(ZipfianMax + 1, zipfianConstant);
            }
        }
        if (Distribution == RequestDistribution.Latest)
        {
            LatestZeta = CachedZeta(recordCount - 1, zipfianConstant);
        }
        else if (Distribution == RequestDistribution.Zipfian && variant == YcsbVariant.Official
            && zipfianConstant != ZipfianGenerator.DefaultConstant)
        {
            ThrowHelper.OutOfRange(nameof(zipfianConstant), "The official variant supports only the Zipfian constant 0.99 (YCSB's precomputed zeta).");
        }
    }

    /// <summary>The workload specification.</summary>
    public WorkloadSpec Spec { get; }

    /// <summary>The key-choice variant.</summary>
    public YcsbVariant Variant { get; }

    /// <summary>Records loaded before the run (key numbers 0..RecordCount-1).</summary>
    public long RecordCount { get; }

    /// <summary>The operation count the key space was sized for.</summary>
    public long OperationCount { get; }

    /// <summary>The Zipfian constant.</summary>
    public double ZipfianConstant { get; }

    /// <summary>The request distribution in use.</summary>
    public RequestDistribution Distribution { get; }

    /// <summary>YCSB's fudge-factored count of keys the run may insert: (long)(operations * insert proportion * 2).</summary>
    public long ExpectedNewKeys { get; }

    /// <summary>Inclusive upper bound of the scrambled Zipfian range (lower bound 0).</summary>
    public long ZipfianMax { get; }

    internal CounterGenerator InsertSequence { get; }

    internal double? ScrambledZeta { get; }

    internal double? LatestZeta { get; }

    internal OperationKind[] Kinds => _kinds;

    internal double[] Weights => _cumulativeWeights;

    /// <summary>The highest record number transactions may currently pick.</summary>
    public long LastInsertedKey => InsertSequence.LastValue;

    /// <summary>Creates the per-thread operation generator with its own random stream.</summary>
    public YcsbOperationGenerator CreateGenerator(long seed) => new(this, new YcsbRandom(seed));

    private static void AddWeight(List<OperationKind> kinds, List<double> weights, OperationKind kind, double weight)
    {
        if (weight < 0 || double.IsNaN(weight))
        {
            ThrowHelper.OutOfRange(nameof(weight), $"Proportion of {kind} must not be negative; got {weight}.");
        }
        if (weight > 0)
        {
            kinds.Add(kind);
            weights.Add(weight);
        }
    }

    private static double CachedZeta(long n, double theta) =>
        ZetaCache.GetOrAdd((n, theta), static key => ZipfianGenerator.Zeta(key.N, key.Theta));
}

/// <summary>
/// Per-thread chooser of (operation, record number), allocation-free. Not thread-safe: one per client thread.
/// </summary>
public sealed class YcsbOperationGenerator
{
    private const int MaxRedraws = 1_000_000;

    private readonly YcsbWorkloadPlan _plan;
    private readonly YcsbRandom _random;
    private readonly OperationKind[] _kinds;
    private readonly double[] _weights;
    private readonly ScrambledZipfianGenerator? _scrambled;
    private readonly SkewedLatestGenerator? _latest;
    private readonly UniformLongGenerator? _uniform;
    private readonly AcknowledgedCounterGenerator? _acknowledged;

    internal YcsbOperationGenerator(YcsbWorkloadPlan plan, YcsbRandom random)
    {
        _plan = plan;
        _random = random;
        _kinds = plan.Kinds;
        _weights = plan.Weights;
        _acknowledged = plan.InsertSequence as AcknowledgedCounterGenerator;
        switch (plan.Distribution)
        {
            case RequestDistribution.Zipfian:
                _scrambled = new ScrambledZipfianGenerator(0, plan.ZipfianMax, plan.Variant, plan.ZipfianConstant, plan.ScrambledZeta);
                break;
            case RequestDistribution.Latest:
                _latest = new SkewedLatestGenerator(plan.InsertSequence, plan.Variant, plan.ZipfianConstant, plan.LatestZeta);
                break;
            default:
                _uniform = new UniformLongGenerator(0, plan.RecordCount - 1);
                break;
        }
    }

    /// <summary>The random source of this thread.</summary>
    public YcsbRandom Random => _random;

    /// <summary>Chooses the next operation kind (YCSB's DiscreteGenerator arithmetic).</summary>
    public OperationKind NextKind()
    {
        double chooser = _random.NextDouble();
        double[] weights = _weights;
        for (int i = 0; i < weights.Length; i++)
        {
            if (chooser < weights[i])
            {
                return _kinds[i];
            }
            chooser -= weights[i];
        }
        // Reached only through rounding of the normalised weights; YCSB-C returns its last value here too.
        return _kinds[^1];
    }

    /// <summary>
    /// Chooses a record number for a read, update or read-modify-write: drawn from the request distribution
    /// and drawn again while it is above the last inserted record, as YCSB's nextKeynum / NextTransactionKey do.
    /// </summary>
    public long NextTransactionKey()
    {
        long limit = _plan.InsertSequence.LastValue;
        for (int attempt = 0; attempt < MaxRedraws; attempt++)
        {
            long key = DrawKey();
            if (key <= limit)
            {
                return key;
            }
            limit = _plan.InsertSequence.LastValue;
        }
        ThrowHelper.InvalidOperation($"No transaction key at or below {limit} after {MaxRedraws} draws; the key space is inconsistent.");
        return 0;
    }

    /// <summary>Chooses the next operation and its record number.</summary>
    public YcsbOperation Next()
    {
        OperationKind kind = NextKind();
        if (kind == OperationKind.Insert && _acknowledged is not null)
        {
            return new YcsbOperation(kind, _acknowledged.Next());
        }
        return new YcsbOperation(kind, NextTransactionKey());
    }

    /// <summary>
    /// Reports that an insert returned by <see cref="Next"/> is done, so that readers may pick its key
    /// (official variant; a no-op for YCSB-C, whose inserts overwrite existing records).
    /// </summary>
    public void CompleteInsert(long keyNumber) => _acknowledged?.Acknowledge(keyNumber);

    private long DrawKey()
    {
        long value;
        if (_scrambled is not null)
        {
            value = _scrambled.Next(_random);
        }
        else if (_latest is not null)
        {
            value = _latest.Next(_random);
        }
        else
        {
            value = _uniform!.Next(_random);
        }
        // Java's CoreWorkload narrows the draw with intValue(); YCSB-C keeps the full 64-bit value.
        return _plan.Variant == YcsbVariant.Official ? (int)value : value;
    }
}
