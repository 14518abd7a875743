using System.Runtime.CompilerServices;

namespace Scalio.Fast.Storage;

/// <summary>
/// A location index entry as clients read it one-sided: 16 bytes per SSD bucket.
/// <code>
/// word 0: device (8 bits) | pages (8 bits) &lt;&lt; 8 | page number (48 bits) &lt;&lt; 16   (0: bucket has no block yet)
/// word 1: sequence of the block written there
/// </code>
/// The server writes word 1 then word 0; a reader may see a torn pair, which the block's own bucket id and
/// sequence reject (the reader then re-reads the entry).
/// </summary>
internal readonly record struct Location(int Device, int Pages, ulong Page, ulong Sequence)
{
    /// <summary>Bytes per entry.</summary>
    public const int EntrySize = 16;

    /// <summary>True when the bucket has a block.</summary>
    public bool Exists => Pages != 0;

    /// <summary>Encodes word 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Word0() => (ulong)(byte)Device | ((ulong)(byte)Pages << 8) | (Page << 16);

    /// <summary>Decodes an entry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Location Decode(ulong word0, ulong word1)
        => new((int)(word0 & 0xFF), (int)((word0 >> 8) & 0xFF), word0 >> 16, word1);
}
