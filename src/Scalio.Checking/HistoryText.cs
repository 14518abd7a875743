using System.Text;

namespace Scalio.Checking;

/// <summary>
/// Converts the store's keys and values (bytes) to the strings of a history and back.
/// Printable ASCII (0x20..0x7E) is kept as text; anything else, and any text that itself starts
/// with "0x", is written as "0x" followed by lowercase hex, so the mapping is one-to-one.
/// </summary>
public static class HistoryText
{
    /// <summary>The history string for <paramref name="bytes"/>.</summary>
    /// <param name="bytes">Key or value bytes.</param>
    /// <returns>The bytes as text when printable ASCII (and not starting with "0x"), else "0x" + lowercase hex.</returns>
    public static string FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (IsPlainText(bytes))
        {
            return Encoding.ASCII.GetString(bytes);
        }

        return "0x" + Convert.ToHexStringLower(bytes);
    }

    /// <summary>The bytes a history string stands for (the inverse of <see cref="FromBytes"/>).</summary>
    /// <param name="text">A key or value as written in a history.</param>
    /// <returns>The decoded hex when <paramref name="text"/> is "0x" + an even number of hex digits, else its UTF-8 bytes.</returns>
    public static byte[] ToBytes(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length >= 2 && text[0] == '0' && text[1] == 'x' && (text.Length & 1) == 0 && IsHex(text.AsSpan(2)))
        {
            return Convert.FromHexString(text.AsSpan(2));
        }

        return Encoding.UTF8.GetBytes(text);
    }

    private static bool IsPlainText(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length >= 2 && bytes[0] == (byte)'0' && bytes[1] == (byte)'x')
        {
            return false;
        }

        foreach (byte b in bytes)
        {
            if (b < 0x20 || b > 0x7E)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsHex(ReadOnlySpan<char> s)
    {
        foreach (char c in s)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
