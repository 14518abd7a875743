using System.Buffers.Binary;

namespace Scalio.Ycsb;

/// <summary>One client thread's connection to the store under test. Used by one thread only.</summary>
public interface IYcsbSession : IDisposable
{
    /// <summary>Reads the value of <paramref name="key"/> into <paramref name="value"/>; false when the key is absent.</summary>
    bool Read(ReadOnlySpan<byte> key, Span<byte> value);

    /// <summary>Overwrites the value of <paramref name="key"/>.</summary>
    void Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

    /// <summary>Inserts <paramref name="key"/> with <paramref name="value"/>.</summary>
    void Insert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);
}

/// <summary>A session of a cached store that can tell, after a read, whether the cache served it; the runner then keeps
/// separate latency histograms for GET hits and GET misses.</summary>
public interface IYcsbCacheSession : IYcsbSession
{
    /// <summary>True when the last <see cref="IYcsbSession.Read"/> was served by the cache.</summary>
    bool LastReadWasHit { get; }
}

/// <summary>A session that can run several reads together (<see cref="YcsbOptions.ReadBatch"/>).</summary>
public interface IYcsbBatchSession : IYcsbSession
{
    /// <summary>Most reads one <see cref="ReadBatch"/> takes.</summary>
    int MaxReadBatch { get; }

    /// <summary>Reads <paramref name="count"/> keys (each <paramref name="keySize"/> bytes, back to back in
    /// <paramref name="keys"/>) together; value j goes to <paramref name="values"/> at j × <paramref name="valueSize"/>.
    /// <paramref name="found"/>[j] is false when key j is absent; <paramref name="hits"/>[j] tells whether the cache served it.</summary>
    void ReadBatch(int count, ReadOnlySpan<byte> keys, int keySize, Span<byte> values, int valueSize, Span<bool> found, Span<bool> hits);
}

/// <summary>A store the YCSB runner can drive: it opens sessions and exposes its cost counters.</summary>
public interface IYcsbTarget
{
    /// <summary>Name shown in results.</summary>
    string Name { get; }

    /// <summary>Opens the session used by client thread <paramref name="threadIndex"/>.</summary>
    IYcsbSession OpenSession(int threadIndex);

    /// <summary>Reads the target's cumulative counters (the runner takes the difference over the run phase).</summary>
    TargetCounters ReadCounters();
}

/// <summary>Cumulative cost counters of a target.</summary>
/// <param name="RoundTrips">Network round trips (requests sent and answered, one-sided reads included).</param>
/// <param name="ServerCpuNanos">CPU time spent by server cores, in nanoseconds.</param>
/// <param name="OffloadCpuNanos">CPU time spent by offload engines (NVMe-oF target offload, DPU), in nanoseconds.</param>
/// <param name="SsdReads">SSD read I/Os.</param>
/// <param name="SsdWrites">SSD write I/Os.</param>
/// <param name="CacheHits">Reads served from the DRAM cache.</param>
/// <param name="CacheMisses">Reads that had to go to an SSD.</param>
/// <param name="BytesMoved">Bytes moved over the network.</param>
public record struct TargetCounters(long RoundTrips, long ServerCpuNanos, long OffloadCpuNanos, long SsdReads,
    long SsdWrites, long CacheHits, long CacheMisses, long BytesMoved)
{
    /// <summary>Field-by-field difference <paramref name="after"/> - <paramref name="before"/>.</summary>
    public static TargetCounters operator -(TargetCounters after, TargetCounters before) => new(
        after.RoundTrips - before.RoundTrips,
        after.ServerCpuNanos - before.ServerCpuNanos,
        after.OffloadCpuNanos - before.OffloadCpuNanos,
        after.SsdReads - before.SsdReads,
        after.SsdWrites - before.SsdWrites,
        after.CacheHits - before.CacheHits,
        after.CacheMisses - before.CacheMisses,
        after.BytesMoved - before.BytesMoved);
}

/// <summary>
/// Deterministic record values: the value of a record depends only on (record number, seed), so any reader can
/// check what it read. Bytes come from a SplitMix64 stream seeded by the pair.
/// </summary>
public static class YcsbValues
{
    /// <summary>Fills <paramref name="value"/> with the value of record <paramref name="keyNumber"/> under <paramref name="seed"/>.</summary>
    public static void Fill(long keyNumber, long seed, Span<byte> value)
    {
        ulong state = unchecked((ulong)seed ^ ((ulong)keyNumber * 0xD6E8FEB86659FD93UL));
        int offset = 0;
        while (offset + 8 <= value.Length)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(value[offset..], NextSplitMix(ref state));
            offset += 8;
        }
        if (offset < value.Length)
        {
            ulong last = NextSplitMix(ref state);
            for (; offset < value.Length; offset++)
            {
                value[offset] = (byte)last;
                last >>= 8;
            }
        }
    }

    /// <summary>True when <paramref name="value"/> is the value of record <paramref name="keyNumber"/> under <paramref name="seed"/>.</summary>
    public static bool Verify(long keyNumber, long seed, ReadOnlySpan<byte> value, Span<byte> scratch)
    {
        Span<byte> expected = scratch[..value.Length];
        Fill(keyNumber, seed, expected);
        return value.SequenceEqual(expected);
    }

    private static ulong NextSplitMix(ref ulong state)
    {
        unchecked
        {
            ulong z = state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
