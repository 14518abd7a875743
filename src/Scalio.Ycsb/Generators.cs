using System.Runtime.CompilerServices;

namespace Scalio.Ycsb;

/// <summary>The two key-choice variants, both reproduced bit-exactly.</summary>
public enum YcsbVariant
{
    /// <summary>
    /// The C++ port used by LEED and Scalio (basicthinker/YCSB-C, as vendored in madsys-dev/scalio-osdi25-ae under
    /// spdk/app/leed/ycsb): unsigned FNV, <c>std::to_string</c> key names, scrambled Zipfian over the records plus
    /// the expected new keys, CityHash128 of the key name as the 16-byte key.
    /// </summary>
    YcsbC,

    /// <summary>The official YCSB Java CoreWorkload (brianfrankcooper/YCSB, package site.ycsb).</summary>
    Official,
}

/// <summary>
/// YCSB's CounterGenerator: hands out consecutive numbers from a start value. Thread-safe.
/// <see cref="LastValue"/> is the last number handed out (<c>counter - 1</c>), as in both YCSB and YCSB-C.
/// </summary>
public class CounterGenerator
{
    private long _counter;

    /// <summary>Creates a counter whose first <see cref="Next"/> returns <paramref name="start"/>.</summary>
    public CounterGenerator(long start) => _counter = start;

    /// <summary>Returns the current value and advances the counter (Java <c>getAndIncrement</c>, C++ <c>fetch_add(1)</c>).</summary>
    public long Next() => Interlocked.Increment(ref _counter) - 1;

    /// <summary>The highest value that readers may pick: for this counter, the last value handed out.</summary>
    public virtual long LastValue => Volatile.Read(ref _counter) - 1;
}

/// <summary>
/// YCSB's AcknowledgedCounterGenerator: a counter whose <see cref="LastValue"/> only moves past a value once
/// every value up to it has been acknowledged, so readers never pick a key whose insert is still in flight.
/// Same window (2^20 slots), same try-lock advance as site.ycsb.generator.AcknowledgedCounterGenerator. Thread-safe.
/// </summary>
public sealed class AcknowledgedCounterGenerator : CounterGenerator
{
    /// <summary>Size of the window of pending acknowledgements (2^20, as in YCSB).</summary>
    public const int WindowSize = 1 << 20;
    private const int WindowMask = WindowSize - 1;

    private readonly bool[] _window = new bool[WindowSize];
    private readonly Lock _lock = new();
    private long _limit;

    /// <summary>Creates a counter starting at <paramref name="start"/>; values below it count as acknowledged.</summary>
    public AcknowledgedCounterGenerator(long start) : base(start) => _limit = start - 1;

    /// <summary>The highest value such that it and every value before it have been acknowledged.</summary>
    public override long LastValue => Volatile.Read(ref _limit);

    /// <summary>Marks <paramref name="value"/> (obtained from <see cref="CounterGenerator.Next"/>) as done.</summary>
    public void Acknowledge(long value)
    {
        int currentSlot = (int)(value & WindowMask);
        if (Volatile.Read(ref _window[currentSlot]))
        {
            ThrowHelper.InvalidOperation("Too many unacknowledged insertion keys (more than 2^20 inserts in flight).");
        }
        Volatile.Write(ref _window[currentSlot], true);
        if (_lock.TryEnter())
        {
            try
            {
                // Same loop as YCSB (including its comparison of an absolute index with a masked slot).
                long limit = _limit;
                long beforeFirstSlot = limit & WindowMask;
                long index;
                for (index = limit + 1; index != beforeFirstSlot; ++index)
                {
                    int slot = (int)(index & WindowMask);
                    if (!Volatile.Read(ref _window[slot]))
                    {
                        break;
                    }
                    _window[slot] = false;
                }
                Volatile.Write(ref _limit, index - 1);
            }
            finally
            {
                _lock.Exit();
            }
        }
    }
}

/// <summary>
/// YCSB's UniformLongGenerator: <c>Math.abs(nextLong()) % interval + lb</c> over [lb, ub]. Stateless apart from
/// the caller's random source, so one instance can be shared.
/// </summary>
public sealed class UniformLongGenerator
{
    private readonly long _lowerBound;
    private readonly long _interval;

    /// <summary>Creates a generator of values in [<paramref name="lowerBound"/>, <paramref name="upperBound"/>] inclusive.</summary>
    public UniformLongGenerator(long lowerBound, long upperBound)
    {
        if (upperBound < lowerBound)
        {
            ThrowHelper.OutOfRange(nameof(upperBound), $"Upper bound {upperBound} is below lower bound {lowerBound}.");
        }
        _lowerBound = lowerBound;
        _interval = upperBound - lowerBound + 1;
    }

    /// <summary>Draws the next value.</summary>
    public long Next(YcsbRandom random) => (YcsbHash.JavaAbs(random.NextLong()) % _interval) + _lowerBound;
}

/// <summary>
/// YCSB's ZipfianGenerator (Gray et al., "Quickly Generating Billion-Record Synthetic Databases", SIGMOD 1994),
/// with the arithmetic of site.ycsb.generator.ZipfianGenerator and of YCSB-C's core/zipfian_generator.h:
/// zeta(n, theta) = sum over i = 1..n of 1 / i^theta, alpha = 1 / (1 - theta),
/// eta = (1 - (2 / items)^(1 - theta)) / (1 - zeta(2) / zeta(n)); a draw u gives base when u * zeta(n) &lt; 1,
/// base + 1 when u * zeta(n) &lt; 1 + 0.5^theta, else base + (long)(itemcount * (eta * u - eta + 1)^alpha).
/// When called with a larger item count, zeta is extended incrementally and eta recomputed with the
/// constructor's item count, as both implementations do; a smaller item count reuses the old zeta.
/// One instance per thread (it keeps the incremental zeta); not thread-safe.
/// </summary>
/// <remarks>
/// Differences kept per variant: YCSB-C's fast paths return 0 and 1 without adding the base, and its general
/// case adds the base in floating point before converting; Java adds the base to the truncated product.
/// YCSB's constructors also draw (and discard) one value; this class has no random source of its own, so it
/// does not. <see cref="Math.Pow"/> is the platform's IEEE pow; Java's may differ by at most one ulp.
/// </remarks>
public sealed class ZipfianGenerator
{
    /// <summary>YCSB's default Zipfian constant, 0.99.</summary>
    public const double DefaultConstant = 0.99;

    private readonly long _items;
    private readonly long _base;
    private readonly double _theta;
    private readonly double _zeta2Theta;
    private readonly double _alpha;
    private readonly double _halfPowTheta;
    private readonly YcsbVariant _variant;
    private double _zetan;
    private double _eta;
    private long _countForZeta;

    /// <summary>Creates a generator over [<paramref name="min"/>, <paramref name="max"/>], computing zeta (O(n) time).</summary>
    public ZipfianGenerator(long min, long max, double zipfianConstant = DefaultConstant, YcsbVariant variant = YcsbVariant.Official)
        : this(min, max, zipfianConstant, Zeta(CheckedCount(min, max), zipfianConstant), variant)
    {
    }

    /// <summary>Creates a generator over [<paramref name="min"/>, <paramref name="max"/>] with a precomputed zeta(max - min + 1).</summary>
    public ZipfianGenerator(long min, long max, double zipfianConstant, double zetan, YcsbVariant variant)
    {
        long items = CheckedCount(min, max);
        if (!(zipfianConstant > 0 && zipfianConstant < 1))
        {
            ThrowHelper.OutOfRange(nameof(zipfianConstant), $"Zipfian constant must be in (0, 1); got {zipfianConstant}.");
        }
        if (variant == YcsbVariant.YcsbC && items < 2)
        {
            ThrowHelper.OutOfRange(nameof(max), "YCSB-C's Zipfian generator needs at least 2 items.");
        }
        _items = items;
        _base = min;
        _theta = zipfianConstant;
        _variant = variant;
        _zeta2Theta = Zeta(2, _theta);
        _alpha = 1.0 / (1.0 - _theta);
        _halfPowTheta = Math.Pow(0.5, _theta);
        _zetan = zetan;
        _countForZeta = items;
        _eta = ComputeEta();
    }

    /// <summary>Number of items in the constructor's range.</summary>
    public long Items => _items;

    /// <summary>Current zeta(n) (extended as larger item counts are requested).</summary>
    public double Zetan => _zetan;

    /// <summary>Current eta.</summary>
    public double Eta => _eta;

    /// <summary>alpha = 1 / (1 - theta).</summary>
    public double Alpha => _alpha;

    /// <summary>zeta(2, theta).</summary>
    public double Zeta2Theta => _zeta2Theta;

    /// <summary>zeta(n, theta) from scratch: YCSB's <c>zetastatic(n, theta)</c>.</summary>
    public static double Zeta(long n, double theta) => Zeta(0, n, theta, 0);

    /// <summary>
    /// zeta extended from <paramref name="start"/> to <paramref name="n"/> items:
    /// <paramref name="initialSum"/> + sum over i = start + 1..n of 1 / i^theta (same order of additions as YCSB).
    /// </summary>
    public static double Zeta(long start, long n, double theta, double initialSum)
    {
        double sum = initialSum;
        for (long i = start; i < n; i++)
        {
            sum += 1 / Math.Pow(i + 1, theta);
        }
        return sum;
    }

    /// <summary>Draws a value over the constructor's item count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Next(YcsbRandom random) => Next(random, _items);

    /// <summary>Draws a value over <paramref name="itemCount"/> items (YCSB's <c>nextLong(itemcount)</c>).</summary>
    public long Next(YcsbRandom random, long itemCount)
    {
        if (itemCount > _countForZeta)
        {
            _zetan = Zeta(_countForZeta, itemCount, _theta, _zetan);
            _countForZeta = itemCount;
            _eta = ComputeEta();
        }
        double u = random.NextDouble();
        double uz = u * _zetan;
        if (uz < 1.0)
        {
            return _variant == YcsbVariant.Official ? _base : 0;
        }
        if (uz < 1.0 + _halfPowTheta)
        {
            return _variant == YcsbVariant.Official ? _base + 1 : 1;
        }
        double scaled = Math.Pow((_eta * u) - _eta + 1, _alpha);
        if (_variant == YcsbVariant.Official)
        {
            return _base + (long)(itemCount * scaled);
        }
        return unchecked((long)(ulong)(_base + (itemCount * scaled)));
    }

    private double ComputeEta() => (1 - Math.Pow(2.0 / _items, 1 - _theta)) / (1 - (_zeta2Theta / _zetan));

    private static long CheckedCount(long min, long max)
    {
        if (max < min)
        {
            ThrowHelper.OutOfRange(nameof(max), $"Zipfian range [{min}, {max}] is empty.");
        }
        return max - min + 1;
    }
}

/// <summary>
/// YCSB's ScrambledZipfianGenerator: Zipfian popularity scattered over the key space by FNV hashing.
/// <list type="bullet">
/// <item><description>Official (site.ycsb.generator.ScrambledZipfianGenerator): a Zipfian over
/// [0, <see cref="ItemCount"/>] (so 10^10 + 1 items) with the precomputed <see cref="Zetan"/>, then
/// <c>min + fnvhash64(v) % itemcount</c> with Java's signed FNV and remainder.</description></item>
/// <item><description>YCSB-C (core/scrambled_zipfian_generator.h): a Zipfian over [min, max] itself, then
/// <c>base + FNVHash64(v) % num_items</c> in unsigned arithmetic.</description></item>
/// </list>
/// One instance per thread; not thread-safe.
/// </summary>
public sealed class ScrambledZipfianGenerator
{
    /// <summary>YCSB's precomputed zeta(10^10, 0.99).</summary>
    public const double Zetan = 26.46902820178302;

    /// <summary>YCSB's item count for the underlying Zipfian, 10^10.</summary>
    public const long ItemCount = 10_000_000_000L;

    private readonly ZipfianGenerator _zipfian;
    private readonly long _min;
    private readonly long _itemCount;
    private readonly YcsbVariant _variant;

    /// <summary>
    /// Creates a generator over [<paramref name="min"/>, <paramref name="max"/>].
    /// For <see cref="YcsbVariant.YcsbC"/>, <paramref name="precomputedZeta"/> may give zeta(max - min + 1)
    /// to skip the O(n) sum; for <see cref="YcsbVariant.Official"/> only the constant 0.99 is supported,
    /// because YCSB has zeta precomputed only for it (any other constant means summing 10^10 terms).
    /// </summary>
    public ScrambledZipfianGenerator(long min, long max, YcsbVariant variant,
        double zipfianConstant = ZipfianGenerator.DefaultConstant, double? precomputedZeta = null)
    {
        if (max < min)
        {
            ThrowHelper.OutOfRange(nameof(max), $"Scrambled Zipfian range [{min}, {max}] is empty.");
        }
        _min = min;
        _itemCount = max - min + 1;
        _variant = variant;
        if (variant == YcsbVariant.Official)
        {
            if (zipfianConstant != ZipfianGenerator.DefaultConstant)
            {
                ThrowHelper.OutOfRange(nameof(zipfianConstant),
                    $"The official scrambled Zipfian has zeta precomputed only for 0.99 (got {zipfianConstant}); another constant would need zeta over 10^10 items.");
            }
            _zipfian = new ZipfianGenerator(0, ItemCount, zipfianConstant, Zetan, variant);
        }
        else
        {
            _zipfian = precomputedZeta is double z
                ? new ZipfianGenerator(min, max, zipfianConstant, z, variant)
                : new ZipfianGenerator(min, max, zipfianConstant, variant);
        }
    }

    /// <summary>Number of items in [min, max].</summary>
    public long Items => _itemCount;

    /// <summary>Draws the next key number.</summary>
    public long Next(YcsbRandom random)
    {
        long value = _zipfian.Next(random);
        if (_variant == YcsbVariant.Official)
        {
            return _min + (YcsbHash.JavaFnvHash64(value) % _itemCount);
        }
        return unchecked((long)((ulong)_min + (YcsbHash.Fnv64((ulong)value) % (ulong)_itemCount)));
    }
}

/// <summary>
/// YCSB's SkewedLatestGenerator (workload D's "latest" distribution): <c>max - zipfian.next(max)</c> where
/// <c>max = basis.lastValue()</c> and the Zipfian was built over <c>basis.lastValue()</c> items, so the most
/// recently inserted records are the most popular. The basis counter is shared; the generator is per thread.
/// </summary>
public sealed class SkewedLatestGenerator
{
    private readonly CounterGenerator _basis;
    private readonly ZipfianGenerator _zipfian;

    /// <summary>
    /// Creates a generator following <paramref name="basis"/>. <paramref name="precomputedZeta"/> may give
    /// zeta(basis.LastValue) so that many threads do not each sum it.
    /// </summary>
    public SkewedLatestGenerator(CounterGenerator basis, YcsbVariant variant,
        double zipfianConstant = ZipfianGenerator.DefaultConstant, double? precomputedZeta = null)
    {
        ArgumentNullException.ThrowIfNull(basis);
        _basis = basis;
        long items = basis.LastValue;
        if (items < 1)
        {
            ThrowHelper.OutOfRange(nameof(basis), "The latest distribution needs at least two records.");
        }
        _zipfian = precomputedZeta is double z
            ? new ZipfianGenerator(0, items - 1, zipfianConstant, z, variant)
            : new ZipfianGenerator(0, items - 1, zipfianConstant, variant);
    }

    /// <summary>Draws the next key number.</summary>
    public long Next(YcsbRandom random)
    {
        long max = _basis.LastValue;
        return max - _zipfian.Next(random, max);
    }
}
