using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Scalio.Ycsb;

/// <summary>The hashes YCSB uses to turn record numbers into key names and to scramble Zipfian draws.</summary>
public static class YcsbHash
{
    /// <summary>FNV-1a 64-bit offset basis used by YCSB (0xCBF29CE484222325).</summary>
    public const ulong FnvOffsetBasis64 = 0xCBF29CE484222325UL;

    /// <summary>FNV 64-bit prime used by YCSB (1099511628211).</summary>
    public const ulong FnvPrime64 = 1099511628211UL;

    /// <summary>
    /// FNV-1a over the eight octets of <paramref name="value"/>, low octet first, without any sign handling:
    /// YCSB-C's <c>utils::FNVHash64</c> (basicthinker/YCSB-C core/utils.h, also used by the Scalio artifact).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Fnv64(ulong value)
    {
        ulong hash = FnvOffsetBasis64;
        for (int i = 0; i < 8; i++)
        {
            hash ^= value & 0xFF;
            value >>= 8;
            hash = unchecked(hash * FnvPrime64);
        }
        return hash;
    }

    /// <summary>
    /// YCSB Java's <c>Utils.fnvhash64(long)</c>: the same FNV-1a followed by <c>Math.abs</c>, which leaves
    /// <see cref="long.MinValue"/> negative.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long JavaFnvHash64(long value) => JavaAbs(unchecked((long)Fnv64(unchecked((ulong)value))));

    /// <summary>Java's <c>Math.abs(long)</c>: like <see cref="Math.Abs(long)"/> but returns <see cref="long.MinValue"/> unchanged instead of throwing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long JavaAbs(long value) => value < 0 ? unchecked(-value) : value;

    /// <summary>
    /// CityHash v1.1 <c>CityHash128</c> (google/cityhash src/city.cc) of <paramref name="data"/>, written as the
    /// in-memory bytes of the C++ <c>uint128</c> pair on a little-endian machine: low 64 bits, then high 64 bits,
    /// each little-endian. This is how the Scalio/LEED artifact turns a YCSB key string into its 16-byte key
    /// (ycsb/kv_ycsb.cpp: <c>CityHash128(key_str.c_str(), key_str.size())</c> then a 16-byte memcpy).
    /// Only inputs shorter than 144 bytes are supported (CityHash's CityMurmur path); YCSB key names are at most 24.
    /// </summary>
    public static void CityHash128(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        if (destination.Length < 16)
        {
            ThrowHelper.Argument(nameof(destination), "CityHash128 needs a 16-byte destination.");
        }
        if (data.Length >= 144)
        {
            ThrowHelper.Argument(nameof(data), "CityHash128 here supports inputs shorter than 144 bytes (YCSB key names are at most 24 bytes).");
        }
        ulong low, high;
        if (data.Length >= 16)
        {
            (low, high) = CityMurmur(data[16..], Fetch64(data) ^ K3, Fetch64(data[8..]));
        }
        else if (data.Length >= 8)
        {
            (low, high) = CityMurmur(ReadOnlySpan<byte>.Empty,
                Fetch64(data) ^ unchecked((ulong)data.Length * K0), Fetch64(data[(data.Length - 8)..]) ^ K1);
        }
        else
        {
            (low, high) = CityMurmur(data, K0, K1);
        }
        BinaryPrimitives.WriteUInt64LittleEndian(destination, low);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], high);
    }

    private const ulong K0 = 0xc3a5c85c97cb3127UL;
    private const ulong K1 = 0xb492b66fbe98f273UL;
    private const ulong K2 = 0x9ae16a3b2f90404fUL;
    private const ulong K3 = 0xc949d7c7509e6557UL;

    private static ulong Fetch64(ReadOnlySpan<byte> p) => BinaryPrimitives.ReadUInt64LittleEndian(p);

    private static uint Fetch32(ReadOnlySpan<byte> p) => BinaryPrimitives.ReadUInt32LittleEndian(p);

    private static ulong ShiftMix(ulong v) => v ^ (v >> 47);

    private static ulong HashLen16(ulong u, ulong v)
    {
        const ulong kMul = 0x9ddfea08eb382d69UL;
        unchecked
        {
            ulong a = (u ^ v) * kMul;
            a ^= a >> 47;
            ulong b = (v ^ a) * kMul;
            b ^= b >> 47;
            return b * kMul;
        }
    }

    private static ulong HashLen0To16(ReadOnlySpan<byte> s)
    {
        int len = s.Length;
        unchecked
        {
            if (len > 8)
            {
                ulong a = Fetch64(s);
                ulong b = Fetch64(s[(len - 8)..]);
                return HashLen16(a, BitOperations.RotateRight(b + (ulong)len, len)) ^ b;
            }
            if (len >= 4)
            {
                ulong a = Fetch32(s);
                return HashLen16((ulong)len + (a << 3), Fetch32(s[(len - 4)..]));
            }
            if (len > 0)
            {
                uint y = s[0] + ((uint)s[len >> 1] << 8);
                uint z = (uint)len + ((uint)s[len - 1] << 2);
                return ShiftMix((y * K2) ^ (z * K3)) * K2;
            }
            return K2;
        }
    }

    private static (ulong Low, ulong High) CityMurmur(ReadOnlySpan<byte> s, ulong a, ulong b)
    {
        int len = s.Length;
        ulong c, d;
        long l = len - 16;
        unchecked
        {
            if (l <= 0)
            {
                a = ShiftMix(a * K1) * K1;
                c = (b * K1) + HashLen0To16(s);
                d = ShiftMix(a + (len >= 8 ? Fetch64(s) : c));
            }
            else
            {
                c = HashLen16(Fetch64(s[(len - 8)..]) + K1, a);
                d = HashLen16(b + (ulong)len, c + Fetch64(s[(len - 16)..]));
                a += d;
                int offset = 0;
                do
                {
                    a ^= ShiftMix(Fetch64(s[offset..]) * K1) * K1;
                    a *= K1;
                    b ^= a;
                    c ^= ShiftMix(Fetch64(s[(offset + 8)..]) * K1) * K1;
                    c *= K1;
                    d ^= c;
                    offset += 16;
                    l -= 16;
                }
                while (l > 0);
            }
            a = HashLen16(a, c);
            b = HashLen16(d, b);
            return (a ^ b, HashLen16(b, a));
        }
    }
}

/// <summary>Throw helpers so hot methods stay small.</summary>
internal static class ThrowHelper
{
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Argument(string name, string message) => throw new ArgumentException(message, name);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void OutOfRange(string name, string message) => throw new ArgumentOutOfRangeException(name, message);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void InvalidOperation(string message) => throw new InvalidOperationException(message);
}
