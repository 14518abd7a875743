using System.Diagnostics;
using System.Text;
using Scalio.Cli;
using Scalio.Fast;
using Scalio.Nvme;

namespace Scalio.Tests.Sweep;

public class SweepTests
{
    [Fact]
    public void Ssd_counts_parse_as_ranges_and_lists()
    {
        Assert.Equal([1, 2, 3, 7], SweepCommand.ParseSsds("1..3,7"));
        Assert.Equal([2, 4], SweepCommand.ParseSsds("4, 2, 4"));
        Assert.Throws<ArgumentException>(() => SweepCommand.ParseSsds("0"));
        Assert.Throws<ArgumentException>(() => SweepCommand.ParseSsds("5..2"));
        Assert.Throws<ArgumentException>(() => SweepCommand.ParseSsds("x"));
        Assert.Throws<ArgumentException>(() => SweepCommand.ParseSsds(""));
    }

    [Fact]
    public void Ssd_model_option_caps_the_store_device_iops()
    {
        const int iops = 1000;
        using var store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = 1000,
            CacheBuckets = 1,
            BatchSize = 1,
            SsdModel = new SsdModelOptions { MaxIops = iops, Burst = 1, ReadLatency = TimeSpan.Zero, WriteLatency = TimeSpan.Zero, FlushLatency = TimeSpan.Zero },
        });
        using var c = store.OpenClient();
        var before = store.ReadCounters();
        var sw = Stopwatch.StartNew();
        var value = new byte[64];
        var buf = new byte[64];
        for (int i = 0; i < 100; i++)
        {
            var key = Encoding.ASCII.GetBytes($"key{i}");
            value[0] = (byte)i;
            Assert.Equal(OpStatus.Ok, c.Put(key, value));
        }
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(OpStatus.Ok, c.Get(Encoding.ASCII.GetBytes($"key{i}"), buf, out _));
            Assert.Equal((byte)i, buf[0]);
        }
        sw.Stop();
        var after = store.ReadCounters();
        long ios = after.DeviceReads + after.DeviceWrites - before.DeviceReads - before.DeviceWrites;
        Assert.True(ios >= 100, $"only {ios} device I/Os");
        // The model admits at most one I/O per millisecond after the first: without it this takes a few ms.
        Assert.True(sw.Elapsed.TotalSeconds >= 0.95 * (ios - 1) / iops, $"{ios} I/Os in {sw.Elapsed.TotalMilliseconds:F0} ms exceed {iops} IOPS");
    }
}
