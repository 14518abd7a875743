using System.Collections.Concurrent;
using System.Buffers.Binary;
using Scalio.Ycsb;

namespace Scalio.Tests.Ycsb;

public class RunnerTests
{
    /// <summary>Test double: a dictionary store that counts one round trip per call and hits/misses per read.</summary>
    private sealed class DictionaryTarget : IYcsbTarget
    {
        public readonly ConcurrentDictionary<UInt128, byte[]> Data = new();
        public long RoundTrips;
        public long Hits;
        public long Misses;
        public long Writes;
        public bool CorruptReads;
        public bool Batching;
        public readonly ConcurrentQueue<int> BatchSizes = new();

        public string Name => "dictionary";

        public IYcsbSession OpenSession(int threadIndex) => Batching ? new BatchSession(this) : new Session(this);

        /// <summary>Reads a batch key by key; records its size.</summary>
        private sealed class BatchSession : Session, IYcsbBatchSession
        {
            private readonly ConcurrentQueue<int> _sizes;

            public BatchSession(DictionaryTarget target) : base(target) => _sizes = target.BatchSizes;

            public int MaxReadBatch => 6;

            public void ReadBatch(int count, ReadOnlySpan<byte> keys, int keySize, Span<byte> values, int valueSize, Span<bool> found, Span<bool> hits)
            {
                Assert.InRange(count, 1, MaxReadBatch);
                _sizes.Enqueue(count);
                for (int j = 0; j < count; j++)
                {
                    found[j] = Read(keys.Slice(j * keySize, keySize), values.Slice(j * valueSize, valueSize));
                    hits[j] = found[j];
                }
            }
        }

        public TargetCounters ReadCounters() => new(Interlocked.Read(ref RoundTrips), 0, 0, 0,
            Interlocked.Read(ref Writes), Interlocked.Read(ref Hits), Interlocked.Read(ref Misses), 0);

        private class Session(DictionaryTarget owner) : IYcsbSession
        {
            public bool Read(ReadOnlySpan<byte> key, Span<byte> value)
            {
                Interlocked.Increment(ref owner.RoundTrips);
                if (owner.Data.TryGetValue(BinaryPrimitives.ReadUInt128LittleEndian(key), out byte[]? v))
                {
                    Interlocked.Increment(ref owner.Hits);
                    v.CopyTo(value);
                    if (owner.CorruptReads)
                    {
                        value[0] ^= 0xFF;
                    }
                    return true;
                }
                Interlocked.Increment(ref owner.Misses);
                return false;
            }

            public void Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Put(key, value);

            public void Insert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Put(key, value);

            private void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
            {
                Interlocked.Increment(ref owner.RoundTrips);
                Interlocked.Increment(ref owner.Writes);
                owner.Data[BinaryPrimitives.ReadUInt128LittleEndian(key)] = value.ToArray();
            }

            public void Dispose()
            {
            }
        }
    }

    private sealed class ListProgress : IProgress<YcsbProgress>
    {
        public readonly ConcurrentQueue<YcsbProgress> Reports = new();

        public void Report(YcsbProgress value) => Reports.Enqueue(value);
    }

    [Fact]
    public void Workload_a_runs_with_expected_mix_and_counters()
    {
        var target = new DictionaryTarget();
        var progress = new ListProgress();
        var runner = new YcsbRunner(new YcsbOptions
        {
            Workload = YcsbWorkload.A, RecordCount = 5_000, OperationCount = 20_000, WarmupOperations = 1_000, Threads = 2,
        });
        YcsbResult r = runner.Run(target, progress);

        Assert.Equal(5_000, target.Data.Count);
        Assert.Equal(20_000, r.Operations);
        Assert.Equal(r.Operations, r.Reads + r.Updates);
        Assert.InRange((double)r.Reads / r.Operations, 0.47, 0.53);
        Assert.Equal(0, r.NotFound);
        Assert.Equal(0, r.ValueMismatches);
        Assert.Equal(20_000, r.Counters.RoundTrips); // warm-up and load excluded
        Assert.Equal(1.0, r.RoundTripsPerOp, 6);
        Assert.Equal(1.0, r.HitRatio, 6);
        Assert.Equal(r.Updates, r.Counters.SsdWrites);
        Assert.True(r.OpsPerSecond > 0);
        Assert.True(r.P50Micros > 0 && r.P50Micros <= r.P99Micros && r.P99Micros <= r.P999Micros);
        Assert.Contains(progress.Reports, p => p.Phase == YcsbPhase.Load && p.Done == 5_000 && p.Total == 5_000);
        Assert.Contains(progress.Reports, p => p.Phase == YcsbPhase.Run && p.Done == 20_000);
    }

    [Fact]
    public void Batched_reads_go_out_together_and_every_operation_is_counted_and_checked()
    {
        var target = new DictionaryTarget { Batching = true };
        var r = new YcsbRunner(new YcsbOptions
        {
            Workload = YcsbWorkload.B, RecordCount = 3_000, OperationCount = 12_000, WarmupOperations = 500, Threads = 2, ReadBatch = 16,
        }).Run(target);
        Assert.Equal(12_000, r.Operations);
        Assert.Equal(r.Operations, r.Reads + r.Updates);
        Assert.Equal(0, r.NotFound);
        Assert.Equal(0, r.ValueMismatches);
        var sizes = target.BatchSizes.ToArray();
        Assert.True(sizes.Max() == 6, "batches are capped by the session's MaxReadBatch");
        Assert.True(sizes.Average() > 3, $"mean batch {sizes.Average():F1}: consecutive reads of B (95 % reads) must batch");

        var corrupt = new DictionaryTarget { Batching = true };
        new YcsbRunner(new YcsbOptions { Workload = YcsbWorkload.C, RecordCount = 1_000, OperationCount = 0 }).Run(corrupt);
        corrupt.CorruptReads = true;
        var bad = new YcsbRunner(new YcsbOptions { Workload = YcsbWorkload.C, RecordCount = 1_000, OperationCount = 600, Load = false, ReadBatch = 4 }).Run(corrupt);
        Assert.Equal(600, bad.ValueMismatches);
    }

    [Fact]
    public void Workload_f_does_read_then_update()
    {
        var target = new DictionaryTarget();
        var r = new YcsbRunner(new YcsbOptions { Workload = YcsbWorkload.F, RecordCount = 2_000, OperationCount = 10_000 }).Run(target);
        Assert.Equal(10_000, r.Reads + r.ReadModifyWrites);
        Assert.InRange((double)r.ReadModifyWrites / r.Operations, 0.47, 0.53);
        Assert.Equal(r.Operations + r.ReadModifyWrites, r.Counters.RoundTrips);
        Assert.Equal(r.ReadModifyWrites, r.Counters.SsdWrites);
        Assert.Equal(0, r.ValueMismatches);
    }

    [Fact]
    public void Official_workload_d_inserts_new_records()
    {
        var target = new DictionaryTarget();
        var r = new YcsbRunner(new YcsbOptions
        {
            Workload = YcsbWorkload.D, Variant = YcsbVariant.Official, RecordCount = 2_000, OperationCount = 10_000, Threads = 2,
        }).Run(target);
        Assert.InRange(r.Inserts, 300, 700);
        Assert.Equal(2_000 + r.Inserts, target.Data.Count);
        Assert.Equal(0, r.NotFound); // readers only pick acknowledged inserts
        Assert.Equal(0, r.ValueMismatches);
    }

    [Fact]
    public void Wrong_values_are_detected()
    {
        var target = new DictionaryTarget();
        var runner = new YcsbRunner(new YcsbOptions { Workload = YcsbWorkload.C, RecordCount = 1_000, OperationCount = 2_000 });
        runner.Load(target);
        target.CorruptReads = true;
        var r = new YcsbRunner(runner.Options with { Load = false }).Run(target);
        Assert.Equal(2_000, r.ValueMismatches);
    }

    [Fact]
    public void Missing_records_count_as_not_found()
    {
        var target = new DictionaryTarget();
        var r = new YcsbRunner(new YcsbOptions { Workload = YcsbWorkload.C, RecordCount = 1_000, OperationCount = 1_000, Load = false }).Run(target);
        Assert.Equal(1_000, r.NotFound);
        Assert.Equal(0.0, r.HitRatio);
    }

    [Fact]
    public void Duration_limit_stops_the_run()
    {
        var target = new DictionaryTarget();
        var r = new YcsbRunner(new YcsbOptions
        {
            Workload = YcsbWorkload.B, RecordCount = 1_000, OperationCount = long.MaxValue / 4,
            Duration = TimeSpan.FromMilliseconds(100), Threads = 2,
        }).Run(target);
        Assert.True(r.Seconds < 5, $"ran {r.Seconds} s");
        Assert.True(r.Operations > 0);
    }

    [Fact]
    public void Session_errors_surface_to_the_caller()
    {
        var runner = new YcsbRunner(new YcsbOptions { RecordCount = 10, OperationCount = 10 });
        var ex = Assert.Throws<InvalidOperationException>(() => runner.Run(new FailingTarget()));
        Assert.Equal("boom", ex.Message);
    }

    [Fact]
    public void Bad_options_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new YcsbRunner(new YcsbOptions { Threads = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new YcsbRunner(new YcsbOptions { KeySize = 20 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new YcsbRunner(new YcsbOptions { RecordCount = 1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new YcsbRunner(new YcsbOptions { ValueSize = 0 }));
    }

    [Fact]
    public void Counter_difference_is_field_by_field()
    {
        var a = new TargetCounters(10, 20, 30, 40, 50, 60, 70, 80);
        var b = new TargetCounters(1, 2, 3, 4, 5, 6, 7, 8);
        Assert.Equal(new TargetCounters(9, 18, 27, 36, 45, 54, 63, 72), a - b);
    }

    private sealed class FailingTarget : IYcsbTarget
    {
        public string Name => "failing";

        public IYcsbSession OpenSession(int threadIndex) => new Session();

        public TargetCounters ReadCounters() => default;

        private sealed class Session : IYcsbSession
        {
            public bool Read(ReadOnlySpan<byte> key, Span<byte> value) => throw new InvalidOperationException("boom");

            public void Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => throw new InvalidOperationException("boom");

            public void Insert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => throw new InvalidOperationException("boom");

            public void Dispose()
            {
            }
        }
    }
}
