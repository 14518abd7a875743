using System.IO.Hashing;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Scalio.Fast.Cache;

/// <summary>
/// Where a key goes: one 64-bit XxHash3 of the key gives the cache bucket (high bits, by multiply-shift), the
/// fingerprint (low 16 bits) and the SSD bucket (the hash rotated by 32, so it is independent of the cache bucket).
/// </summary>
public readonly struct KeyHash
{
    /// <summary>The 64-bit hash.</summary>
    public readonly ulong Value;

    /// <summary>Hashes a key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public KeyHash(ReadOnlySpan<byte> key) => Value = XxHash3.HashToUInt64(key);

    /// <summary>Fingerprint stored in slot headers.</summary>
    public ushort Fingerprint => (ushort)Value;

    /// <summary>Cache bucket among <paramref name="bucketCount"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int CacheBucket(int bucketCount) => (int)(((UInt128)Value * (ulong)bucketCount) >> 64);

    /// <summary>SSD bucket among <paramref name="bucketCount"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int SsdBucket(int bucketCount) => (int)(((UInt128)BitOperations.RotateLeft(Value, 32) * (ulong)bucketCount) >> 64);
}
