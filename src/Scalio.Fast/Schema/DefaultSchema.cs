using System.Runtime.CompilerServices;

namespace Scalio.Fast.Schema;

/// <summary>The default 16-byte key (the paper's YCSB key size): raw bytes, zero-padded when the name is shorter.</summary>
[InlineArray(Size)]
public struct DefaultKey
{
    /// <summary>Key size in bytes.</summary>
    public const int Size = 16;

    private byte _element0;

    /// <summary>A key holding <paramref name="bytes"/> followed by zeros.</summary>
    /// <param name="bytes">At most <see cref="Size"/> bytes.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentException"><paramref name="bytes"/> is longer than <see cref="Size"/>.</exception>
    public static DefaultKey From(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > Size) ThrowHelper.Argument(nameof(bytes), $"a default key holds at most {Size} bytes, got {bytes.Length}");
        DefaultKey key = default;
        bytes.CopyTo(key);
        return key;
    }
}

/// <summary>The default 64-byte value (the paper's YCSB value size).</summary>
[InlineArray(Size)]
public struct DefaultValue
{
    /// <summary>Value size in bytes.</summary>
    public const int Size = 64;

    private byte _element0;
}

/// <summary>
/// The paper's default schema, 16-byte keys and 64-byte values in buckets of 8 slots, produced by Scalio.Generators
/// like any user schema: layout constants, <c>Slot</c>/<c>Bucket</c> structs, key hashing, checksums, the on-SSD record
/// codec and a typed <c>Client</c> are generated. Its generated <c>Layout</c> is <see cref="Cache.SlotLayout.Default"/>, the
/// layout a store runs on unless it is given another.
/// </summary>
[ScalioSchema(typeof(DefaultKey), typeof(DefaultValue), SlotsPerBucket = 8)]
public partial struct DefaultSchema;
