using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Scalio.Nvme.Tcp;

/// <summary>
/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF), the NVMe/TCP
/// header and data digest (NVMe/TCP 1.0 §3.6.2.1 / "Digests"). Not the same CRC as System.IO.Hashing.Crc32
/// (IEEE 802.3). Uses the SSE4.2 or Arm CRC32C instructions when present, else a slicing-by-8 table.
/// Check value: CRC32C("123456789") = 0xE3069283. On the wire the digest is this value, little-endian.
/// </summary>
public static class Crc32C
{
    private const uint Polynomial = 0x82F63B78u;
    private static readonly uint[] Table = BuildTable();

    /// <summary>CRC32C of <paramref name="data"/>.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The final (inverted) CRC.</returns>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(0xFFFF_FFFFu, data);

    /// <summary>Continues a running (non-inverted) CRC; start with 0xFFFFFFFF and invert the result at the end.</summary>
    /// <param name="crc">The running CRC.</param>
    /// <param name="data">More bytes.</param>
    /// <returns>The updated running CRC.</returns>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        if (Sse42.X64.IsSupported)
        {
            return UpdateSse42X64(crc, data);
        }

        if (Crc32.Arm64.IsSupported)
        {
            return UpdateArm64(crc, data);
        }

        return UpdateTable(crc, data);
    }

    /// <summary>Software CRC32C (slicing-by-8), used when no CRC instruction exists; public for tests.</summary>
    /// <param name="crc">The running CRC.</param>
    /// <param name="data">More bytes.</param>
    /// <returns>The updated running CRC.</returns>
    public static uint UpdateTable(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] t = Table;
        while (data.Length >= 8)
        {
            uint lo = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            uint hi = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(4));
            crc = t[(7 * 256) + (lo & 0xFF)] ^ t[(6 * 256) + ((lo >> 8) & 0xFF)] ^ t[(5 * 256) + ((lo >> 16) & 0xFF)] ^ t[(4 * 256) + (lo >> 24)]
                ^ t[(3 * 256) + (hi & 0xFF)] ^ t[(2 * 256) + ((hi >> 8) & 0xFF)] ^ t[256 + ((hi >> 16) & 0xFF)] ^ t[hi >> 24];
            data = data.Slice(8);
        }

        foreach (byte b in data)
        {
            crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    /// <summary>Writes the digest of <paramref name="data"/> little-endian into 4 bytes of <paramref name="destination"/>.</summary>
    /// <param name="data">The bytes covered.</param>
    /// <param name="destination">At least 4 bytes.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteDigest(ReadOnlySpan<byte> data, Span<byte> destination) =>
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Compute(data));

    private static uint UpdateSse42X64(uint crc, ReadOnlySpan<byte> data)
    {
        ulong c = crc;
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong w in words)
        {
            c = Sse42.X64.Crc32(c, w);
        }

        uint r = (uint)c;
        foreach (byte b in data.Slice(words.Length * 8))
        {
            r = Sse42.Crc32(r, b);
        }

        return r;
    }

    private static uint UpdateArm64(uint crc, ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong w in words)
        {
            crc = Crc32.Arm64.ComputeCrc32C(crc, w);
        }

        foreach (byte b in data.Slice(words.Length * 8))
        {
            crc = Crc32.ComputeCrc32C(crc, b);
        }

        return crc;
    }

    private static uint[] BuildTable()
    {
        var t = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            }

            t[i] = c;
        }

        for (int s = 1; s < 8; s++)
        {
            for (int i = 0; i < 256; i++)
            {
                uint prev = t[((s - 1) * 256) + i];
                t[(s * 256) + i] = (prev >> 8) ^ t[prev & 0xFF];
            }
        }

        return t;
    }
}
