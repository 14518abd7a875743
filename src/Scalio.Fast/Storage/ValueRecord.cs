using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;

namespace Scalio.Fast.Storage;

/// <summary>Outcome of checking a value-log record image against the pointer that named it.</summary>
internal enum ValueCheck : byte
{
    /// <summary>The record is the one the pointer names; the value was returned.</summary>
    Ok,
    /// <summary>The pages hold another record (moved or recycled by the cleaner): re-read the location and retry.</summary>
    Stale,
    /// <summary>The record fails its checksum or contradicts the pointer under the same sequence: never returned as data.</summary>
    Corrupt,
}

/// <summary>
/// The pointer an indirect record of a <see cref="BucketBlock"/> holds instead of its value (24 bytes):
/// <code>
/// 0   page (48 bits) | pages (8 bits) &lt;&lt; 48   device page of the value record (same device as the block);
///                                            pages 0: the record was lost to corruption (lookups report Corrupt)
/// 8   sequence (u64)                         the value record's sequence number
/// 16  value length (u32)
/// 20  record checksum (u32)                  the checksum stored in the value record's header
/// </code>
/// </summary>
/// <param name="Page">Device page of the record's first page.</param>
/// <param name="Pages">Pages the record spans (0: lost to corruption).</param>
/// <param name="Sequence">Sequence number of the record.</param>
/// <param name="ValueLength">Length of the value in bytes.</param>
/// <param name="Checksum">Checksum stored in the record's header.</param>
internal readonly record struct ValuePointer(ulong Page, int Pages, ulong Sequence, int ValueLength, uint Checksum)
{
    /// <summary>Bytes of a pointer in a bucket block.</summary>
    public const int Size = 24;

    /// <summary>True when the record was lost to corruption (the cleaner could not move it).</summary>
    public bool Lost => Pages == 0;

    /// <summary>Decodes a pointer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ValuePointer Read(ReadOnlySpan<byte> source)
    {
        ulong w0 = BinaryPrimitives.ReadUInt64LittleEndian(source);
        return new ValuePointer(w0 & 0xFFFF_FFFF_FFFFUL, (int)((w0 >> 48) & 0xFF), BinaryPrimitives.ReadUInt64LittleEndian(source[8..]),
            (int)BinaryPrimitives.ReadUInt32LittleEndian(source[16..]), BinaryPrimitives.ReadUInt32LittleEndian(source[20..]));
    }

    /// <summary>Encodes the pointer into <paramref name="target"/> (at least <see cref="Size"/> bytes).</summary>
    public void Write(Span<byte> target)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(target, (Page & 0xFFFF_FFFF_FFFFUL) | ((ulong)(byte)Pages << 48));
        BinaryPrimitives.WriteUInt64LittleEndian(target[8..], Sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(target[16..], (uint)ValueLength);
        BinaryPrimitives.WriteUInt32LittleEndian(target[20..], Checksum);
    }
}

/// <summary>
/// A value-log record: a record too large to stay inline in its bucket block, written page-aligned into the same
/// per-device log as the bucket blocks (see docs/storage-layout.md). It spans one or more whole pages:
/// <code>
/// 0   magic "SCV1" (u32)      4  checksum (u32): XxHash3 of bytes [8, 32 + key + value), low 32 bits
/// 8   bucket id (u32)         12 key length (u16), flags (u16): bit 0 = pad page (no record, fills the log's end)
/// 16  sequence (u64): unique per write, equals the pointer's
/// 24  value length (u32)      28 pages (u16), reserved (u16)
/// 32  key, value; the rest of the last page is zero
/// </code>
/// The bucket id and sequence sit at the same offsets as in a <see cref="BucketBlock"/>, so the log replay reads the
/// sequence of any page the same way. A reader verifies checksum, bucket id, sequence, pointer checksum, key and
/// length; a record the cleaner moved or whose pages were reused shows another sequence (or fails its checksum while
/// the location index has moved on) and the reader retries from the location index.
/// </summary>
internal static class ValueRecord
{
    /// <summary>Magic number at offset 0 ("SCV1" little-endian).</summary>
    public const uint Magic = 0x31564353;
    /// <summary>Size of the record header.</summary>
    public const int HeaderSize = 32;
    /// <summary>Flag bit: a pad page (written where a record would straddle the end of the log).</summary>
    public const ushort PadFlag = 1;
    /// <summary>Bucket id written into pad pages.</summary>
    public const uint PadBucket = uint.MaxValue;

    /// <summary>Pages a record of these sizes spans.</summary>
    public static int PagesFor(int keyLength, int valueLength, int pageSize) => (HeaderSize + keyLength + valueLength + pageSize - 1) / pageSize;

    /// <summary>
    /// Pages of the largest value-log record a schema can produce, or 0 when every record of the schema stays inline
    /// (its largest record fits <see cref="BucketBlock.InlineLimit"/>): the size of a client's read buffer is
    /// <c>max(1, this) x page size</c>.
    /// </summary>
    public static int MaxPages(int keyCapacity, int valueCapacity, int pageSize)
        => BucketBlock.RecordSize(keyCapacity, valueCapacity) <= BucketBlock.InlineLimit(pageSize) ? 0 : PagesFor(keyCapacity, valueCapacity, pageSize);

    /// <summary>Builds a record in <paramref name="target"/> (<c>pages x page size</c> bytes) and returns its checksum.</summary>
    public static uint Write(Span<byte> target, uint bucket, ulong sequence, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, int pages)
    {
        int used = HeaderSize + key.Length + value.Length;
        target.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(target, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(target[8..], bucket);
        BinaryPrimitives.WriteUInt16LittleEndian(target[12..], (ushort)key.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(target[16..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(target[24..], (uint)value.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(target[28..], (ushort)pages);
        key.CopyTo(target[HeaderSize..]);
        value.CopyTo(target[(HeaderSize + key.Length)..]);
        uint sum = (uint)XxHash3.HashToUInt64(target[8..used]);
        BinaryPrimitives.WriteUInt32LittleEndian(target[4..], sum);
        return sum;
    }

    /// <summary>Writes a pad page (one page, no record) with a sequence number, so the log replay passes over it.</summary>
    public static void WritePad(Span<byte> page, ulong sequence)
    {
        page.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(page, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(page[8..], PadBucket);
        BinaryPrimitives.WriteUInt16LittleEndian(page[14..], PadFlag);
        BinaryPrimitives.WriteUInt64LittleEndian(page[16..], sequence);
        BinaryPrimitives.WriteUInt16LittleEndian(page[28..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(page[4..], (uint)XxHash3.HashToUInt64(page[8..HeaderSize]));
    }

    /// <summary>Gives a record a new sequence number and recomputes its checksum (the cleaner moving it); returns the checksum.</summary>
    public static uint Reseal(Span<byte> record, ulong sequence)
    {
        int used = UsedBytes(record);
        BinaryPrimitives.WriteUInt64LittleEndian(record[16..], sequence);
        uint sum = (uint)XxHash3.HashToUInt64(record[8..used]);
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], sum);
        return sum;
    }

    private static int UsedBytes(ReadOnlySpan<byte> record)
        => HeaderSize + BinaryPrimitives.ReadUInt16LittleEndian(record[12..]) + (int)BinaryPrimitives.ReadUInt32LittleEndian(record[24..]);

    /// <summary>True when the image starts with the value-record magic (it may still fail <see cref="Verify"/>).</summary>
    public static bool HasMagic(ReadOnlySpan<byte> page) => page.Length >= HeaderSize && BinaryPrimitives.ReadUInt32LittleEndian(page) == Magic;

    /// <summary>Pages the record claims to span (from its header).</summary>
    public static int PagesOf(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt16LittleEndian(page[28..]);

    /// <summary>True for a pad page.</summary>
    public static bool IsPad(ReadOnlySpan<byte> page) => (BinaryPrimitives.ReadUInt16LittleEndian(page[14..]) & PadFlag) != 0;

    /// <summary>Checksum stored in a record's header.</summary>
    public static uint ChecksumOf(ReadOnlySpan<byte> record) => BinaryPrimitives.ReadUInt32LittleEndian(record[4..]);

    /// <summary>Checks magic, bounds (the record lies within <paramref name="record"/>) and checksum.</summary>
    public static bool Verify(ReadOnlySpan<byte> record)
    {
        if (!HasMagic(record)) return false;
        long used = HeaderSize + (long)BinaryPrimitives.ReadUInt16LittleEndian(record[12..]) + BinaryPrimitives.ReadUInt32LittleEndian(record[24..]);
        if (used > record.Length) return false;
        return BinaryPrimitives.ReadUInt32LittleEndian(record[4..]) == (uint)XxHash3.HashToUInt64(record[8..(int)used]);
    }

    /// <summary>
    /// Checks a record image read through <paramref name="pointer"/> of bucket <paramref name="bucket"/>'s block for
    /// <paramref name="key"/>; on <see cref="ValueCheck.Ok"/>, <paramref name="value"/> is the stored value.
    /// </summary>
    public static ValueCheck Check(ReadOnlySpan<byte> record, uint bucket, scoped in ValuePointer pointer, ReadOnlySpan<byte> key, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (!Verify(record))
        {
            // A page never written reads as zeros: stale (a reader raced with reuse), not corrupt.
            return record.Length >= HeaderSize && BinaryPrimitives.ReadUInt32LittleEndian(record) == 0 && BinaryPrimitives.ReadUInt64LittleEndian(record[16..]) == 0
                ? ValueCheck.Stale : ValueCheck.Corrupt;
        }
        if (IsPad(record) || BinaryPrimitives.ReadUInt32LittleEndian(record[8..]) != bucket || BinaryPrimitives.ReadUInt64LittleEndian(record[16..]) != pointer.Sequence)
            return ValueCheck.Stale;
        // Same bucket and sequence (unique per write): anything else that disagrees is damage, not a race.
        int kl = BinaryPrimitives.ReadUInt16LittleEndian(record[12..]);
        int vl = (int)BinaryPrimitives.ReadUInt32LittleEndian(record[24..]);
        if (ChecksumOf(record) != pointer.Checksum || vl != pointer.ValueLength || kl != key.Length || !record.Slice(HeaderSize, kl).SequenceEqual(key))
            return ValueCheck.Corrupt;
        value = record.Slice(HeaderSize + kl, vl);
        return ValueCheck.Ok;
    }
}
