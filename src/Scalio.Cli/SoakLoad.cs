using System.Buffers.Binary;
using System.Globalization;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary>
/// The server side of a <c>scalio soak</c> round (<c>scalio server --soak-keys K</c>): after recovery it reads back
/// every key and prints what it holds (<c>rec KEY VERSION</c>, or <c>bad KEY ...</c> when a value is not byte-exact);
/// then YCSB-A threads (50 % reads, 50 % updates, scrambled Zipfian over the keys) run until the process is killed,
/// printing <c>ack KEY VERSION</c> after every acknowledged PUT. A key's PUTs run one at a time (a lock per key), so
/// at a kill at most one PUT per key is in flight: the one after its last printed ack.
/// </summary>
internal sealed class SoakLoad
{
    /// <summary>Largest value: records up to the inline limit (~1000 B) stay in the bucket block, larger ones go to the value log.</summary>
    public const int MaxValue = 2048;

    /// <summary>The schema of a soak store: 16-byte keys, values up to <see cref="MaxValue"/> bytes.</summary>
    public static readonly SlotLayout Layout = new(16, MaxValue, 8);

    private const int VersionRoundShift = 40;

    private readonly ScalioStore _store;
    private readonly int _keys;
    private readonly long _round, _seed;
    private readonly object[] _locks;
    private readonly ulong[] _acked;
    private readonly ulong[] _refused; // per key, the last version a PUT was refused with (device errors injected)
    private readonly TextWriter _out;
    private long _counter;
    private volatile bool _stop;

    public SoakLoad(ScalioStore store, int keys, long round, long seed, TextWriter output)
    {
        _store = store;
        _keys = keys;
        _round = round;
        _seed = seed;
        _out = output;
        _locks = new object[keys];
        for (int i = 0; i < keys; i++) _locks[i] = new object();
        _acked = new ulong[keys];
        _refused = new ulong[keys];
    }

    /// <summary>The round a version was written in.</summary>
    public static long RoundOf(ulong version) => (long)(version >> VersionRoundShift);

    /// <summary>The key of index <paramref name="k"/> (12 ASCII bytes).</summary>
    public static void KeyOf(int k, Span<byte> key) => System.Text.Unicode.Utf8.TryWrite(key, CultureInfo.InvariantCulture, $"soak{k:D8}", out _);

    /// <summary>Writes the value of key <paramref name="k"/> at <paramref name="version"/> into <paramref name="into"/>
    /// and returns its length: version, key index, then bytes derived from both. About 30 % are 1100..2047 bytes
    /// (value-log records), the rest 16..815 bytes (inline).</summary>
    public static int ValueOf(int k, ulong version, Span<byte> into)
    {
        ulong h = Mix(version * 0x9E3779B97F4A7C15UL ^ (ulong)k);
        int length = h % 10 < 3 ? 1100 + (int)((h >> 8) % 948) : 16 + (int)((h >> 8) % 800);
        BinaryPrimitives.WriteUInt64LittleEndian(into, version);
        BinaryPrimitives.WriteInt32LittleEndian(into[8..], k);
        ulong s = h | 1;
        for (int i = 12; i < length; i++)
        {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17; // xorshift64: cheap bytes that depend on key and version
            into[i] = (byte)s;
        }
        return length;
    }

    /// <summary>The version of a value read for key <paramref name="k"/> when it is byte-exact, else 0.</summary>
    public static ulong Check(int k, ReadOnlySpan<byte> value, Span<byte> scratch)
    {
        if (value.Length < 12) return 0;
        ulong version = BinaryPrimitives.ReadUInt64LittleEndian(value);
        int n = ValueOf(k, version, scratch);
        return n == value.Length && scratch[..n].SequenceEqual(value) ? version : 0;
    }

    private static ulong Mix(ulong x)
    {
        x ^= x >> 33; x *= 0xFF51AFD7ED558CCDUL; x ^= x >> 33; x *= 0xC4CEB3F99A32E96BUL; x ^= x >> 33;
        return x;
    }

    /// <summary>Reads every key back and prints what recovery left (<c>rec</c>/<c>bad</c> lines); the versions found
    /// become the floor the readers check against.</summary>
    public void DumpRecovered()
    {
        using var c = _store.OpenClient();
        Span<byte> key = stackalloc byte[16];
        var value = new byte[MaxValue];
        var scratch = new byte[MaxValue];
        for (int k = 0; k < _keys; k++)
        {
            KeyOf(k, key);
            var st = c.Get(key[..12], value, out int n);
            if (st == OpStatus.NotFound) continue;
            if (st != OpStatus.Ok) { Print($"bad {k} get returned {st}"); continue; }
            ulong v = Check(k, value.AsSpan(0, n), scratch);
            if (v == 0) { Print($"bad {k} value of {n} bytes is not intact"); continue; }
            _acked[k] = v;
            Print($"rec {k} {v}");
        }
    }

    /// <summary>Starts <paramref name="threads"/> YCSB-A client threads (background threads; they stop at <see cref="Stop"/>).</summary>
    public Thread[] Start(int threads)
    {
        var all = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            all[t] = new Thread(() => Run(id)) { IsBackground = true, Name = $"soak-{t}" };
            all[t].Start();
        }
        return all;
    }

    public void Stop() => _stop = true;

    private void Run(int thread)
    {
        using var c = _store.OpenClient();
        var random = new YcsbRandom(YcsbRandom.ThreadSeed(_seed * 1_000_003 + _round, thread));
        var keys = new ScrambledZipfianGenerator(0, _keys - 1, YcsbVariant.Official);
        var key = new byte[16];
        var value = new byte[MaxValue];
        var scratch = new byte[MaxValue];
        while (!_stop)
        {
            int k = (int)keys.Next(random);
            KeyOf(k, key);
            if ((random.NextInt() & 1) == 0)
            {
                ulong floor = Volatile.Read(ref _acked[k]);
                var st = c.Get(key.AsSpan(0, 12), value, out int n);
                if (st == OpStatus.NotFound)
                {
                    if (floor != 0) Print($"stale {k} not found after version {floor} was acknowledged");
                    continue;
                }
                if (st != OpStatus.Ok) { Print($"bad {k} get returned {st}"); continue; }
                ulong v = Check(k, value.AsSpan(0, n), scratch);
                if (v == 0) Print($"bad {k} value of {n} bytes is not intact");
                else if (v < floor) Print($"stale {k} read version {v} after {floor} was acknowledged");
                else if (v == Volatile.Read(ref _refused[k])) Print($"stale {k} read version {v}, which the server refused");
                continue;
            }
            lock (_locks[k])
            {
                ulong version = ((ulong)_round << VersionRoundShift) | (ulong)Interlocked.Increment(ref _counter);
                int n = ValueOf(k, version, value);
                var st = c.Put(key.AsSpan(0, 12), value.AsSpan(0, n));
                if (st != OpStatus.Ok)
                {
                    Volatile.Write(ref _refused[k], version);
                    Print($"err {k} {version} {st}"); // under the key's lock, as an ack
                    continue;
                }
                Volatile.Write(ref _acked[k], version);
                Print($"ack {k} {version}"); // under the key's lock: the next PUT of k starts after this line is out
            }
        }
    }

    private void Print(string line)
    {
        lock (_out)
        {
            _out.WriteLine(line);
            _out.Flush();
        }
    }
}
