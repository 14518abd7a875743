namespace Scalio.Ycsb;

/// <summary>
/// A seeded, reproducible random source with exactly the arithmetic of <c>java.util.Random</c>
/// (48-bit linear congruential generator, multiplier 0x5DEECE66D, addend 0xB, as specified in the Java SE
/// documentation of <c>java.util.Random</c>). One instance per thread; not thread-safe.
/// </summary>
/// <remarks>
/// "Bit-exact" in this library means: the key names, the FNV hashing and the generators' arithmetic
/// (zeta, eta, alpha, the fast paths, the scrambling) are exactly YCSB's, so that given the same sequence of
/// uniform draws they return the same key numbers. The uniform draws themselves come from this seeded
/// generator (YCSB draws from <c>ThreadLocalRandom</c> or an unseeded <c>std::default_random_engine</c>,
/// neither of which is reproducible), so a run is reproducible from its seed.
/// </remarks>
public sealed class YcsbRandom
{
    private const long Multiplier = 0x5DEECE66DL;
    private const long Addend = 0xBL;
    private const long Mask = (1L << 48) - 1;
    private const double DoubleUnit = 1.0 / (1L << 53);

    private long _seed;

    /// <summary>Creates a generator with the given seed, scrambled as <c>new java.util.Random(seed)</c> does.</summary>
    public YcsbRandom(long seed) => _seed = (seed ^ Multiplier) & Mask;

    /// <summary>Derives a well-spread per-thread seed from a run seed and a thread index (SplitMix64 finaliser).</summary>
    public static long ThreadSeed(long runSeed, int threadIndex)
    {
        ulong z = unchecked((ulong)runSeed + (ulong)(threadIndex + 1) * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return unchecked((long)(z ^ (z >> 31)));
    }

    private int NextBits(int bits)
    {
        _seed = unchecked(_seed * Multiplier + Addend) & Mask;
        return (int)((ulong)_seed >> (48 - bits));
    }

    /// <summary>As <c>java.util.Random.nextInt()</c>: 32 uniformly distributed bits.</summary>
    public int NextInt() => NextBits(32);

    /// <summary>As <c>java.util.Random.nextLong()</c>: <c>((long)next(32) &lt;&lt; 32) + next(32)</c>.</summary>
    public long NextLong() => unchecked(((long)NextBits(32) << 32) + NextBits(32));

    /// <summary>As <c>java.util.Random.nextDouble()</c>: a uniform double in [0, 1) built from 53 bits.</summary>
    public double NextDouble() => (((long)NextBits(26) << 27) + NextBits(27)) * DoubleUnit;
}
