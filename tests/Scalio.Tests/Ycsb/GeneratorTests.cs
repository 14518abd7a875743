using Scalio.Ycsb;

namespace Scalio.Tests.Ycsb;

public class GeneratorTests
{
    private const int Draws = 200_000;

    // Expected zeta values: the same left-to-right sum of 1/i^0.99 computed independently in Python (C pow);
    // zeta(2) is also 1 + 2^-0.99 by definition.
    [Fact]
    public void Zeta_matches_independent_sums()
    {
        Assert.Equal(1 + Math.Pow(2, -0.99), ZipfianGenerator.Zeta(2, 0.99), 15);
        Assert.Equal(1.5034777750283594, ZipfianGenerator.Zeta(2, 0.99), 12);
        Assert.Equal(2.9561075165103636, ZipfianGenerator.Zeta(10, 0.99), 12);
        Assert.Equal(7.728953217284729, ZipfianGenerator.Zeta(1000, 0.99), 12);
        Assert.Equal(12.778338062551246, ZipfianGenerator.Zeta(100_000, 0.99), 11);
        Assert.Equal(61.80100876524318, ZipfianGenerator.Zeta(1000, 0.5), 11);
    }

    // YCSB's ZETAN = zeta(10^10, 0.99) checked against an Euler-Maclaurin evaluation (exact head up to 999, then
    // integral + boundary terms), which agrees to about 3e-11.
    [Fact]
    public void Official_zetan_constant_matches_euler_maclaurin()
    {
        const double s = 0.99;
        const double big = 1e10;
        const double n0 = 1000;
        double head = ZipfianGenerator.Zeta(999, s);
        double tail = ((Math.Pow(big, 1 - s) - Math.Pow(n0, 1 - s)) / (1 - s))
            + ((Math.Pow(n0, -s) + Math.Pow(big, -s)) / 2)
            + (s / 12 * (Math.Pow(n0, -s - 1) - Math.Pow(big, -s - 1)));
        Assert.Equal(ScrambledZipfianGenerator.Zetan, head + tail, 8);
    }

    [Fact]
    public void Zipfian_parameters_follow_ycsb_formulas()
    {
        var z = new ZipfianGenerator(0, 999);
        double zetan = ZipfianGenerator.Zeta(1000, 0.99);
        Assert.Equal(zetan, z.Zetan);
        Assert.Equal(1 / (1 - 0.99), z.Alpha, 12);
        Assert.Equal((1 - Math.Pow(2.0 / 1000, 0.01)) / (1 - (z.Zeta2Theta / zetan)), z.Eta, 15);

        // A larger item count extends zeta incrementally (same additions as from scratch) and recomputes eta
        // with the constructor's item count, as YCSB does.
        z.Next(new YcsbRandom(1), 2000);
        Assert.Equal(ZipfianGenerator.Zeta(2000, 0.99), z.Zetan);
        Assert.Equal((1 - Math.Pow(2.0 / 1000, 0.01)) / (1 - (z.Zeta2Theta / z.Zetan)), z.Eta, 15);
    }

    // Items 0 and 1 come from the exact fast paths: P(0) = 1/zeta(n), P(1) = 0.5^theta / zeta(n).
    [Fact]
    public void Zipfian_head_has_the_exact_shares_and_stays_in_range()
    {
        var z = new ZipfianGenerator(0, 999);
        var rng = new YcsbRandom(7);
        long zeros = 0, ones = 0, below100 = 0;
        for (int i = 0; i < Draws; i++)
        {
            long v = z.Next(rng);
            Assert.InRange(v, 0, 999);
            if (v == 0) zeros++;
            if (v == 1) ones++;
            if (v < 100) below100++;
        }
        double zetan = ZipfianGenerator.Zeta(1000, 0.99);
        Assert.Equal(1 / zetan, (double)zeros / Draws, 2);
        Assert.Equal(Math.Pow(0.5, 0.99) / zetan, (double)ones / Draws, 2);
        // Gray's approximation of the CDF: P(v < 100) close to zeta(100)/zeta(1000).
        Assert.InRange((double)below100 / Draws, (ZipfianGenerator.Zeta(100, 0.99) / zetan) - 0.03, (ZipfianGenerator.Zeta(100, 0.99) / zetan) + 0.03);
    }

    [Fact]
    public void Zipfian_fast_path_base_differs_between_variants()
    {
        var official = new ZipfianGenerator(10, 1009, 0.99, YcsbVariant.Official);
        var ycsbC = new ZipfianGenerator(10, 1009, 0.99, YcsbVariant.YcsbC);
        var r1 = new YcsbRandom(3);
        var r2 = new YcsbRandom(3);
        long officialTens = 0, ycsbCZeros = 0;
        for (int i = 0; i < 10_000; i++)
        {
            long a = official.Next(r1);
            long b = ycsbC.Next(r2);
            Assert.InRange(a, 10, 1009);
            if (a == 10) officialTens++;
            if (b == 0) ycsbCZeros++; // YCSB-C's fast path returns 0, not base (zipfian_generator.h)
        }
        Assert.Equal(officialTens, ycsbCZeros);
        Assert.True(officialTens > 1000);
    }

    [Fact]
    public void Official_scrambled_zipfian_hottest_key_is_fnv_of_zero()
    {
        var g = new ScrambledZipfianGenerator(0, 999, YcsbVariant.Official);
        var rng = new YcsbRandom(11);
        var counts = new int[1000];
        for (int i = 0; i < Draws; i++)
        {
            long v = g.Next(rng);
            Assert.InRange(v, 0, 999);
            counts[v]++;
        }
        // fnvhash64(0) % 1000 = 6284781860667377211 % 1000 = 211; share 1/ZETAN (0.0378) plus about 1/1000 of the tail.
        Assert.Equal(211, Array.IndexOf(counts, counts.Max()));
        Assert.InRange((double)counts[211] / Draws, 0.035, 0.042);
        // fnvhash64(1) % 1000 = 620 carries 0.5^0.99 / ZETAN (0.019).
        Assert.InRange((double)counts[620] / Draws, 0.017, 0.023);
    }

    [Fact]
    public void YcsbC_scrambled_zipfian_hottest_key_is_unsigned_fnv_of_zero()
    {
        var g = new ScrambledZipfianGenerator(0, 999, YcsbVariant.YcsbC);
        var rng = new YcsbRandom(13);
        var counts = new int[1000];
        for (int i = 0; i < Draws; i++)
        {
            long v = g.Next(rng);
            Assert.InRange(v, 0, 999);
            counts[v]++;
        }
        // FNVHash64(0) % 1000 = 12161962213042174405 % 1000 = 405; share 1/zeta(1000) = 0.129 (plus collisions).
        Assert.Equal(405, Array.IndexOf(counts, counts.Max()));
        Assert.InRange((double)counts[405] / Draws, 0.125, 0.145);
    }

    [Fact]
    public void Official_scrambled_zipfian_refuses_other_constants()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new ScrambledZipfianGenerator(0, 99, YcsbVariant.Official, 0.8));
        Assert.Contains("0.99", ex.Message);
    }

    [Fact]
    public void Skewed_latest_favours_the_newest_record_and_follows_the_counter()
    {
        var basis = new CounterGenerator(1000); // last value 999
        var g = new SkewedLatestGenerator(basis, YcsbVariant.Official);
        var rng = new YcsbRandom(5);
        long newest = 0;
        for (int i = 0; i < Draws; i++)
        {
            long v = g.Next(rng);
            Assert.InRange(v, 1, 999); // max - zipf(max) with zipf in [0, max - 1]
            if (v == 999) newest++;
        }
        Assert.Equal(1 / ZipfianGenerator.Zeta(999, 0.99), (double)newest / Draws, 2);

        for (int i = 0; i < 10; i++)
        {
            basis.Next();
        }
        long newest2 = 0;
        for (int i = 0; i < 20_000; i++)
        {
            long v = g.Next(rng);
            Assert.InRange(v, 1, 1009);
            if (v == 1009) newest2++;
        }
        Assert.True(newest2 > 2000, $"newest record drawn {newest2} times");
    }

    [Fact]
    public void Acknowledged_counter_exposes_only_contiguous_acknowledgements()
    {
        var c = new AcknowledgedCounterGenerator(10);
        Assert.Equal(9, c.LastValue);
        long a = c.Next(), b = c.Next(), d = c.Next();
        Assert.Equal((10L, 11L, 12L), (a, b, d));
        c.Acknowledge(11);
        Assert.Equal(9, c.LastValue);
        c.Acknowledge(10);
        Assert.Equal(11, c.LastValue);
        c.Acknowledge(12);
        Assert.Equal(12, c.LastValue);
    }

    [Fact]
    public void Counter_last_value_is_the_last_handed_out()
    {
        var c = new CounterGenerator(5);
        Assert.Equal(4, c.LastValue);
        Assert.Equal(5, c.Next());
        Assert.Equal(5, c.LastValue);
    }

    [Fact]
    public void Uniform_covers_its_interval_evenly()
    {
        var g = new UniformLongGenerator(5, 14);
        var rng = new YcsbRandom(9);
        var counts = new int[10];
        for (int i = 0; i < 100_000; i++)
        {
            long v = g.Next(rng);
            Assert.InRange(v, 5, 14);
            counts[v - 5]++;
        }
        Assert.All(counts, n => Assert.InRange(n, 9_500, 10_500));
    }
}
