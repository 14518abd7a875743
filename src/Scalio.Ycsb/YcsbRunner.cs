using System.Diagnostics;
using System.Runtime.ExceptionServices;
using HdrHistogram;

namespace Scalio.Ycsb;

/// <summary>Settings of one YCSB run.</summary>
public sealed record YcsbOptions
{
    /// <summary>Workload letter (default A).</summary>
    public YcsbWorkload Workload { get; init; } = YcsbWorkload.A;

    /// <summary>Key-choice variant (default YCSB-C, the one the Scalio paper ran).</summary>
    public YcsbVariant Variant { get; init; } = YcsbVariant.YcsbC;

    /// <summary>Records loaded before the run (default 100,000; the paper uses 20,000,000).</summary>
    public long RecordCount { get; init; } = 100_000;

    /// <summary>Measured operations over all threads (default 1,000,000). Also sizes YCSB's expected-new-keys.</summary>
    public long OperationCount { get; init; } = 1_000_000;

    /// <summary>Optional limit on the measured phase; threads stop at whichever comes first.</summary>
    public TimeSpan? Duration { get; init; }

    /// <summary>Unmeasured operations run before the measured phase, over all threads (default 0).</summary>
    public long WarmupOperations { get; init; }

    /// <summary>Client threads, each with its own session and random stream (default 1).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Seed of the random streams and of the record values (default 1).</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Value size in bytes (default 64).</summary>
    public int ValueSize { get; init; } = 64;

    /// <summary>Key size in bytes: 16 (CityHash128 of the name) or at least 24 (default 16).</summary>
    public int KeySize { get; init; } = KeyCodec.HashedKeySize;

    /// <summary>Zipfian constant (default 0.99; the official variant supports only 0.99).</summary>
    public double ZipfianConstant { get; init; } = ZipfianGenerator.DefaultConstant;

    /// <summary>Run the load phase first (default true); false when the target already holds the records.</summary>
    public bool Load { get; init; } = true;

    /// <summary>Check every value read against the deterministic value of its record (default true).</summary>
    public bool VerifyValues { get; init; } = true;

    /// <summary>Reads each thread keeps in flight together (default 1: one operation at a time). Consecutive reads are
    /// run as one batch of up to this many on sessions that batch (<see cref="IYcsbBatchSession"/>); a write ends the
    /// batch and runs alone. Each read of a batch is timed from the batch's start to its end.</summary>
    public int ReadBatch { get; init; } = 1;

    /// <summary>Throws <see cref="ArgumentException"/> with a clear message when a setting is out of range.</summary>
    public void Validate()
    {
        if (RecordCount < 2)
        {
            ThrowHelper.OutOfRange(nameof(RecordCount), $"Record count must be at least 2; got {RecordCount}.");
        }
        if (OperationCount < 0 || WarmupOperations < 0)
        {
            ThrowHelper.OutOfRange(nameof(OperationCount), "Operation and warm-up counts must not be negative.");
        }
        if (Duration is TimeSpan d && d <= TimeSpan.Zero)
        {
            ThrowHelper.OutOfRange(nameof(Duration), $"Duration must be positive; got {d}.");
        }
        if (Threads < 1 || Threads > 1024)
        {
            ThrowHelper.OutOfRange(nameof(Threads), $"Threads must be between 1 and 1024; got {Threads}.");
        }
        if (ReadBatch < 1 || ReadBatch > 256)
        {
            ThrowHelper.OutOfRange(nameof(ReadBatch), $"Read batch must be between 1 and 256; got {ReadBatch}.");
        }
        if (ValueSize < 1 || ValueSize > 1 << 20)
        {
            ThrowHelper.OutOfRange(nameof(ValueSize), $"Value size must be between 1 byte and 1 MiB; got {ValueSize}.");
        }
        if (!KeyCodec.IsSupportedKeySize(KeySize) || KeySize > 1024)
        {
            ThrowHelper.OutOfRange(nameof(KeySize), $"Key size must be {KeyCodec.HashedKeySize} or between {KeyCodec.MaxKeyNameLength} and 1024; got {KeySize}.");
        }
        if (!(ZipfianConstant > 0 && ZipfianConstant < 1))
        {
            ThrowHelper.OutOfRange(nameof(ZipfianConstant), $"Zipfian constant must be in (0, 1); got {ZipfianConstant}.");
        }
    }
}

/// <summary>Phase of a run, for progress reports.</summary>
public enum YcsbPhase
{
    /// <summary>Inserting the initial records.</summary>
    Load,

    /// <summary>Running the measured operations.</summary>
    Run,
}

/// <summary>A progress report.</summary>
/// <param name="Phase">Current phase.</param>
/// <param name="Done">Operations done in this phase.</param>
/// <param name="Total">Operations planned for this phase (the run may end earlier on its duration limit).</param>
/// <param name="Elapsed">Time since the phase started.</param>
public readonly record struct YcsbProgress(YcsbPhase Phase, long Done, long Total, TimeSpan Elapsed);

/// <summary>The outcome of a run phase.</summary>
public sealed record YcsbResult
{
    /// <summary>Target name.</summary>
    public required string Target { get; init; }

    /// <summary>Workload letter.</summary>
    public required YcsbWorkload Workload { get; init; }

    /// <summary>Key-choice variant.</summary>
    public required YcsbVariant Variant { get; init; }

    /// <summary>Client threads.</summary>
    public required int Threads { get; init; }

    /// <summary>Records loaded.</summary>
    public required long RecordCount { get; init; }

    /// <summary>Seconds spent loading (0 when the load phase was skipped).</summary>
    public required double LoadSeconds { get; init; }

    /// <summary>Measured operations (a read-modify-write counts once).</summary>
    public required long Operations { get; init; }

    /// <summary>Seconds of the measured phase.</summary>
    public required double Seconds { get; init; }

    /// <summary>Latency median, microseconds.</summary>
    public required double P50Micros { get; init; }

    /// <summary>Latency 99th percentile, microseconds.</summary>
    public required double P99Micros { get; init; }

    /// <summary>Latency 99.9th percentile, microseconds.</summary>
    public required double P999Micros { get; init; }

    /// <summary>Mean latency, microseconds.</summary>
    public required double MeanMicros { get; init; }

    /// <summary>Per operation type (GET hit, GET miss, PUT = update or insert): latency median and 99th percentile in
    /// microseconds, and counts. Hits and misses are told apart only for targets whose sessions say so
    /// (<see cref="IYcsbCacheSession"/>); NaN where no operation of the type ran.</summary>
    public OperationLatencies Latencies { get; init; } = OperationLatencies.None;

    /// <summary>Reads done (not counting the reads inside read-modify-writes).</summary>
    public required long Reads { get; init; }

    /// <summary>Updates done (not counting the updates inside read-modify-writes).</summary>
    public required long Updates { get; init; }

    /// <summary>Inserts done.</summary>
    public required long Inserts { get; init; }

    /// <summary>Read-modify-writes done.</summary>
    public required long ReadModifyWrites { get; init; }

    /// <summary>Reads (plain or in a read-modify-write) that found no record.</summary>
    public required long NotFound { get; init; }

    /// <summary>Reads whose value differed from the record's deterministic value (0 when verification is off).</summary>
    public required long ValueMismatches { get; init; }

    /// <summary>Target counters accumulated over the measured phase.</summary>
    public required TargetCounters Counters { get; init; }

    /// <summary>Throughput, operations per second.</summary>
    public double OpsPerSecond => Seconds > 0 ? Operations / Seconds : 0;

    /// <summary>Round trips per operation.</summary>
    public double RoundTripsPerOp => PerOp(Counters.RoundTrips);

    /// <summary>Server CPU microseconds per operation.</summary>
    public double ServerCpuMicrosPerOp => PerOp(Counters.ServerCpuNanos) / 1000.0;

    /// <summary>Offload CPU microseconds per operation.</summary>
    public double OffloadMicrosPerOp => PerOp(Counters.OffloadCpuNanos) / 1000.0;

    /// <summary>SSD reads per operation.</summary>
    public double SsdReadsPerOp => PerOp(Counters.SsdReads);

    /// <summary>SSD writes per operation.</summary>
    public double SsdWritesPerOp => PerOp(Counters.SsdWrites);

    /// <summary>Bytes moved per operation.</summary>
    public double BytesPerOp => PerOp(Counters.BytesMoved);

    /// <summary>Cache hit ratio hits / (hits + misses); NaN when the target counted neither.</summary>
    public double HitRatio => Counters.CacheHits + Counters.CacheMisses > 0
        ? (double)Counters.CacheHits / (Counters.CacheHits + Counters.CacheMisses)
        : double.NaN;

    private double PerOp(long total) => Operations > 0 ? (double)total / Operations : 0;
}

/// <summary>Latency of one operation type: count, median and 99th percentile (microseconds; NaN when none ran).</summary>
/// <param name="Count">Operations of the type.</param>
/// <param name="P50Micros">Median.</param>
/// <param name="P99Micros">99th percentile.</param>
public readonly record struct TypeLatency(long Count, double P50Micros, double P99Micros)
{
    /// <summary>No operation of the type.</summary>
    public static TypeLatency None { get; } = new(0, double.NaN, double.NaN);

    internal static TypeLatency Of(LongHistogram h) => h.TotalCount == 0 ? None
        : new(h.TotalCount, h.GetValueAtPercentile(50) / 1000.0, h.GetValueAtPercentile(99) / 1000.0);
}

/// <summary>Latency per operation type.</summary>
/// <param name="GetHit">Reads the cache served.</param>
/// <param name="GetMiss">Reads the cache did not serve.</param>
/// <param name="Get">All reads (plain reads; hit and miss together).</param>
/// <param name="Put">Updates and inserts.</param>
public readonly record struct OperationLatencies(TypeLatency GetHit, TypeLatency GetMiss, TypeLatency Get, TypeLatency Put)
{
    /// <summary>Nothing measured.</summary>
    public static OperationLatencies None { get; } = new(TypeLatency.None, TypeLatency.None, TypeLatency.None, TypeLatency.None);
}

/// <summary>
/// Store-agnostic YCSB driver: a multi-threaded load phase, then a measured run phase with per-thread
/// latency histograms (nanoseconds, merged at the end) and the target's counters over the run.
/// </summary>
public sealed class YcsbRunner
{
    private const long MaxLatencyNanos = 60_000_000_000L;
    private const int ProgressBatch = 1024;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(200);

    private readonly YcsbOptions _options;

    /// <summary>Creates a runner; the options are validated here.</summary>
    public YcsbRunner(YcsbOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
    }

    /// <summary>The options of this runner.</summary>
    public YcsbOptions Options => _options;

    /// <summary>Loads records 0..RecordCount-1 with their deterministic values; returns the time taken.</summary>
    public TimeSpan Load(IYcsbTarget target, IProgress<YcsbProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        using var shared = new SharedState(0, cancellationToken);
        var workers = new LoadWorker[_options.Threads];
        long records = _options.RecordCount;
        for (int i = 0; i < workers.Length; i++)
        {
            long first = records * i / workers.Length;
            long end = records * (i + 1) / workers.Length;
            workers[i] = new LoadWorker(_options, target, shared, i, first, end);
        }
        var stopwatch = Stopwatch.StartNew();
        RunThreads(workers, shared, YcsbPhase.Load, records, progress, stopwatch, "ycsb-load");
        stopwatch.Stop();
        return stopwatch.Elapsed;
    }

    /// <summary>Runs the load phase (unless <see cref="YcsbOptions.Load"/> is false) and the measured phase.</summary>
    public YcsbResult Run(IYcsbTarget target, IProgress<YcsbProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        double loadSeconds = _options.Load ? Load(target, progress, cancellationToken).TotalSeconds : 0;

        var plan = new YcsbWorkloadPlan(WorkloadSpec.For(_options.Workload), _options.Variant, _options.RecordCount,
            _options.OperationCount, _options.ZipfianConstant);
        int threads = _options.Threads;
        using var shared = new SharedState(threads, cancellationToken);
        var workers = new RunWorker[threads];
        for (int i = 0; i < threads; i++)
        {
            workers[i] = new RunWorker(_options, target, shared, plan, i,
                Share(_options.OperationCount, threads, i), Share(_options.WarmupOperations, threads, i));
        }

        var threadObjects = StartThreads(workers, "ycsb-run");
        TargetCounters before;
        long startTimestamp;
        try
        {
            shared.Ready.Wait(cancellationToken);
        }
        finally
        {
            before = target.ReadCounters();
            startTimestamp = Stopwatch.GetTimestamp();
            shared.Deadline = _options.Duration is TimeSpan limit
                ? startTimestamp + (long)(limit.TotalSeconds * Stopwatch.Frequency)
                : long.MaxValue;
            shared.StartGate.Set();
        }
        var stopwatch = Stopwatch.StartNew();
        WaitWithProgress(threadObjects, shared, YcsbPhase.Run, _options.OperationCount, progress, stopwatch);
        TargetCounters after = target.ReadCounters();
        ThrowFirstError(workers);

        long endTimestamp = startTimestamp;
        var histogram = new LongHistogram(1, MaxLatencyNanos, 3);
        var hitHistogram = new LongHistogram(1, MaxLatencyNanos, 3);
        var missHistogram = new LongHistogram(1, MaxLatencyNanos, 3);
        var getHistogram = new LongHistogram(1, MaxLatencyNanos, 3);
        var putHistogram = new LongHistogram(1, MaxLatencyNanos, 3);
        long reads = 0, updates = 0, inserts = 0, rmws = 0, notFound = 0, mismatches = 0;
        foreach (RunWorker w in workers)
        {
            histogram.Add(w.Histogram);
            hitHistogram.Add(w.HitHistogram);
            missHistogram.Add(w.MissHistogram);
            getHistogram.Add(w.GetHistogram);
            putHistogram.Add(w.PutHistogram);
            endTimestamp = Math.Max(endTimestamp, w.EndTimestamp);
            reads += w.Reads;
            updates += w.Updates;
            inserts += w.Inserts;
            rmws += w.ReadModifyWrites;
            notFound += w.NotFound;
            mismatches += w.Mismatches;
        }
        long operations = histogram.TotalCount;
        return new YcsbResult
        {
            Target = target.Name,
            Workload = _options.Workload,
            Variant = _options.Variant,
            Threads = threads,
            RecordCount = _options.RecordCount,
            LoadSeconds = loadSeconds,
            Operations = operations,
            Seconds = (double)(endTimestamp - startTimestamp) / Stopwatch.Frequency,
            P50Micros = operations > 0 ? histogram.GetValueAtPercentile(50) / 1000.0 : 0,
            P99Micros = operations > 0 ? histogram.GetValueAtPercentile(99) / 1000.0 : 0,
            P999Micros = operations > 0 ? histogram.GetValueAtPercentile(99.9) / 1000.0 : 0,
            MeanMicros = operations > 0 ? histogram.GetMean() / 1000.0 : 0,
            Reads = reads,
            Updates = updates,
            Inserts = inserts,
            ReadModifyWrites = rmws,
            NotFound = notFound,
            ValueMismatches = mismatches,
            Counters = after - before,
            Latencies = new OperationLatencies(TypeLatency.Of(hitHistogram), TypeLatency.Of(missHistogram),
                TypeLatency.Of(getHistogram), TypeLatency.Of(putHistogram)),
        };
    }

    private static long Share(long total, int parts, int index) => (total / parts) + (index < total % parts ? 1 : 0);

    private static void RunThreads(Worker[] workers, SharedState shared, YcsbPhase phase, long total,
        IProgress<YcsbProgress>? progress, Stopwatch stopwatch, string name)
    {
        var threads = StartThreads(workers, name);
        WaitWithProgress(threads, shared, phase, total, progress, stopwatch);
        ThrowFirstError(workers);
    }

    private static Thread[] StartThreads(Worker[] workers, string name)
    {
        var threads = new Thread[workers.Length];
        for (int i = 0; i < workers.Length; i++)
        {
            threads[i] = new Thread(workers[i].Execute) { IsBackground = true, Name = $"{name}-{i}" };
            threads[i].Start();
        }
        return threads;
    }

    private static void WaitWithProgress(Thread[] threads, SharedState shared, YcsbPhase phase, long total,
        IProgress<YcsbProgress>? progress, Stopwatch stopwatch)
    {
        foreach (Thread t in threads)
        {
            while (!t.Join(ProgressInterval))
            {
                progress?.Report(new YcsbProgress(phase, Interlocked.Read(ref shared.Done), total, stopwatch.Elapsed));
            }
        }
        progress?.Report(new YcsbProgress(phase, Interlocked.Read(ref shared.Done), total, stopwatch.Elapsed));
    }

    private static void ThrowFirstError(Worker[] workers)
    {
        foreach (Worker w in workers)
        {
            if (w.Error is not null)
            {
                ExceptionDispatchInfo.Capture(w.Error).Throw();
            }
        }
    }

    private sealed class SharedState(int threads, CancellationToken cancellationToken) : IDisposable
    {
        public long Done;
        public long Deadline = long.MaxValue;
        public readonly CountdownEvent Ready = new(threads);
        public readonly ManualResetEventSlim StartGate = new(false);
        public readonly CancellationToken Cancellation = cancellationToken;

        public void Dispose()
        {
            Ready.Dispose();
            StartGate.Dispose();
        }
    }

    private abstract class Worker(YcsbOptions options, IYcsbTarget target, SharedState shared, int index)
    {
        protected readonly YcsbOptions Options = options;
        protected readonly IYcsbTarget Target = target;
        protected readonly SharedState Shared = shared;
        protected readonly int Index = index;

        public Exception? Error { get; protected set; }

        public abstract void Execute();
    }

    private sealed class LoadWorker(YcsbOptions options, IYcsbTarget target, SharedState shared, int index, long first, long end)
        : Worker(options, target, shared, index)
    {
        public override void Execute()
        {
            try
            {
                using IYcsbSession session = Target.OpenSession(Index);
                Span<byte> key = stackalloc byte[Options.KeySize];
                byte[] value = new byte[Options.ValueSize];
                YcsbVariant variant = Options.Variant;
                long seed = Options.Seed;
                long pending = 0;
                for (long k = first; k < end; k++)
                {
                    KeyCodec.Encode(variant, k, key);
                    YcsbValues.Fill(k, seed, value);
                    session.Insert(key, value);
                    if (++pending == ProgressBatch)
                    {
                        Interlocked.Add(ref Shared.Done, pending);
                        pending = 0;
                        Shared.Cancellation.ThrowIfCancellationRequested();
                    }
                }
                Interlocked.Add(ref Shared.Done, pending);
            }
            catch (Exception e)
            {
                Error = e;
            }
        }
    }

    private sealed class RunWorker : Worker
    {
        private readonly YcsbOperationGenerator _generator;
        private readonly long _operations;
        private readonly long _warmup;

        public RunWorker(YcsbOptions options, IYcsbTarget target, SharedState shared, YcsbWorkloadPlan plan, int index,
            long operations, long warmup)
            : base(options, target, shared, index)
        {
            _generator = plan.CreateGenerator(YcsbRandom.ThreadSeed(options.Seed, index));
            _operations = operations;
            _warmup = warmup;
            Histogram = new LongHistogram(1, MaxLatencyNanos, 3);
            HitHistogram = new LongHistogram(1, MaxLatencyNanos, 3);
            MissHistogram = new LongHistogram(1, MaxLatencyNanos, 3);
            GetHistogram = new LongHistogram(1, MaxLatencyNanos, 3);
            PutHistogram = new LongHistogram(1, MaxLatencyNanos, 3);
        }

        public LongHistogram Histogram { get; }

        public LongHistogram HitHistogram { get; }

        public LongHistogram MissHistogram { get; }

        public LongHistogram GetHistogram { get; }

        public LongHistogram PutHistogram { get; }

        public long EndTimestamp { get; private set; }

        public long Reads { get; private set; }

        public long Updates { get; private set; }

        public long Inserts { get; private set; }

        public long ReadModifyWrites { get; private set; }

        public long NotFound { get; private set; }

        public long Mismatches { get; private set; }

        public override void Execute()
        {
            bool signalled = false;
            try
            {
                using IYcsbSession session = Target.OpenSession(Index);
                var cached = session as IYcsbCacheSession;
                Span<byte> key = stackalloc byte[Options.KeySize];
                byte[] value = new byte[Options.ValueSize];
                byte[] scratch = new byte[Options.ValueSize];

                for (long i = 0; i < _warmup; i++)
                {
                    DoOperation(session, _generator.Next(), key, value, scratch, counted: false);
                }
                signalled = true;
                Shared.Ready.Signal();
                Shared.StartGate.Wait(Shared.Cancellation);

                long deadline = Shared.Deadline;
                long pending = 0;
                long now = Stopwatch.GetTimestamp();
                var batched = Options.ReadBatch > 1 ? session as IYcsbBatchSession : null;
                if (batched is not null)
                {
                    now = RunBatched(batched, session, key, value, scratch, deadline);
                }
                for (long i = 0; batched is null && i < _operations; i++)
                {
                    long start = Stopwatch.GetTimestamp();
                    OperationKind kind = DoOperation(session, _generator.Next(), key, value, scratch, counted: true);
                    now = Stopwatch.GetTimestamp();
                    Record(kind, start, now, cached?.LastReadWasHit);
                    if (now >= deadline)
                    {
                        break;
                    }
                    if (++pending == ProgressBatch)
                    {
                        Interlocked.Add(ref Shared.Done, pending);
                        pending = 0;
                        Shared.Cancellation.ThrowIfCancellationRequested();
                    }
                }
                Interlocked.Add(ref Shared.Done, pending);
                EndTimestamp = now;
            }
            catch (Exception e)
            {
                Error = e;
                EndTimestamp = Stopwatch.GetTimestamp();
                if (!signalled)
                {
                    Shared.Ready.Signal();
                }
            }
        }

        private void Record(OperationKind kind, long start, long end, bool? hit)
        {
            long nanos = Math.Clamp((long)((end - start) * (1_000_000_000.0 / Stopwatch.Frequency)), 1, MaxLatencyNanos);
            Histogram.RecordValue(nanos);
            if (kind == OperationKind.Read)
            {
                GetHistogram.RecordValue(nanos);
                if (hit is bool h)
                {
                    (h ? HitHistogram : MissHistogram).RecordValue(nanos);
                }
            }
            else if (kind is OperationKind.Update or OperationKind.Insert)
            {
                PutHistogram.RecordValue(nanos);
            }
        }

        /// <summary>The measured phase with reads batched: up to <see cref="YcsbOptions.ReadBatch"/> consecutive reads go
        /// out together; an operation that is not a read runs alone after the batch before it. Returns the end time.</summary>
        private long RunBatched(IYcsbBatchSession batched, IYcsbSession session, Span<byte> key, byte[] value, byte[] scratch, long deadline)
        {
            int width = Math.Min(Options.ReadBatch, batched.MaxReadBatch);
            int keySize = Options.KeySize;
            byte[] keys = new byte[width * keySize];
            byte[] values = new byte[width * Options.ValueSize];
            var numbers = new long[width];
            var found = new bool[width];
            var hits = new bool[width];
            long pending = 0, now = Stopwatch.GetTimestamp();
            long i = 0;
            while (i < _operations && now < deadline)
            {
                int n = 0;
                YcsbOperation other = default;
                bool hasOther = false;
                while (n < width && i + n < _operations)
                {
                    YcsbOperation op = _generator.Next();
                    if (op.Kind != OperationKind.Read)
                    {
                        other = op;
                        hasOther = true;
                        break;
                    }
                    KeyCodec.Encode(Options.Variant, op.KeyNumber, keys.AsSpan(n * keySize, keySize));
                    numbers[n++] = op.KeyNumber;
                }
                if (n > 0)
                {
                    long start = Stopwatch.GetTimestamp();
                    batched.ReadBatch(n, keys, keySize, values, Options.ValueSize, found, hits);
                    now = Stopwatch.GetTimestamp();
                    for (int j = 0; j < n; j++)
                    {
                        Record(OperationKind.Read, start, now, hits[j]);
                        Reads++;
                        if (!found[j])
                        {
                            NotFound++;
                        }
                        else if (Options.VerifyValues && !YcsbValues.Verify(numbers[j], Options.Seed, values.AsSpan(j * Options.ValueSize, Options.ValueSize), scratch))
                        {
                            Mismatches++;
                        }
                    }
                    i += n;
                    pending += n;
                }
                if (hasOther && i < _operations && now < deadline)
                {
                    long start = Stopwatch.GetTimestamp();
                    OperationKind kind = DoOperation(session, other, key, value, scratch, counted: true);
                    now = Stopwatch.GetTimestamp();
                    Record(kind, start, now, (session as IYcsbCacheSession)?.LastReadWasHit);
                    i++;
                    pending++;
                }
                if (pending >= ProgressBatch)
                {
                    Interlocked.Add(ref Shared.Done, pending);
                    pending = 0;
                    Shared.Cancellation.ThrowIfCancellationRequested();
                }
            }
            Interlocked.Add(ref Shared.Done, pending);
            return now;
        }

        private OperationKind DoOperation(IYcsbSession session, YcsbOperation op, Span<byte> key, byte[] value, byte[] scratch, bool counted)
        {
            KeyCodec.Encode(Options.Variant, op.KeyNumber, key);
            switch (op.Kind)
            {
                case OperationKind.Read:
                    ReadAndCheck(session, key, op.KeyNumber, value, scratch, counted);
                    if (counted)
                    {
                        Reads++;
                    }
                    break;
                case OperationKind.Update:
                    YcsbValues.Fill(op.KeyNumber, Options.Seed, value);
                    session.Update(key, value);
                    if (counted)
                    {
                        Updates++;
                    }
                    break;
                case OperationKind.Insert:
                    YcsbValues.Fill(op.KeyNumber, Options.Seed, value);
                    try
                    {
                        session.Insert(key, value);
                    }
                    finally
                    {
                        _generator.CompleteInsert(op.KeyNumber);
                    }
                    if (counted)
                    {
                        Inserts++;
                    }
                    break;
                default:
                    ReadAndCheck(session, key, op.KeyNumber, value, scratch, counted);
                    YcsbValues.Fill(op.KeyNumber, Options.Seed, value);
                    session.Update(key, value);
                    if (counted)
                    {
                        ReadModifyWrites++;
                    }
                    break;
            }
            return op.Kind;
        }

        private void ReadAndCheck(IYcsbSession session, Span<byte> key, long keyNumber, byte[] value, byte[] scratch, bool counted)
        {
            bool found = session.Read(key, value);
            if (!counted)
            {
                return;
            }
            if (!found)
            {
                NotFound++;
            }
            else if (Options.VerifyValues && !YcsbValues.Verify(keyNumber, Options.Seed, value, scratch))
            {
                Mismatches++;
            }
        }
    }
}
