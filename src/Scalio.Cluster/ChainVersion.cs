using System.Buffers.Binary;

namespace Scalio.Cluster;

/// <summary>
/// The 8-byte header every stored value of a replicated map (R &gt; 1) starts with, little-endian: bit 63 marks a
/// deletion (a tombstone: the value is the header alone), bits 24..62 are a per-key counter, bits 0..23 the writer
/// (a session id unique among the cluster's live sessions). Versions are ordered by counter, then writer; a replica
/// applies a write only when its version is newer than every write of the key it took before
/// (docs/cluster.md, "Replicated writes").
/// </summary>
public static class ChainVersion
{
    /// <summary>Bytes of the header.</summary>
    public const int HeaderSize = 8;

    private const ulong TombstoneBit = 1UL << 63;
    private const int WriterBits = 24;

    /// <summary>Largest counter (39 bits).</summary>
    public const ulong MaxCounter = (1UL << 39) - 1;

    /// <summary>Largest writer id (24 bits).</summary>
    public const int MaxWriter = (1 << WriterBits) - 1;

    /// <summary>The version of counter <paramref name="counter"/> and writer <paramref name="writer"/> (no tombstone bit).</summary>
    public static ulong Make(ulong counter, int writer) => (counter << WriterBits) | (uint)(writer & MaxWriter);

    /// <summary>The counter of <paramref name="version"/>.</summary>
    public static ulong Counter(ulong version) => (version & ~TombstoneBit) >> WriterBits;

    /// <summary>Writes the header of <paramref name="version"/> (a tombstone when <paramref name="tombstone"/>).</summary>
    public static void Write(Span<byte> header, ulong version, bool tombstone)
        => BinaryPrimitives.WriteUInt64LittleEndian(header, (version & ~TombstoneBit) | (tombstone ? TombstoneBit : 0));

    /// <summary>Reads a stored value's header: false when it is shorter than a header (not written by a chain).</summary>
    public static bool TryRead(ReadOnlySpan<byte> stored, out ulong version, out bool tombstone)
    {
        if (stored.Length < HeaderSize)
        {
            version = 0;
            tombstone = false;
            return false;
        }
        ulong raw = BinaryPrimitives.ReadUInt64LittleEndian(stored);
        version = raw & ~TombstoneBit;
        tombstone = (raw & TombstoneBit) != 0;
        return true;
    }
}
