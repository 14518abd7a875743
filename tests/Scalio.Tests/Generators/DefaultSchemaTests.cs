using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Scalio.Fast.Cache;
using Scalio.Fast.Schema;
using Scalio.Fast.Storage;

namespace Scalio.Tests.Generators;

/// <summary>The default 16 B / 64 B schema that Scalio.Fast generates for itself with Scalio.Generators.</summary>
public class DefaultSchemaTests
{
    [Fact]
    public void Generated_default_layout_equals_SlotLayout_Default()
    {
        SlotLayout expected = SlotLayout.Default;
        SlotLayout generated = DefaultSchema.Layout;
        Assert.Equal(expected.KeyCapacity, generated.KeyCapacity);
        Assert.Equal(expected.ValueCapacity, generated.ValueCapacity);
        Assert.Equal(expected.SlotsPerBucket, generated.SlotsPerBucket);
        Assert.Equal(expected.ValueOffset, generated.ValueOffset);
        Assert.Equal(expected.SlotSize, generated.SlotSize);
        Assert.Equal(expected.BucketSize, generated.BucketSize);

        Assert.Equal(DefaultSchema.KeyCapacity, expected.KeyCapacity);
        Assert.Equal(DefaultSchema.ValueCapacity, expected.ValueCapacity);
        Assert.Equal(DefaultSchema.SlotsPerBucket, expected.SlotsPerBucket);
        Assert.Equal(SlotLayout.HeaderOffset, DefaultSchema.HeaderOffset);
        Assert.Equal(SlotLayout.ChecksumOffset, DefaultSchema.ChecksumOffset);
        Assert.Equal(SlotLayout.StampOffset, DefaultSchema.StampOffset);
        Assert.Equal(SlotLayout.LengthsOffset, DefaultSchema.LengthsOffset);
        Assert.Equal(SlotLayout.KeyOffset, DefaultSchema.KeyOffset);
        Assert.Equal(DefaultSchema.ValueOffset, expected.ValueOffset);
        Assert.Equal(DefaultSchema.SlotSize, expected.SlotSize);
        Assert.Equal(DefaultSchema.BucketSize, expected.BucketSize);
        Assert.Equal(0, DefaultSchema.BucketSize % 64);
        Assert.Equal(DefaultSchema.RecordSize, BucketBlock.RecordSize(16, 64));
    }

    [Fact]
    public void Generated_slot_struct_sits_at_the_slot_offsets()
    {
        Assert.Equal(DefaultSchema.SlotSize, Unsafe.SizeOf<DefaultSchema.Slot>());
        Assert.Equal(DefaultSchema.BucketSize, Unsafe.SizeOf<DefaultSchema.Bucket>());
        DefaultSchema.Slot slot = default;
        ref byte start = ref Unsafe.As<DefaultSchema.Slot, byte>(ref slot);
        Assert.Equal(SlotLayout.HeaderOffset, Offset(ref start, ref Unsafe.As<ulong, byte>(ref slot.Header)));
        Assert.Equal(SlotLayout.ChecksumOffset, Offset(ref start, ref Unsafe.As<uint, byte>(ref slot.Checksum)));
        Assert.Equal(SlotLayout.StampOffset, Offset(ref start, ref Unsafe.As<uint, byte>(ref slot.Stamp)));
        Assert.Equal(SlotLayout.LengthsOffset, Offset(ref start, ref Unsafe.As<ushort, byte>(ref slot.KeyLength)));
        Assert.Equal(SlotLayout.LengthsOffset + 2, Offset(ref start, ref Unsafe.As<ushort, byte>(ref slot.ValueLength)));
        Assert.Equal(SlotLayout.KeyOffset, Offset(ref start, ref Unsafe.As<DefaultKey, byte>(ref slot.Key)));
        Assert.Equal(SlotLayout.Default.ValueOffset, Offset(ref start, ref Unsafe.As<DefaultValue, byte>(ref slot.Value)));

        DefaultSchema.Bucket bucket = default;
        ref byte b0 = ref Unsafe.As<DefaultSchema.Bucket, byte>(ref bucket);
        Assert.Equal(3 * DefaultSchema.SlotSize, Offset(ref b0, ref Unsafe.As<DefaultSchema.Slot, byte>(ref bucket.Slots[3])));
    }

    private static int Offset(ref byte start, ref byte field) => (int)Unsafe.ByteOffset(ref start, ref field);

    private static (DefaultKey Key, DefaultValue Value) Sample(int seed)
    {
        var random = new Random(seed);
        DefaultKey key = default;
        DefaultValue value = default;
        random.NextBytes(key);
        random.NextBytes(value);
        return (key, value);
    }

    [Fact]
    public void Hash_fingerprint_and_bucket_agree_with_KeyHash()
    {
        for (int i = 0; i < 50; i++)
        {
            var (key, _) = Sample(i);
            byte[] raw = ((ReadOnlySpan<byte>)key).ToArray();
            var expected = new KeyHash(raw);
            Assert.Equal(expected.Value, DefaultSchema.HashKey(in key));
            Assert.Equal(System.IO.Hashing.XxHash3.HashToUInt64(raw), DefaultSchema.HashKey(in key));
            Assert.Equal(expected.Fingerprint, DefaultSchema.Fingerprint(in key));
            Assert.Equal(expected.CacheBucket(1021), DefaultSchema.CacheBucket(in key, 1021));
            Assert.Equal(expected.Value, DefaultSchema.Hash(in key).Value);

            DefaultKey copy = key;
            Assert.True(DefaultSchema.KeyEquals(in key, in copy));
            Assert.True(DefaultSchema.KeyEquals(in key, raw));
            Assert.False(DefaultSchema.KeyEquals(in key, raw.AsSpan(0, 15)));
            copy[15] ^= 1;
            Assert.False(DefaultSchema.KeyEquals(in key, in copy));
        }
    }

    [Fact]
    public void Slot_codec_writes_the_same_bytes_as_SlotLayout_and_detects_torn_images()
    {
        SlotLayout layout = SlotLayout.Default;
        for (int i = 0; i < 20; i++)
        {
            var (key, value) = Sample(100 + i);
            uint version = (uint)(i * 7919 + 1), stamp = (uint)(i * 31);
            var expected = new byte[layout.SlotSize];
            layout.WriteBody(expected, key, value, version, stamp);

            DefaultSchema.Slot slot = default;
            DefaultSchema.WriteBody(ref slot, in key, in value, version, stamp);
            byte[] actual = MemoryMarshal.AsBytes(new ReadOnlySpan<DefaultSchema.Slot>(in slot)).ToArray();
            Assert.Equal(expected, actual);
            Assert.Equal(layout.ComputeChecksum(expected, version), DefaultSchema.ComputeChecksum(in slot, version));

            ulong header = SlotHeader.Make(SlotState.Valid, DefaultSchema.Fingerprint(in key), 0, version);
            Assert.True(DefaultSchema.TryReadValue(in slot, in key, header, out DefaultValue read, out bool torn));
            Assert.False(torn);
            Assert.True(DefaultSchema.ValueEquals(in read, in value));
            Assert.True(layout.Matches(actual, key, header, out _));

            // Another version (a later fill): the checksum no longer verifies.
            ulong later = SlotHeader.Make(SlotState.Valid, DefaultSchema.Fingerprint(in key), 0, version + 1);
            Assert.False(DefaultSchema.TryReadValue(in slot, in key, later, out read, out torn));
            Assert.True(torn);
            Assert.True(read[0] == 0 && read[63] == 0);

            // A torn value byte.
            DefaultSchema.Slot tornSlot = slot;
            tornSlot.Value[i] ^= 0x40;
            Assert.False(DefaultSchema.TryReadValue(in tornSlot, in key, header, out _, out torn));
            Assert.True(torn);

            // Another key: not ours, not torn.
            var (other, _) = Sample(9999 + i);
            Assert.False(DefaultSchema.TryReadValue(in slot, in other, header, out _, out torn));
            Assert.False(torn);

            // SlotAt reads slots out of a bucket image without copying.
            var bucket = new byte[layout.BucketSize];
            expected.CopyTo(bucket.AsSpan(5 * layout.SlotSize));
            Assert.True(DefaultSchema.KeyEquals(in key, DefaultSchema.KeyBytes(in DefaultSchema.SlotAt(bucket, 5).Key)));
            Assert.Equal(stamp, DefaultSchema.SlotAt(bucket, 5).Stamp);
        }
    }

    [Fact]
    public void Garbage_lengths_never_verify()
    {
        var (key, value) = Sample(7);
        DefaultSchema.Slot slot = default;
        DefaultSchema.WriteBody(ref slot, in key, in value, 5, 0);
        slot.ValueLength = 65;
        Assert.Equal(~0u ^ 5u, DefaultSchema.ComputeChecksum(in slot, 5));
        Assert.Equal(SlotLayout.Default.ComputeChecksum(MemoryMarshal.AsBytes(new ReadOnlySpan<DefaultSchema.Slot>(in slot)), 5), DefaultSchema.ComputeChecksum(in slot, 5));
    }

    [Fact]
    public void Record_codec_matches_the_bucket_block_format()
    {
        var (key, value) = Sample(42);
        var page = new byte[4096];
        Assert.True(BucketBlock.Rewrite(default, page, bucket: 3, sequence: 77, key, value, remove: false));
        var (key2, value2) = Sample(43);
        var page2 = new byte[4096];
        Assert.True(BucketBlock.Rewrite(page, page2, bucket: 3, sequence: 78, key2, value2, remove: false));

        // Records are packed after the block header, in the codec's format.
        ReadOnlySpan<byte> records = page2.AsSpan(BucketBlock.HeaderSize);
        Assert.True(DefaultSchema.TryReadRecord(records, out DefaultKey k1, out DefaultValue v1, out int used1));
        Assert.Equal(DefaultSchema.RecordSize, used1);
        Assert.True(DefaultSchema.KeyEquals(in k1, in key) && DefaultSchema.ValueEquals(in v1, in value));
        Assert.True(DefaultSchema.TryReadRecord(records[used1..], out DefaultKey k2, out DefaultValue v2, out _));
        Assert.True(DefaultSchema.KeyEquals(in k2, in key2) && DefaultSchema.ValueEquals(in v2, in value2));

        var encoded = new byte[DefaultSchema.RecordSize];
        Assert.Equal(DefaultSchema.RecordSize, DefaultSchema.WriteRecord(encoded, in key, in value));
        Assert.Equal(records[..DefaultSchema.RecordSize].ToArray(), encoded);
        Assert.Equal(BlockLookup.Found, BucketBlock.Find(page2, 3, 78, DefaultSchema.KeyBytes(in key2), out ReadOnlySpan<byte> found));
        Assert.Equal(DefaultSchema.ValueBytes(in value2).ToArray(), found.ToArray());

        Assert.False(DefaultSchema.TryReadRecord(encoded.AsSpan(0, DefaultSchema.RecordSize - 1), out _, out _, out _));
        encoded[0] = 15; // a 15-byte key is not a record of this schema
        Assert.False(DefaultSchema.TryReadRecord(encoded, out _, out _, out _));
        var error = Assert.Throws<ArgumentException>(() => DefaultSchema.WriteRecord(new byte[10], in key, in value));
        Assert.Contains("84 bytes", error.Message);
    }

    [Fact]
    public void DefaultKey_From_pads_with_zeros_and_rejects_long_input()
    {
        DefaultKey key = DefaultKey.From("user42"u8);
        Assert.Equal("user42\0\0\0\0\0\0\0\0\0\0"u8.ToArray(), DefaultSchema.KeyBytes(in key).ToArray());
        Assert.Throws<ArgumentException>(() => DefaultKey.From(new byte[17]));
    }
}
