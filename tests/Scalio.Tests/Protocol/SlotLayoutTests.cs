using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Schema;
using Scalio.Fast.Server;

namespace Scalio.Tests.Protocol;

/// <summary>
/// Pins the slot format (SlotFormat.cs, compiled into both the runtime and the generator) to numbers worked out by
/// hand, and checks that the layout stores run on by default is the generated DefaultSchema's.
/// </summary>
public class SlotLayoutTests
{
    [Fact]
    public void Fixed_offsets_are_the_documented_slot_format()
    {
        // header u64 | checksum u32 | stamp u32 | key length u16, value length u16 | key | value, padded to 8.
        Assert.Equal(0, SlotLayout.HeaderOffset);
        Assert.Equal(8, SlotLayout.ChecksumOffset);
        Assert.Equal(12, SlotLayout.StampOffset);
        Assert.Equal(16, SlotLayout.LengthsOffset);
        Assert.Equal(20, SlotLayout.KeyOffset);
        Assert.Equal(16384, SlotLayout.MaxFieldSize);
        Assert.Equal(64, SlotLayout.MaxSlotsPerBucket);
        Assert.Equal(8, SlotLayout.SlotAlignment);
        Assert.Equal(64, SlotLayout.BucketAlignment);
    }

    [Theory]
    // key, value, slots -> value offset (20 + key), slot size (rounded up to 8), bucket size (rounded up to 64)
    [InlineData(16, 64, 8, 36, 104, 832)]
    [InlineData(8, 8, 8, 28, 40, 320)]
    [InlineData(24, 100, 4, 44, 144, 576)]
    [InlineData(33, 1000, 1, 53, 1056, 1088)]
    [InlineData(128, 512, 16, 148, 664, 10624)]
    [InlineData(256, 4096, 8, 276, 4376, 35008)]
    [InlineData(16, 2048, 8, 36, 2088, 16704)]
    public void Sizes_follow_the_format(int key, int value, int slots, int valueOffset, int slotSize, int bucketSize)
    {
        var layout = new SlotLayout(key, value, slots);
        Assert.Equal(valueOffset, layout.ValueOffset);
        Assert.Equal(slotSize, layout.SlotSize);
        Assert.Equal(bucketSize, layout.BucketSize);
        Assert.Equal(valueOffset, SlotLayout.ValueOffsetFor(key));
        Assert.Equal(slotSize, SlotLayout.SlotSizeFor(key, value));
        Assert.Equal(bucketSize, SlotLayout.BucketSizeFor(slotSize, slots));
    }

    [Fact]
    public void Default_is_the_generated_DefaultSchema_layout_and_what_a_store_runs_on()
    {
        Assert.Same(DefaultSchema.Layout, SlotLayout.Default);
        Assert.Equal((16, 64, 8), (SlotLayout.Default.KeyCapacity, SlotLayout.Default.ValueCapacity, SlotLayout.Default.SlotsPerBucket));
        Assert.Equal((36, 104, 832), (DefaultSchema.ValueOffset, DefaultSchema.SlotSize, DefaultSchema.BucketSize));
        Assert.Same(DefaultSchema.Layout, new ScalioServerOptions().Layout);
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 100 });
        Assert.Same(DefaultSchema.Layout, store.Layout);
        using var client = store.OpenClient();
        Assert.Same(DefaultSchema.Layout, client.Layout);
    }

    [Theory]
    [InlineData(0, 64, 8, "keyCapacity")]
    [InlineData(16385, 64, 8, "keyCapacity")]
    [InlineData(16, 0, 8, "valueCapacity")]
    [InlineData(16, 16385, 8, "valueCapacity")]
    [InlineData(16, 64, 0, "slotsPerBucket")]
    [InlineData(16, 64, 65, "slotsPerBucket")]
    public void Out_of_format_sizes_are_refused(int key, int value, int slots, string parameter)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new SlotLayout(key, value, slots));
        Assert.Equal(parameter, error.ParamName);
    }

    [Fact]
    public unsafe void A_slot_of_our_key_with_a_garbage_value_length_is_torn_for_both_checks_whatever_its_checksum()
    {
        var layout = SlotLayout.Default;
        var slot = new byte[layout.SlotSize];
        var key = "user000000000042"u8;
        var value = new byte[layout.ValueCapacity];
        const uint version = 7;
        layout.WriteBody(slot, key, value, version, stamp: 0);
        ulong header = SlotHeader.Make(SlotState.Valid, 0x1234, 0, version);
        Assert.True(layout.Matches(slot, key, header, out bool torn) && !torn);
        fixed (byte* p = slot) Assert.True(layout.HoldsVerified(p, key, header));

        // A value length past the schema's, and the one checksum a garbage-lengths image would otherwise "verify" with.
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(slot.AsSpan(SlotLayout.LengthsOffset + 2), (ushort)(layout.ValueCapacity + 1));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(slot.AsSpan(SlotLayout.ChecksumOffset), ~0u ^ version);
        Assert.False(layout.Matches(slot, key, header, out torn));
        Assert.True(torn);
        fixed (byte* p = slot) Assert.False(layout.HoldsVerified(p, key, header));
    }
}
