using System.Globalization;
using System.Text;

namespace Scalio.Ycsb;

/// <summary>
/// Turns YCSB record numbers into key names and key bytes, allocation-free.
/// </summary>
/// <remarks>
/// <para>Key names (both variants use the default <c>insertorder=hashed</c> and <c>zeropadding=1</c>):</para>
/// <list type="bullet">
/// <item><description>Official: <c>"user" + Long.toString(Utils.fnvhash64(keynum))</c> (signed FNV with Java's
/// <c>Math.abs</c>); record 0 is <c>user6284781860667377211</c>.</description></item>
/// <item><description>YCSB-C: <c>"user" + std::to_string(FNVHash64(keynum))</c> (unsigned FNV); record 0 is
/// <c>user12161962213042174405</c>.</description></item>
/// </list>
/// <para>Key bytes: the store's default key is 16 bytes, shorter than most names (up to 24 characters). The Scalio
/// artifact (LEED's ycsb/kv_ycsb.cpp) hashes the key name with CityHash128 and copies the 16-byte result;
/// <see cref="Encode"/> does exactly that for a 16-byte key, for both variants. CityHash128 is not provably
/// injective, but a collision among even 10^9 names has probability below 10^-20; the tests check a range of
/// record numbers for distinct keys. For a key of at least <see cref="MaxKeyNameLength"/> bytes the name itself
/// is used, padded with zero bytes. Other key sizes are refused.</para>
/// </remarks>
public static class KeyCodec
{
    /// <summary>Longest key name either variant produces ("user" plus 20 characters).</summary>
    public const int MaxKeyNameLength = 24;

    /// <summary>Key size for which the name is hashed with CityHash128, as the Scalio artifact does.</summary>
    public const int HashedKeySize = 16;

    private static ReadOnlySpan<byte> UserPrefix => "user"u8;

    /// <summary>Writes the ASCII key name of <paramref name="keyNumber"/> and returns its length.</summary>
    public static int FormatKeyName(YcsbVariant variant, long keyNumber, Span<byte> destination)
    {
        if (destination.Length < MaxKeyNameLength)
        {
            ThrowHelper.Argument(nameof(destination), $"A key name needs up to {MaxKeyNameLength} bytes.");
        }
        UserPrefix.CopyTo(destination);
        int written;
        bool ok = variant == YcsbVariant.Official
            ? YcsbHash.JavaFnvHash64(keyNumber).TryFormat(destination[4..], out written, default, CultureInfo.InvariantCulture)
            : YcsbHash.Fnv64(unchecked((ulong)keyNumber)).TryFormat(destination[4..], out written, default, CultureInfo.InvariantCulture);
        if (!ok)
        {
            ThrowHelper.InvalidOperation("Key name did not fit.");
        }
        return 4 + written;
    }

    /// <summary>The key name as a string (cold path: allocates).</summary>
    public static string KeyName(YcsbVariant variant, long keyNumber)
    {
        Span<byte> buffer = stackalloc byte[MaxKeyNameLength];
        int length = FormatKeyName(variant, keyNumber, buffer);
        return Encoding.ASCII.GetString(buffer[..length]);
    }

    /// <summary>
    /// Writes the store key of <paramref name="keyNumber"/> into <paramref name="key"/>: for a 16-byte key the
    /// CityHash128 of the name (artifact layout: low 64 bits then high 64 bits, little-endian); for a key of at
    /// least <see cref="MaxKeyNameLength"/> bytes the name followed by zero bytes.
    /// </summary>
    public static void Encode(YcsbVariant variant, long keyNumber, Span<byte> key)
    {
        if (key.Length == HashedKeySize)
        {
            Span<byte> name = stackalloc byte[MaxKeyNameLength];
            int length = FormatKeyName(variant, keyNumber, name);
            YcsbHash.CityHash128(name[..length], key);
        }
        else if (key.Length >= MaxKeyNameLength)
        {
            int length = FormatKeyName(variant, keyNumber, key);
            key[length..].Clear();
        }
        else
        {
            ThrowHelper.Argument(nameof(key), $"Key size {key.Length} is not supported: use {HashedKeySize} (CityHash128 of the name, as the Scalio artifact) or at least {MaxKeyNameLength} (the name, zero-padded).");
        }
    }

    /// <summary>Checks that <paramref name="keySize"/> is one <see cref="Encode"/> accepts.</summary>
    public static bool IsSupportedKeySize(int keySize) => keySize == HashedKeySize || keySize >= MaxKeyNameLength;
}
