using System.Text;
using Scalio.Nvme.Tcp;

namespace Scalio.Tests.NvmeTcp;

/// <summary>CRC32C, the NVMe/TCP digest (NVMe/TCP 1.0 §3.6.2.1 "Digests"; Castagnoli polynomial as in iSCSI, RFC 3720 §12.1 / Appendix B.4).</summary>
public sealed class Crc32CTests
{
    [Fact]
    public void Check_value_of_123456789_is_E3069283()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0xE3069283u, ~Crc32C.UpdateTable(0xFFFF_FFFFu, Encoding.ASCII.GetBytes("123456789")));
    }

    [Fact] // RFC 3720 Appendix B.4: 32 bytes of zeros -> aa 36 91 8a on the wire (little-endian 0x8A9136AA); 32 bytes of FFh -> 0x62A8AB43
    public void Rfc3720_test_vectors()
    {
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));
        byte[] ones = new byte[32];
        Array.Fill(ones, (byte)0xFF);
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(ones));
        byte[] ascending = new byte[32];
        for (int i = 0; i < 32; i++) ascending[i] = (byte)i;
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(ascending));
        var digest = new byte[4];
        Crc32C.WriteDigest(new byte[32], digest);
        Assert.Equal(new byte[] { 0xAA, 0x36, 0x91, 0x8A }, digest);
    }

    [Fact]
    public void Hardware_and_table_paths_agree_on_every_length_and_split()
    {
        var random = new Random(7);
        byte[] data = new byte[300];
        random.NextBytes(data);
        for (int n = 0; n <= data.Length; n++)
        {
            ReadOnlySpan<byte> s = data.AsSpan(0, n);
            uint table = ~Crc32C.UpdateTable(0xFFFF_FFFFu, s);
            Assert.Equal(table, Crc32C.Compute(s));
            int split = n / 3;
            Assert.Equal(table, ~Crc32C.Update(Crc32C.Update(0xFFFF_FFFFu, s[..split]), s[split..]));
        }

        Assert.NotEqual(System.IO.Hashing.Crc32.HashToUInt32(Encoding.ASCII.GetBytes("123456789")), Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
    }
}
