using System.Buffers.Binary;
using System.Diagnostics;
using Scalio.Fast.Cache;
using Scalio.Fast.Server;

namespace Scalio.Tests.Remote;

public sealed class ServerDescriptorTests
{
    private static ServerDescriptor Sample(OffloadTargetEndpoint? target) =>
        new ServerDescriptor(new SlotLayout(24, 100, 4), 0x12345, 64, 333, 0x777, 4096, 4096, [4096, 512], ClockBase: 1_000_000, LeaseMilliseconds: 250)
        {
            OffloadTarget = target,
        };

    [Fact]
    public void Round_trips_every_field_and_translates_the_server_clock_to_the_midpoint_of_the_exchange()
    {
        var d = Sample(new OffloadTargetEndpoint("127.0.0.1", 4420, "nqn.2024-01.io.scalio:offload"));
        long serverNow = d.ClockBase + 5 * Stopwatch.Frequency; // the server clock reads 5 s
        byte[] bytes = d.Encode(serverNow);
        long t0 = 10_000_000_000, t1 = t0 + Stopwatch.Frequency / 100; // 10 ms round trip
        var back = ServerDescriptor.Decode(bytes, t0, t1);
        Assert.Equal(d.Layout.KeyCapacity, back.Layout.KeyCapacity);
        Assert.Equal(d.Layout.ValueCapacity, back.Layout.ValueCapacity);
        Assert.Equal(d.Layout.SlotsPerBucket, back.Layout.SlotsPerBucket);
        Assert.Equal((d.CacheKey, d.BucketsOffset, d.CacheBuckets, d.IndexKey, d.SsdBuckets, d.PageSize, d.LeaseMilliseconds),
            (back.CacheKey, back.BucketsOffset, back.CacheBuckets, back.IndexKey, back.SsdBuckets, back.PageSize, back.LeaseMilliseconds));
        Assert.Equal(d.DeviceLbaSizes, back.DeviceLbaSizes);
        Assert.Equal(d.OffloadTarget, back.OffloadTarget);
        // At the midpoint of [t0, t1] our clock stands where the server's read 5 s: its zero is 5 s before.
        Assert.Equal(t0 + (t1 - t0) / 2 - 5 * Stopwatch.Frequency, back.ClockBase);
        Assert.Equal(TimeSpan.FromMilliseconds(5), back.ClockUncertainty);
        Assert.Null(ServerDescriptor.Decode(Sample(null).Encode(serverNow), t0, t1).OffloadTarget);
    }

    [Fact]
    public void Every_truncation_and_trailing_byte_is_refused_with_InvalidDataException()
    {
        byte[] bytes = Sample(new OffloadTargetEndpoint("host", 1, "nqn")).Encode(2_000_000);
        for (int n = 0; n < bytes.Length; n++)
        {
            var e = Assert.Throws<InvalidDataException>(() => ServerDescriptor.Decode(bytes.AsSpan(0, n), 0, 1));
            Assert.StartsWith("malformed server descriptor", e.Message, StringComparison.Ordinal);
        }
        Assert.Throws<InvalidDataException>(() => ServerDescriptor.Decode([.. bytes, 0], 0, 1));
    }

    [Theory]
    [InlineData(0, 0x11, "bad magic")]
    [InlineData(4, 2, "version 2")]
    [InlineData(8, 0, "invalid layout")]
    [InlineData(28, 0, "empty cache")]
    [InlineData(40, 1000, "page size")]
    [InlineData(72, 65, "65 devices")]
    [InlineData(76, 1024, "LBA size")]
    public void Malformed_fields_are_named(int offset, int value, string expected)
    {
        byte[] bytes = Sample(null).Encode(2_000_000);
        if (offset == 4) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(offset), (ushort)value);
        else BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), value);
        var e = Assert.Throws<InvalidDataException>(() => ServerDescriptor.Decode(bytes, 0, 1));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_clock_ping_after_the_hello_moves_the_server_reading_to_the_ping()
    {
        var d = Sample(null);
        long encodedAt = d.ClockBase + 5 * Stopwatch.Frequency;  // clock reads 5 s when encoded
        long pingedAt = encodedAt + 2 * Stopwatch.Frequency;     // the ping found the server's Stopwatch 2 s later
        var ping = new Scalio.Verbs.Libfabric.ClockExchange(50_000_000_000, 50_000_000_000 + Stopwatch.Frequency / 1000, pingedAt, Stopwatch.Frequency);
        var back = ServerDescriptor.Decode(d.Encode(encodedAt), ping);
        Assert.Equal(ping.SentTimestamp + (ping.ReceivedTimestamp - ping.SentTimestamp) / 2 - 7 * Stopwatch.Frequency, back.ClockBase);
        Assert.Equal(TimeSpan.FromMicroseconds(500), back.ClockUncertainty);
        var other = ping with { PeerFrequency = Stopwatch.Frequency / 2 };
        Assert.Throws<InvalidDataException>(() => ServerDescriptor.Decode(d.Encode(encodedAt), other));
    }

    [Fact]
    public void Refuses_answers_that_arrive_before_they_were_asked_for() =>
        Assert.Throws<ArgumentException>(() => ServerDescriptor.Decode(Sample(null).Encode(2_000_000), 10, 5));

    [Theory]
    [InlineData("127.0.0.1:4420", "127.0.0.1", 4420)]
    [InlineData("[::1]:7", "::1", 7)]
    [InlineData("target.example:65535", "target.example", 65535)]
    public void Parses_offload_target_addresses(string text, string host, int port)
    {
        var t = OffloadTargetEndpoint.Parse(text, "nqn.x");
        Assert.Equal((host, port, "nqn.x"), (t.Host, t.Port, t.SubsystemNqn));
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData(":4420")]
    [InlineData("host:0")]
    [InlineData("host:70000")]
    [InlineData("host:-1")]
    public void Refuses_bad_offload_target_addresses(string text) =>
        Assert.Throws<FormatException>(() => OffloadTargetEndpoint.Parse(text, "nqn.x"));
}
