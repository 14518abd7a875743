// The slot format, declared once: compiled into Scalio.Fast (public, part of SlotLayout) and, as a linked file, into
// Scalio.Generators (internal), which emits every schema's layout constants from it. Keep it free of references to
// either assembly and to APIs newer than netstandard2.0.
namespace Scalio.Fast.Cache;

// No access modifier here: SlotLayout.cs makes it public in Scalio.Fast; alone in the generator it stays internal.
partial class SlotLayout
{
    /// <summary>Offset of the header word in a slot.</summary>
    public const int HeaderOffset = 0;
    /// <summary>Offset of the checksum in a slot.</summary>
    public const int ChecksumOffset = 8;
    /// <summary>Offset of the access stamp in a slot.</summary>
    public const int StampOffset = 12;
    /// <summary>Offset of the key length (u16) in a slot; the value length (u16) follows.</summary>
    public const int LengthsOffset = 16;
    /// <summary>Offset of the key bytes in a slot.</summary>
    public const int KeyOffset = 20;
    /// <summary>Largest key or value the slot format can describe.</summary>
    public const int MaxFieldSize = 16 * 1024;
    /// <summary>Most slots a bucket can hold (a bucket's slots are one 64-bit mask in the victim pick).</summary>
    public const int MaxSlotsPerBucket = 64;
    /// <summary>A slot's size is a multiple of this (its header word stays 8-byte aligned for the fabric CAS).</summary>
    public const int SlotAlignment = 8;
    /// <summary>A bucket's size is a multiple of this (one cache line).</summary>
    public const int BucketAlignment = 64;

    /// <summary>Offset of the value bytes in a slot whose key field holds <paramref name="keyCapacity"/> bytes.</summary>
    /// <param name="keyCapacity">Key capacity in bytes.</param>
    /// <returns>The value offset.</returns>
    public static int ValueOffsetFor(int keyCapacity) => KeyOffset + keyCapacity;

    /// <summary>Size of a slot holding keys of <paramref name="keyCapacity"/> and values of <paramref name="valueCapacity"/> bytes.</summary>
    /// <param name="keyCapacity">Key capacity in bytes.</param>
    /// <param name="valueCapacity">Value capacity in bytes.</param>
    /// <returns>The slot size, a multiple of <see cref="SlotAlignment"/>.</returns>
    public static int SlotSizeFor(int keyCapacity, int valueCapacity)
        => (ValueOffsetFor(keyCapacity) + valueCapacity + SlotAlignment - 1) & ~(SlotAlignment - 1);

    /// <summary>Size of a bucket of <paramref name="slotsPerBucket"/> slots of <paramref name="slotSize"/> bytes.</summary>
    /// <param name="slotSize">Slot size in bytes.</param>
    /// <param name="slotsPerBucket">Slots in a bucket.</param>
    /// <returns>The bucket size, a multiple of <see cref="BucketAlignment"/>.</returns>
    public static int BucketSizeFor(int slotSize, int slotsPerBucket)
        => (slotSize * slotsPerBucket + BucketAlignment - 1) & ~(BucketAlignment - 1);
}
