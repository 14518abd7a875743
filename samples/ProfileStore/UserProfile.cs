using System.Runtime.CompilerServices;
using System.Text;
using Scalio.Fast.Schema;

namespace ProfileStore;

/// <summary>A display name: up to 32 bytes of UTF-8, zero-padded (a fixed-size inline array, no string in the slot).</summary>
[InlineArray(Capacity)]
public struct ProfileName
{
    /// <summary>Bytes a name holds.</summary>
    public const int Capacity = 32;

    private byte _element0;

    /// <summary>Encodes <paramref name="name"/> as UTF-8.</summary>
    /// <param name="name">The name; at most <see cref="Capacity"/> bytes of UTF-8.</param>
    /// <returns>The encoded name.</returns>
    /// <exception cref="ArgumentException">The name does not fit.</exception>
    public static ProfileName From(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (Encoding.UTF8.GetByteCount(name) > Capacity) throw new ArgumentException($"a name holds at most {Capacity} bytes of UTF-8", nameof(name));
        ProfileName result = default;
        Encoding.UTF8.GetBytes(name, result);
        return result;
    }

    /// <summary>Decodes the name.</summary>
    /// <returns>The name without its zero padding.</returns>
    public readonly override string ToString()
    {
        ReadOnlySpan<byte> bytes = this;
        int end = bytes.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
    }
}

/// <summary>A user profile: only fixed-size unmanaged fields, so it can live in a cache slot and an SSD record as is.</summary>
public unsafe struct UserProfile
{
    /// <summary>Display name (inline array, 32 bytes).</summary>
    public ProfileName Name;

    /// <summary>ISO 3166 alpha-2 country code (fixed buffer, 2 bytes).</summary>
    public fixed byte Country[2];

    /// <summary>Age in years.</summary>
    public short Age;

    /// <summary>Reputation score.</summary>
    public int Score;

    /// <summary>Account creation, Unix milliseconds.</summary>
    public long CreatedUnixMs;

    /// <summary>Last login, Unix milliseconds.</summary>
    public long LastLoginUnixMs;

    /// <summary>The country code as text.</summary>
    public readonly string CountryCode
    {
        get
        {
            fixed (byte* c = Country) return new string((sbyte*)c, 0, 2);
        }
    }

    /// <summary>Sets the country code.</summary>
    /// <param name="code">Two ASCII letters.</param>
    public void SetCountry(string code)
    {
        ArgumentNullException.ThrowIfNull(code);
        if (code.Length != 2 || !char.IsAsciiLetter(code[0]) || !char.IsAsciiLetter(code[1])) throw new ArgumentException("a country code is two ASCII letters", nameof(code));
        Country[0] = (byte)code[0];
        Country[1] = (byte)code[1];
    }
}

/// <summary>
/// The store's schema: a <see cref="Guid"/> key (16 bytes) and a <see cref="UserProfile"/> value (56 bytes).
/// Scalio.Generators adds the slot layout, key hashing, checksums, the record codec and a typed <c>Client</c>.
/// </summary>
[ScalioSchema(typeof(Guid), typeof(UserProfile), SlotsPerBucket = 8)]
public partial struct ProfileSchema;
