using System.Buffers.Binary;
using System.IO.Hashing;

namespace Scalio.Fast.Storage;

/// <summary>Outcome of looking a key up in a bucket block image.</summary>
public enum BlockLookup : byte
{
    /// <summary>The key is in the block; its value was returned.</summary>
    Found,
    /// <summary>The block is the expected one and does not hold the key.</summary>
    NotFound,
    /// <summary>The block is intact but is not the expected bucket/sequence (recycled or rewritten): re-read the location and retry.</summary>
    Stale,
    /// <summary>The block fails its checksum or is malformed: never returned as data.</summary>
    Corrupt,
}

/// <summary>
/// On-SSD bucket block: one page holding every record of one SSD bucket inline.
/// <code>
/// 0   magic "SCB1" (u32)      4  checksum (u32): XxHash3 of bytes [8, used), low 32 bits
/// 8   bucket id (u32)         12 record count (u16), flags (u16): bit 0 = quarantined (see below)
/// 16  sequence (u64): unique per write, matches the location index entry
/// 24  used bytes (u32)        28 reserved (u32)
/// 32  records: key length (u16), value length (u16), key, value — packed
/// </code>
/// A block carries its bucket id and sequence, so a reader that raced with a rewrite (the page was freed and
/// reused) sees a mismatch and retries; the checksum catches torn or corrupt pages. A <em>quarantined</em> block
/// stands in for a bucket whose last block failed its checksum when the cleaner had to move it: it verifies (so the
/// log stays scannable) but every lookup in it reports <see cref="BlockLookup.Corrupt"/>, never data.
/// </summary>
public static class BucketBlock
{
    /// <summary>Magic number at offset 0 ("SCB1" little-endian).</summary>
    public const uint Magic = 0x31424353;
    /// <summary>Size of the block header.</summary>
    public const int HeaderSize = 32;
    /// <summary>Size of a record's length prefix.</summary>
    public const int RecordHeaderSize = 4;

    /// <summary>Flag bit: the bucket's data was lost to corruption; lookups report <see cref="BlockLookup.Corrupt"/>.</summary>
    public const ushort QuarantinedFlag = 1;

    /// <summary>Bytes a record of these sizes takes in a block.</summary>
    public static int RecordSize(int keyLength, int valueLength) => RecordHeaderSize + keyLength + valueLength;

    /// <summary>Sequence number stored in a block image (0 if it is not a block).</summary>
    public static ulong SequenceOf(ReadOnlySpan<byte> page) => page.Length >= HeaderSize ? BinaryPrimitives.ReadUInt64LittleEndian(page[16..]) : 0;

    /// <summary>Bucket id stored in a block image.</summary>
    public static uint BucketOf(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt32LittleEndian(page[8..]);

    /// <summary>Checks magic, bounds and checksum.</summary>
    public static bool Verify(ReadOnlySpan<byte> page)
    {
        if (page.Length < HeaderSize) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(page) != Magic) return false;
        uint used = BinaryPrimitives.ReadUInt32LittleEndian(page[24..]);
        if (used < HeaderSize || used > (uint)page.Length) return false;
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(page[4..]);
        return stored == (uint)XxHash3.HashToUInt64(page[8..(int)used]);
    }

    /// <summary>Finds <paramref name="key"/> in a block image that should be bucket <paramref name="bucket"/> at
    /// <paramref name="sequence"/>; on <see cref="BlockLookup.Found"/>, <paramref name="value"/> is the stored value.</summary>
    public static BlockLookup Find(ReadOnlySpan<byte> page, uint bucket, ulong sequence, ReadOnlySpan<byte> key, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (!Verify(page))
        {
            // An all-zero page is a page never written: stale, not corrupt (a reader raced with allocation).
            return page.Length >= HeaderSize && BinaryPrimitives.ReadUInt32LittleEndian(page) == 0 && BinaryPrimitives.ReadUInt64LittleEndian(page[16..]) == 0
                ? BlockLookup.Stale : BlockLookup.Corrupt;
        }
        if (BucketOf(page) != bucket || SequenceOf(page) != sequence) return BlockLookup.Stale;
        if ((BinaryPrimitives.ReadUInt16LittleEndian(page[14..]) & QuarantinedFlag) != 0) return BlockLookup.Corrupt;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(page[12..]);
        int used = (int)BinaryPrimitives.ReadUInt32LittleEndian(page[24..]);
        int pos = HeaderSize;
        for (int i = 0; i < count; i++)
        {
            if (pos + RecordHeaderSize > used) return BlockLookup.Corrupt;
            int kl = BinaryPrimitives.ReadUInt16LittleEndian(page[pos..]);
            int vl = BinaryPrimitives.ReadUInt16LittleEndian(page[(pos + 2)..]);
            int next = pos + RecordHeaderSize + kl + vl;
            if (next > used) return BlockLookup.Corrupt;
            if (kl == key.Length && page.Slice(pos + RecordHeaderSize, kl).SequenceEqual(key))
            {
                value = page.Slice(pos + RecordHeaderSize + kl, vl);
                return BlockLookup.Found;
            }
            pos = next;
        }
        return BlockLookup.NotFound;
    }

    /// <summary>True when a verified block is quarantined (its bucket's records were lost to corruption).</summary>
    public static bool IsQuarantined(ReadOnlySpan<byte> page) => (BinaryPrimitives.ReadUInt16LittleEndian(page[14..]) & QuarantinedFlag) != 0;

    /// <summary>Number of records in a block image.</summary>
    public static int CountOf(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt16LittleEndian(page[12..]);

    /// <summary>Gives a well-formed block image a new sequence number and recomputes its checksum (the cleaner moving
    /// a block, or the batch writer sealing a rewritten one).</summary>
    public static void Reseal(Span<byte> page, ulong sequence)
    {
        int used = (int)BinaryPrimitives.ReadUInt32LittleEndian(page[24..]);
        BinaryPrimitives.WriteUInt64LittleEndian(page[16..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(page[4..], (uint)XxHash3.HashToUInt64(page[8..used]));
    }

    /// <summary>Writes a quarantined block for <paramref name="bucket"/>: no records, every lookup reports corruption.</summary>
    public static void WriteQuarantine(Span<byte> page, uint bucket, ulong sequence)
    {
        page.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(page, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(page[8..], bucket);
        BinaryPrimitives.WriteUInt16LittleEndian(page[14..], QuarantinedFlag);
        BinaryPrimitives.WriteUInt32LittleEndian(page[24..], HeaderSize);
        Reseal(page, sequence);
    }

    /// <summary>
    /// Writes into <paramref name="target"/> the block <paramref name="source"/> (or an empty block when
    /// <paramref name="source"/> is empty) with <paramref name="key"/> set to <paramref name="value"/>, or removed
    /// when <paramref name="remove"/>. Returns false when the result would not fit the page.
    /// </summary>
    public static bool Rewrite(ReadOnlySpan<byte> source, Span<byte> target, uint bucket, ulong sequence, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool remove)
    {
        int pos = HeaderSize;
        int count = 0;
        if (!source.IsEmpty)
        {
            int n = BinaryPrimitives.ReadUInt16LittleEndian(source[12..]);
            int used = (int)BinaryPrimitives.ReadUInt32LittleEndian(source[24..]);
            int p = HeaderSize;
            for (int i = 0; i < n; i++)
            {
                int kl = BinaryPrimitives.ReadUInt16LittleEndian(source[p..]);
                int vl = BinaryPrimitives.ReadUInt16LittleEndian(source[(p + 2)..]);
                int size = RecordHeaderSize + kl + vl;
                if (p + size > used) throw new InvalidDataException($"bucket block {bucket} is malformed at record {i}");
                if (!(kl == key.Length && source.Slice(p + RecordHeaderSize, kl).SequenceEqual(key)))
                {
                    if (pos + size > target.Length) return false;
                    source.Slice(p, size).CopyTo(target[pos..]);
                    pos += size;
                    count++;
                }
                p += size;
            }
        }
        if (!remove)
        {
            int size = RecordSize(key.Length, value.Length);
            if (pos + size > target.Length) return false;
            BinaryPrimitives.WriteUInt16LittleEndian(target[pos..], (ushort)key.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(target[(pos + 2)..], (ushort)value.Length);
            key.CopyTo(target[(pos + RecordHeaderSize)..]);
            value.CopyTo(target[(pos + RecordHeaderSize + key.Length)..]);
            pos += size;
            count++;
        }
        if (count > ushort.MaxValue) return false;
        target[pos..].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(target, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(target[8..], bucket);
        BinaryPrimitives.WriteUInt16LittleEndian(target[12..], (ushort)count);
        BinaryPrimitives.WriteUInt16LittleEndian(target[14..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(target[16..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(target[24..], (uint)pos);
        BinaryPrimitives.WriteUInt32LittleEndian(target[28..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(target[4..], (uint)XxHash3.HashToUInt64(target[8..pos]));
        return true;
    }
}
