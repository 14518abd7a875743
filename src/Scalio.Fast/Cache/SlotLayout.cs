using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Scalio.Fast.Cache;

// Offsets and size formula: SlotFormat.cs, compiled into the generator too, so generated schemas and run-time layouts agree.
/// <summary>
/// Byte layout of a cache slot and bucket for one key/value schema. A slot:
/// <code>
/// offset 0   header word (8)        changed only by CAS, see SlotHeader
/// offset 8   checksum (4)           XxHash3(lengths + padded key + value, seed = version), low 32 bits
/// offset 12  access stamp (4)       server-clock ms of the last hit; written back off the critical path
/// offset 16  key length (2), value length (2)
/// offset 20  key (KeyCapacity bytes), then value (ValueCapacity bytes), padded to 8
/// </code>
/// A bucket is <see cref="SlotsPerBucket"/> slots padded to a multiple of 64 bytes and is read with one RDMA READ.
/// </summary>
public sealed partial class SlotLayout
{
    /// <summary>The paper's default schema (16-byte keys, 64-byte values, 8 slots a bucket): the layout Scalio.Generators
    /// generates for <see cref="Schema.DefaultSchema"/>, as for any user schema.</summary>
    public static SlotLayout Default => Schema.DefaultSchema.Layout;

    /// <summary>Creates a layout for keys and values of up to the given sizes (the generated schemas call this too).</summary>
    public SlotLayout(int keyCapacity, int valueCapacity, int slotsPerBucket = 8)
    {
        if (keyCapacity < 1 || keyCapacity > MaxFieldSize) throw new ArgumentOutOfRangeException(nameof(keyCapacity), $"key capacity must be 1..{MaxFieldSize} bytes");
        if (valueCapacity < 1 || valueCapacity > MaxFieldSize) throw new ArgumentOutOfRangeException(nameof(valueCapacity), $"value capacity must be 1..{MaxFieldSize} bytes");
        if (slotsPerBucket < 1 || slotsPerBucket > MaxSlotsPerBucket) throw new ArgumentOutOfRangeException(nameof(slotsPerBucket), $"a bucket holds 1..{MaxSlotsPerBucket} slots");
        KeyCapacity = keyCapacity;
        ValueCapacity = valueCapacity;
        SlotsPerBucket = slotsPerBucket;
        ValueOffset = ValueOffsetFor(keyCapacity);
        SlotSize = SlotSizeFor(keyCapacity, valueCapacity);
        BucketSize = BucketSizeFor(SlotSize, slotsPerBucket);
    }

    /// <summary>Largest key in bytes.</summary>
    public int KeyCapacity { get; }
    /// <summary>Largest value in bytes.</summary>
    public int ValueCapacity { get; }
    /// <summary>Slots in a bucket.</summary>
    public int SlotsPerBucket { get; }
    /// <summary>Offset of the value bytes in a slot.</summary>
    public int ValueOffset { get; }
    /// <summary>Slot size in bytes (multiple of 8).</summary>
    public int SlotSize { get; }
    /// <summary>Bucket size in bytes (multiple of 64).</summary>
    public int BucketSize { get; }

    /// <summary>Throws a clear error when a key does not fit the schema (checked before any I/O).</summary>
    public void ValidateKey(ReadOnlySpan<byte> key)
    {
        if (key.Length == 0) ThrowHelper.Argument("key", "a key must not be empty");
        if (key.Length > KeyCapacity) ThrowHelper.Argument("key", $"key of {key.Length} bytes exceeds the schema's {KeyCapacity}-byte limit");
    }

    /// <summary>Throws a clear error when a value does not fit the schema (checked before any I/O).</summary>
    public void ValidateValue(ReadOnlySpan<byte> value)
    {
        if (value.Length > ValueCapacity) ThrowHelper.Argument("value", $"value of {value.Length} bytes exceeds the schema's {ValueCapacity}-byte limit");
    }

    /// <summary>Checksum of a slot's lengths, key and value, seeded with the version it is published under.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Checksum(ReadOnlySpan<byte> lengthsKeyValue, uint version)
        => (uint)XxHash3.HashToUInt64(lengthsKeyValue, version);

    /// <summary>Computes the checksum over a slot image for <paramref name="version"/>: one XxHash3 over the lengths,
    /// the whole (zero-padded) key field and the value, seeded with the version.</summary>
    public uint ComputeChecksum(ReadOnlySpan<byte> slot, uint version)
    {
        int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(slot[LengthsOffset..]);
        int valueLength = BinaryPrimitives.ReadUInt16LittleEndian(slot[(LengthsOffset + 2)..]);
        if (keyLength > KeyCapacity || valueLength > ValueCapacity) return ~0u ^ version; // garbage lengths never verify
        return (uint)XxHash3.HashToUInt64(slot[LengthsOffset..(ValueOffset + valueLength)], version);
    }

    /// <summary>Writes lengths, key (zero-padded to the key capacity), value and the checksum for
    /// <paramref name="version"/> into a slot image (the header is left alone; the stamp is set to <paramref name="stamp"/>).</summary>
    public void WriteBody(Span<byte> slot, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, uint version, uint stamp)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(slot[LengthsOffset..], (ushort)key.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(slot[(LengthsOffset + 2)..], (ushort)value.Length);
        key.CopyTo(slot[KeyOffset..]);
        slot[(KeyOffset + key.Length)..ValueOffset].Clear();
        value.CopyTo(slot[ValueOffset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(slot[StampOffset..], stamp);
        BinaryPrimitives.WriteUInt32LittleEndian(slot[ChecksumOffset..], ComputeChecksum(slot, version));
    }

    /// <summary>True when a slot image's access stamp is <paramref name="intervalMilliseconds"/> or more older than
    /// <paramref name="now"/> (the millisecond clock wraps): a hit then rewrites it.</summary>
    internal static bool StampIsStale(ReadOnlySpan<byte> slot, uint now, uint intervalMilliseconds)
        => now - BinaryPrimitives.ReadUInt32LittleEndian(slot[StampOffset..]) >= intervalMilliseconds;

    /// <summary>True when the slot image holds <paramref name="key"/> and its checksum verifies under the
    /// header's version. Used on VALID slots; a torn image fails.</summary>
    public bool Matches(ReadOnlySpan<byte> slot, ReadOnlySpan<byte> key, ulong header, out bool torn)
    {
        torn = false;
        int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(slot[LengthsOffset..]);
        if (keyLength != key.Length || !slot.Slice(KeyOffset, keyLength).SequenceEqual(key))
        {
            // Different key, unless the image is torn; a torn image with a different key is just "not ours".
            return false;
        }
        if (ValueLength(slot) > ValueCapacity)
        {
            torn = true; // our key with a garbage value length: torn, whatever its checksum says
            return false;
        }
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(slot[ChecksumOffset..]);
        if (stored != ComputeChecksum(slot, SlotHeader.Version(header)))
        {
            torn = true;
            return false;
        }
        return true;
    }

    /// <summary>
    /// <see cref="Matches(ReadOnlySpan{byte}, ReadOnlySpan{byte}, ulong, out bool)"/> without telling a torn image from
    /// another key, on a slot image of <see cref="SlotSize"/> bytes at <paramref name="slot"/>: the hit probe's form.
    /// </summary>
    internal unsafe bool HoldsVerified(byte* slot, ReadOnlySpan<byte> key, ulong header)
        => Matches(new ReadOnlySpan<byte>(slot, SlotSize), key, header, out _);

    /// <summary>Value length stored in a slot image.</summary>
    public static int ValueLength(ReadOnlySpan<byte> slot) => BinaryPrimitives.ReadUInt16LittleEndian(slot[(LengthsOffset + 2)..]);

    /// <summary>Header word of slot <paramref name="index"/> in a bucket image.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong HeaderAt(ReadOnlySpan<byte> bucket, int index)
        => MemoryMarshal.Read<ulong>(bucket.Slice(index * SlotSize, 8));

    /// <summary>Slot <paramref name="index"/> of a bucket image.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> SlotAt(ReadOnlySpan<byte> bucket, int index) => bucket.Slice(index * SlotSize, SlotSize);

    /// <summary>Describes the layout.</summary>
    public override string ToString() => $"key {KeyCapacity} B, value {ValueCapacity} B, slot {SlotSize} B, {SlotsPerBucket} slots, bucket {BucketSize} B";
}
