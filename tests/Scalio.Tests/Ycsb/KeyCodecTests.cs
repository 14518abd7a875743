using Scalio.Ycsb;

namespace Scalio.Tests.Ycsb;

public class KeyCodecTests
{
    // "user6284781860667377211" is the widely published first key of an official YCSB load (insertorder=hashed).
    [Fact]
    public void Official_record_zero_is_the_published_key()
    {
        Assert.Equal("user6284781860667377211", KeyCodec.KeyName(YcsbVariant.Official, 0));
        Assert.Equal("user8517097267634966620", KeyCodec.KeyName(YcsbVariant.Official, 1));
    }

    // YCSB-C: "user" + std::to_string(FNVHash64(n)) with the unsigned FNV (independent Python values).
    [Fact]
    public void YcsbC_names_use_unsigned_fnv()
    {
        Assert.Equal("user12161962213042174405", KeyCodec.KeyName(YcsbVariant.YcsbC, 0));
        Assert.Equal("user9929646806074584996", KeyCodec.KeyName(YcsbVariant.YcsbC, 1));
        Assert.Equal("user2744965632448235251", KeyCodec.KeyName(YcsbVariant.YcsbC, 999999));
    }

    // 16-byte key = CityHash128 of the name, as the Scalio artifact's kv_ycsb.cpp does; expected bytes from the
    // compiled CityHash v1.1 reference (see HashAndRandomTests).
    [Fact]
    public void Sixteen_byte_key_is_cityhash_of_name()
    {
        Span<byte> key = stackalloc byte[16];
        KeyCodec.Encode(YcsbVariant.Official, 0, key);
        Assert.Equal("29d8a335c4e0394523e9e54e7af261cc", Convert.ToHexStringLower(key));
        KeyCodec.Encode(YcsbVariant.YcsbC, 0, key);
        Assert.Equal("1b447b59c6b91624d53f3cab1439ce36", Convert.ToHexStringLower(key));
    }

    [Fact]
    public void Wide_key_is_zero_padded_name()
    {
        byte[] key = new byte[32];
        Array.Fill(key, (byte)0xFF);
        KeyCodec.Encode(YcsbVariant.Official, 0, key);
        Assert.Equal("user6284781860667377211", System.Text.Encoding.ASCII.GetString(key, 0, 23));
        Assert.All(key[23..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Unsupported_key_size_is_refused()
    {
        var ex = Assert.Throws<ArgumentException>(() => KeyCodec.Encode(YcsbVariant.YcsbC, 0, new byte[20]));
        Assert.Contains("16", ex.Message);
    }

    [Theory]
    [InlineData(YcsbVariant.Official)]
    [InlineData(YcsbVariant.YcsbC)]
    public void Keys_are_distinct_over_a_record_range(YcsbVariant variant)
    {
        const int count = 200_000;
        var seen = new HashSet<UInt128>(count);
        Span<byte> key = stackalloc byte[16];
        for (int i = 0; i < count; i++)
        {
            KeyCodec.Encode(variant, i, key);
            Assert.True(seen.Add(System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(key)), $"collision at record {i}");
        }
    }

    [Fact]
    public void Values_are_deterministic_per_key_and_seed()
    {
        byte[] a = new byte[64], b = new byte[64], c = new byte[64], d = new byte[61];
        YcsbValues.Fill(5, 1, a);
        YcsbValues.Fill(5, 1, b);
        YcsbValues.Fill(5, 2, c);
        YcsbValues.Fill(5, 1, d);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(a[..61], d);
        Assert.True(YcsbValues.Verify(5, 1, a, new byte[64]));
        a[10] ^= 1;
        Assert.False(YcsbValues.Verify(5, 1, a, new byte[64]));
    }
}
