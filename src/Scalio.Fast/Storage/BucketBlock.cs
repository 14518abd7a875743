using System.Buffers.Binary;
using System.IO.Hashing;

namespace Scalio.Fast.Storage;

/// <summary>Outcome of looking a key up in a bucket block image.</summary>
internal enum BlockLookup : byte
{
    /// <summary>The key is in the block; its value was returned.</summary>
    Found,
    /// <summary>The block is the expected one and does not hold the key.</summary>
    NotFound,
    /// <summary>The block is intact but is not the expected bucket/sequence (recycled or rewritten): re-read the location and retry.</summary>
    Stale,
    /// <summary>The block fails its checksum or is malformed: never returned as data.</summary>
    Corrupt,
    /// <summary>The key is in the block as an indirect record: the returned bytes are a <see cref="ValuePointer"/> to its
    /// value-log record (a second read).</summary>
    Indirect,
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
/// A record larger than <see cref="InlineLimit"/> is stored <em>indirect</em>: bit 15 of its value length is set and
/// its value bytes are a <see cref="ValuePointer"/> (24 bytes) to a <see cref="ValueRecord"/> in the same device's log.
/// A block carries its bucket id and sequence, so a reader that raced with a rewrite (the page was freed and
/// reused) sees a mismatch and retries; the checksum catches torn or corrupt pages. A <em>quarantined</em> block
/// stands in for a bucket whose last block failed its checksum when the cleaner had to move it: it verifies (so the
/// log stays scannable) but every lookup in it reports <see cref="BlockLookup.Corrupt"/>, never data.
/// </summary>
internal static class BucketBlock
{
    /// <summary>Magic number at offset 0 ("SCB1" little-endian).</summary>
    public const uint Magic = 0x31424353;
    /// <summary>Size of the block header.</summary>
    public const int HeaderSize = 32;
    /// <summary>Size of a record's length prefix.</summary>
    public const int RecordHeaderSize = 4;

    /// <summary>Flag bit: the bucket's data was lost to corruption; lookups report <see cref="BlockLookup.Corrupt"/>.</summary>
    public const ushort QuarantinedFlag = 1;

    /// <summary>Bit of a record's value-length field marking an indirect record (value bytes = a <see cref="ValuePointer"/>).</summary>
    public const ushort IndirectFlag = 0x8000;

    /// <summary>Bytes a record of these sizes takes in a block when stored inline.</summary>
    public static int RecordSize(int keyLength, int valueLength) => RecordHeaderSize + keyLength + valueLength;

    /// <summary>
    /// The inline rule: a record whose <see cref="RecordSize"/> is at most this many bytes stays inline in its bucket
    /// block (one read per miss); a larger one goes to the value log and the block keeps its key and a pointer (two
    /// reads per miss). A quarter of the block's record area (1016 B for 4 KiB pages), so a block always has room for
    /// at least four records of the largest inline size.
    /// </summary>
    public static int InlineLimit(int pageSize) => (pageSize - HeaderSize) / 4;

    /// <summary>True when a record of these sizes stays inline in its bucket block.</summary>
    public static bool IsInline(int keyLength, int valueLength, int pageSize) => RecordSize(keyLength, valueLength) <= InlineLimit(pageSize);

    /// <summary>Bytes a record of these sizes takes in its bucket block (inline, or key plus pointer).</summary>
    public static int Footprint(int keyLength, int valueLength, int pageSize)
        => IsInline(keyLength, valueLength, pageSize) ? RecordSize(keyLength, valueLength) : RecordSize(keyLength, ValuePointer.Size);

    /// <summary>Largest block footprint of any record of a schema (keys up to <paramref name="keyCapacity"/>, values up to
    /// <paramref name="valueCapacity"/>).</summary>
    public static int MaxFootprint(int keyCapacity, int valueCapacity, int pageSize)
    {
        int record = RecordSize(keyCapacity, valueCapacity);
        int limit = InlineLimit(pageSize);
        return record <= limit ? record : Math.Max(limit, RecordSize(keyCapacity, ValuePointer.Size));
    }

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
            int vf = BinaryPrimitives.ReadUInt16LittleEndian(page[(pos + 2)..]);
            int vl = vf & ~IndirectFlag;
            int next = pos + RecordHeaderSize + kl + vl;
            if (next > used) return BlockLookup.Corrupt;
            if (kl == key.Length && page.Slice(pos + RecordHeaderSize, kl).SequenceEqual(key))
            {
                value = page.Slice(pos + RecordHeaderSize + kl, vl);
                if ((vf & IndirectFlag) == 0) return BlockLookup.Found;
                return vl == ValuePointer.Size ? BlockLookup.Indirect : BlockLookup.Corrupt;
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

    /// <summary>Finds the pointer of <paramref name="key"/> in a well-formed block image without verifying it (the
    /// server's own staged copy); false when the key is absent or stored inline.</summary>
    public static bool TryGetPointer(ReadOnlySpan<byte> block, ReadOnlySpan<byte> key, out ValuePointer pointer)
    {
        pointer = default;
        int count = CountOf(block);
        int used = (int)BinaryPrimitives.ReadUInt32LittleEndian(block[24..]);
        int pos = HeaderSize;
        for (int i = 0; i < count && pos + RecordHeaderSize <= used; i++)
        {
            int kl = BinaryPrimitives.ReadUInt16LittleEndian(block[pos..]);
            int vf = BinaryPrimitives.ReadUInt16LittleEndian(block[(pos + 2)..]);
            int vl = vf & ~IndirectFlag;
            if (kl == key.Length && block.Slice(pos + RecordHeaderSize, kl).SequenceEqual(key))
            {
                if ((vf & IndirectFlag) == 0 || vl != ValuePointer.Size) return false;
                pointer = ValuePointer.Read(block[(pos + RecordHeaderSize + kl)..]);
                return true;
            }
            pos += RecordHeaderSize + kl + vl;
        }
        return false;
    }

    /// <summary>Iterates the pointers of a well-formed block image: start with <paramref name="position"/> = 0; each
    /// call returns the next indirect record's pointer, false at the end.</summary>
    public static bool NextPointer(ReadOnlySpan<byte> block, ref int position, out ValuePointer pointer)
    {
        pointer = default;
        int used = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(block[24..]), (uint)block.Length);
        int pos = position == 0 ? HeaderSize : position;
        while (pos + RecordHeaderSize <= used)
        {
            int kl = BinaryPrimitives.ReadUInt16LittleEndian(block[pos..]);
            int vf = BinaryPrimitives.ReadUInt16LittleEndian(block[(pos + 2)..]);
            int vl = vf & ~IndirectFlag;
            int next = pos + RecordHeaderSize + kl + vl;
            if (next > used) break;
            if ((vf & IndirectFlag) != 0 && vl == ValuePointer.Size)
            {
                pointer = ValuePointer.Read(block[(pos + RecordHeaderSize + kl)..]);
                position = next;
                return true;
            }
            pos = next;
        }
        position = used;
        return false;
    }

    /// <summary>Points the indirect record that names the value record at <paramref name="oldPage"/> at
    /// <paramref name="moved"/> (the cleaner moved it, or lost it to corruption); false when no record names it. Only
    /// one live record starts at a page, so the page identifies it. The block's checksum is left stale: the batch
    /// writer reseals every staged block.</summary>
    public static bool TryRepoint(Span<byte> block, ulong oldPage, in ValuePointer moved)
    {
        int used = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(block[24..]), (uint)block.Length);
        int pos = HeaderSize;
        while (pos + RecordHeaderSize <= used)
        {
            int kl = BinaryPrimitives.ReadUInt16LittleEndian(block[pos..]);
            int vf = BinaryPrimitives.ReadUInt16LittleEndian(block[(pos + 2)..]);
            int vl = vf & ~IndirectFlag;
            int next = pos + RecordHeaderSize + kl + vl;
            if (next > used) return false;
            if ((vf & IndirectFlag) != 0 && vl == ValuePointer.Size)
            {
                var slot = block.Slice(pos + RecordHeaderSize + kl, ValuePointer.Size);
                var p = ValuePointer.Read(slot);
                if (p.Page == oldPage && !p.Lost)
                {
                    moved.Write(slot);
                    return true;
                }
            }
            pos = next;
        }
        return false;
    }

    /// <summary>
    /// Writes into <paramref name="target"/> the block <paramref name="source"/> (or an empty block when
    /// <paramref name="source"/> is empty) with <paramref name="key"/> set to <paramref name="value"/>, or removed
    /// when <paramref name="remove"/>. With <paramref name="indirect"/>, <paramref name="value"/> is an encoded
    /// <see cref="ValuePointer"/> and the record is written indirect. Returns false when the result would not fit the page.
    /// </summary>
    public static bool Rewrite(ReadOnlySpan<byte> source, Span<byte> target, uint bucket, ulong sequence, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool remove, bool indirect = false)
    {
        int pos = HeaderSize;
        int count = 0;
        if (!source.IsEmpty)
        {
            int n = BinaryPrimitives.ReadUInt16LittleEndian(source[12..]);
            uint used32 = BinaryPrimitives.ReadUInt32LittleEndian(source[24..]);
            if (used32 < HeaderSize || used32 > (uint)source.Length) throw new InvalidDataException($"bucket block {bucket} claims {used32} used bytes");
            int used = (int)used32;
            int p = HeaderSize;
            for (int i = 0; i < n; i++)
            {
                // A record count past the last record (fuzz corpus bucket-block/crash-*) must not read past the page.
                if (p + RecordHeaderSize > used) throw new InvalidDataException($"bucket block {bucket} is malformed at record {i}");
                int kl = BinaryPrimitives.ReadUInt16LittleEndian(source[p..]);
                int vl = BinaryPrimitives.ReadUInt16LittleEndian(source[(p + 2)..]) & ~IndirectFlag;
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
            BinaryPrimitives.WriteUInt16LittleEndian(target[(pos + 2)..], (ushort)(value.Length | (indirect ? IndirectFlag : 0)));
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
