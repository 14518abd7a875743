using System.Buffers.Binary;
using System.Diagnostics;

namespace Scalio.Cli.Fuzz;

/// <summary>
/// A decoder under fuzzing: valid encodings to mutate, the decode call, and the decoder's documented way of refusing bad
/// input. Anything else it throws is a crash.
/// </summary>
internal abstract class FuzzTarget : IDisposable
{
    /// <summary>Name on the command line and in the corpus directory.</summary>
    public abstract string Name { get; }

    /// <summary>What the decoder promises on bad input (printed with crashes).</summary>
    public abstract string Contract { get; }

    /// <summary>Valid encodings (built fresh, seeded).</summary>
    public abstract IReadOnlyList<byte[]> Seeds(Random random);

    /// <summary>Decodes <paramref name="input"/>: true when accepted, false when refused by a return value; refusal by exception is <see cref="IsRejection"/>.</summary>
    public abstract bool Decode(byte[] input);

    /// <summary>True for the exception types the decoder documents for bad input.</summary>
    public virtual bool IsRejection(Exception e) => false;

    /// <summary>Recomputes checksums of a mutated input where the format has them, so mutations reach the parser behind the checksum.</summary>
    public virtual void Reseal(byte[] input) { }

    /// <summary>Releases what the target holds (namespaces, stores).</summary>
    public virtual void Dispose() { }
}

/// <summary>Outcome of one decoder's fuzz run.</summary>
internal sealed class FuzzStats(string target)
{
    public string Target { get; } = target;
    public long Inputs;
    public long Rejected;
    public long Accepted;
    public long Crashes;
    public long Hangs;
    public long Retimed; // slow once, under the bound when run again: the host stalled, not the decoder
    public long MaxMicros;
    public readonly List<(byte[] Input, string What)> Failures = [];
    public double Seconds;

    public bool Clean => Crashes == 0 && Hangs == 0;
}

/// <summary>
/// Seeded mutation fuzzing of one decoder: bit flips, byte edits, truncation, extension, length-field edits, chunk
/// deletion and duplication, splices of two valid encodings, and random bytes; half the mutated inputs get their
/// checksums recomputed (<see cref="FuzzTarget.Reseal"/>). A crash is an exception the decoder does not document, or an
/// input that allocates more than <see cref="AllocationBound"/>; a hang is one input taking over the time bound.
/// </summary>
internal static class DecoderFuzz
{
    /// <summary>Bytes one input may allocate while decoded: 64 per input byte plus 4 MiB (a decoder that trusts a length field allocates more).</summary>
    public static long AllocationBound(int inputLength) => 64L * inputLength + (4 << 20);

    private static long s_inputStart;

    /// <summary>Stopwatch timestamp at which the input being decoded now started; 0 between inputs (read by a watchdog).</summary>
    public static long CurrentInputStart => Volatile.Read(ref s_inputStart);

    /// <summary>Runs <paramref name="inputs"/> mutated inputs through <paramref name="target"/>; <paramref name="hangBound"/> bounds one input.</summary>
    public static FuzzStats Run(FuzzTarget target, long inputs, int seed, TimeSpan hangBound, Action<FuzzTarget, byte[], string>? interesting = null)
    {
        var random = new Random(unchecked(seed * 1_000_003 + StableHash(target.Name))); // HashCode.Combine is randomized per process: not reproducible
        var seeds = target.Seeds(new Random(seed));
        var stats = new FuzzStats(target.Name);
        var watch = Stopwatch.StartNew();
        for (long i = 0; i < inputs; i++)
        {
            byte[] input = Mutate(seeds, random);
            if (random.Next(2) == 0) target.Reseal(input);
            One(target, input, hangBound, stats, interesting);
        }
        stats.Seconds = watch.Elapsed.TotalSeconds;
        return stats;
    }

    /// <summary>Decodes one input and counts the outcome into <paramref name="stats"/>.</summary>
    public static void One(FuzzTarget target, byte[] input, TimeSpan hangBound, FuzzStats stats, Action<FuzzTarget, byte[], string>? interesting = null)
    {
        stats.Inputs++;
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        Volatile.Write(ref s_inputStart, start);
        string? crash = null;
        string outcome;
        try
        {
            bool ok = target.Decode(input);
            if (ok) stats.Accepted++;
            else stats.Rejected++;
            outcome = ok ? "accepted" : "rejected";
        }
        catch (Exception e) when (target.IsRejection(e))
        {
            stats.Rejected++;
            outcome = "rejected: " + Shape(e.Message);
        }
        catch (Exception e)
        {
            crash = $"{e.GetType().Name}: {e.Message} {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}";
            outcome = "crash";
        }
        var elapsed = Stopwatch.GetElapsedTime(start);
        Volatile.Write(ref s_inputStart, 0);
        long bytes = GC.GetAllocatedBytesForCurrentThread() - allocated;
        stats.MaxMicros = Math.Max(stats.MaxMicros, (long)elapsed.TotalMicroseconds);
        if (crash is null && bytes > AllocationBound(input.Length)) crash = $"allocated {bytes:N0} bytes for a {input.Length}-byte input";
        if (crash is not null)
        {
            stats.Crashes++;
            if (stats.Failures.Count < 16) stats.Failures.Add((input, crash));
        }
        if (elapsed > hangBound && Retime(target, input, hangBound) is var again && again > hangBound)
        {
            stats.Hangs++;
            if (stats.Failures.Count < 16) stats.Failures.Add((input, $"hang: {elapsed.TotalMilliseconds:F0} ms, then {again.TotalMilliseconds:F0} ms"));
        }
        else if (elapsed > hangBound)
        {
            stats.Retimed++;
        }
        interesting?.Invoke(target, input, crash ?? outcome);
    }

    /// <summary>
    /// The fastest of two more runs of a slow input: on a shared host a thread can stall for a second, so an input is
    /// a hang only when it is slow every time (a decoder that loops or waits on the input is).
    /// </summary>
    private static TimeSpan Retime(FuzzTarget target, byte[] input, TimeSpan hangBound)
    {
        var best = TimeSpan.MaxValue;
        for (int i = 0; i < 2 && best > hangBound; i++)
        {
            long start = Stopwatch.GetTimestamp();
            Volatile.Write(ref s_inputStart, start);
            try
            {
                target.Decode(input);
            }
            catch (Exception)
            {
                // counted on the first run
            }
            var t = Stopwatch.GetElapsedTime(start);
            Volatile.Write(ref s_inputStart, 0);
            if (t < best) best = t;
        }
        return best;
    }

    /// <summary>A message with its numbers blanked, so inputs refused for the same reason share one shape.</summary>
    public static string Shape(string message)
    {
        var chars = message.ToCharArray();
        for (int i = 0; i < chars.Length; i++) if (char.IsAsciiDigit(chars[i])) chars[i] = '#';
        return new string(chars);
    }

    /// <summary>A position in an input of <paramref name="length"/> bytes, half the time within its first 64 (headers and length fields live there).</summary>
    private static int Position(Random r, int length) => r.Next(2) == 0 ? r.Next(Math.Min(64, length)) : r.Next(length);

    private static int StableHash(string s)
    {
        int h = 17;
        foreach (char c in s) h = h * 31 + c;
        return h;
    }

    private static readonly uint[] Interesting32 = [0, 1, 2, 7, 8, 16, 32, 64, 127, 128, 255, 256, 511, 512, 1024, 4095, 4096, 4097, 65535, 65536, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE];

    /// <summary>One input: random bytes (1 in 16), else a valid encoding with 1..4 mutations.</summary>
    public static byte[] Mutate(IReadOnlyList<byte[]> seeds, Random r)
    {
        if (r.Next(16) == 0)
        {
            var junk = new byte[r.Next(0, 2 * seeds[r.Next(seeds.Count)].Length + 8)];
            r.NextBytes(junk);
            return junk;
        }
        var b = new List<byte>(seeds[r.Next(seeds.Count)]);
        int edits = r.Next(1, 5);
        for (int e = 0; e < edits; e++)
        {
            switch (r.Next(10))
            {
                case 0 or 1 when b.Count > 0: // bit flip
                    {
                        int at = Position(r, b.Count);
                        b[at] ^= (byte)(1 << r.Next(8));
                        break;
                    }
                case 2 when b.Count > 0: // byte set
                    b[Position(r, b.Count)] = r.Next(3) switch { 0 => 0, 1 => 0xFF, _ => (byte)r.Next(256) };
                    break;
                case 3 when b.Count > 0: // truncation
                    {
                        int cut = r.Next(b.Count);
                        b.RemoveRange(cut, b.Count - cut);
                        break;
                    }
                case 4: // extension
                    {
                        var extra = new byte[r.Next(1, 64)];
                        r.NextBytes(extra);
                        b.AddRange(extra);
                        break;
                    }
                case 5 or 6 when b.Count >= 2: // a length field: 16 or 32 bits at an aligned offset, set to an edge value
                    {
                        int width = b.Count >= 8 && r.Next(4) == 0 ? 8 : b.Count >= 4 && r.Next(2) == 0 ? 4 : 2;
                        int at = Position(r, b.Count - width + 1) & ~(width - 1);
                        ulong v = r.Next(4) switch
                        {
                            0 => Interesting32[r.Next(Interesting32.Length)],
                            1 => (ulong)(long)(b.Count + r.Next(-4, 5)),
                            2 => r.Next(3) switch { 0 => long.MaxValue, 1 => ulong.MaxValue, _ => 1UL << r.Next(64) },
                            _ => (ulong)r.NextInt64(),
                        };
                        Span<byte> tmp = stackalloc byte[8];
                        BinaryPrimitives.WriteUInt64LittleEndian(tmp, v);
                        for (int k = 0; k < width; k++) b[at + k] = tmp[k];
                        break;
                    }
                case 7 when b.Count > 1: // chunk deletion
                    {
                        int at = r.Next(b.Count), len = r.Next(1, Math.Min(64, b.Count - at) + 1);
                        b.RemoveRange(at, len);
                        break;
                    }
                case 8 when b.Count > 1: // chunk duplication
                    {
                        int at = r.Next(b.Count), len = r.Next(1, Math.Min(64, b.Count - at) + 1);
                        b.InsertRange(r.Next(b.Count), b.GetRange(at, len));
                        break;
                    }
                case 9: // splice: a prefix of this encoding, a suffix of another
                    {
                        var other = seeds[r.Next(seeds.Count)];
                        int keep = r.Next(b.Count + 1), from = r.Next(other.Length + 1);
                        b.RemoveRange(keep, b.Count - keep);
                        b.AddRange(other.AsSpan(from).ToArray());
                        break;
                    }
            }
        }
        return [.. b];
    }
}
