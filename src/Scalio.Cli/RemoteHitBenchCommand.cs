using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Scalio.Fast.Cache;
using Scalio.Fast.Remote;
using Scalio.Fast;
using Scalio.Fast.Server;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;

namespace Scalio.Cli;

/// <summary>
/// <c>scalio bench remote-hit --connect ADDR:PORT</c>: in one client process, the rate of remote GET hits against the rate
/// of bare fabric READs of the same size (one bucket) of the same server region (the cache), over the same kind of
/// connection (tcp;ofi_rxm, one endpoint of its own domain each), one at a time on one thread, each waited for by
/// <see cref="CompletionQueue.PollBlocking"/> (the one wait policy). Rounds of the two legs alternate (and swap order each
/// round) so both see the same host noise; every round is printed, then the totals and <c>ratio: X</c> (GET-hit rate over
/// READ rate).
/// </summary>
internal static class RemoteHitBenchCommand
{
    public static Command Create()
    {
        var connect = new Option<string>("--connect") { Description = "The running `scalio server --fabric tcp` at ADDRESS:PORT", Required = true };
        var keys = new Option<int>("--keys") { Description = "Keys the bench PUTs, warms into the cache and then GETs round-robin (1..1024)", DefaultValueFactory = _ => 64 };
        var ops = new Option<int>("--ops") { Description = "Operations per leg per round", DefaultValueFactory = _ => 5000 };
        var rounds = new Option<int>("--rounds") { Description = "Rounds (each runs both legs)", DefaultValueFactory = _ => 6 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed operations of each leg before the first round (JIT, caches)", DefaultValueFactory = _ => 5000 };
        var cmd = new Command("remote-hit", "Remote GET-hit rate against the bare fabric READ rate (same server region, same size, same wait), interleaved rounds; prints 'ratio: X'")
        {
            connect, keys, ops, rounds, warmup,
        };
        cmd.SetAction(parse => Run(parse.GetValue(connect)!, parse.GetValue(keys), parse.GetValue(ops), parse.GetValue(rounds), parse.GetValue(warmup)));
        return new Command("bench", "Micro-benchmarks against a running server") { cmd };
    }

    private static int Run(string connect, int keyCount, int ops, int rounds, int warmup)
    {
        if (keyCount is < 1 or > 1024) return CliErrors.Fail("--keys must be 1..1024");
        if (ops < 1) return CliErrors.Fail("--ops must be at least 1");
        if (rounds < 1) return CliErrors.Fail("--rounds must be at least 1");
        if (warmup < 0) return CliErrors.Fail("--warmup must not be negative");
        IPEndPoint server;
        try
        {
            server = RemoteYcsbCommand.ParseEndPoint(connect);
        }
        catch (FormatException e)
        {
            return CliErrors.Fail($"--connect: {e.Message}");
        }

        using var store = RemoteScalioStore.Connect(server);
        using var client = store.OpenClient();
        var d = store.Descriptor;
        var layout = d.Layout;
        var keys = new byte[keyCount][];
        var value = new byte[layout.ValueCapacity];
        for (int i = 0; i < keyCount; i++)
        {
            keys[i] = Encoding.ASCII.GetBytes($"hitbench{i:D5}");
            Encoding.ASCII.GetBytes($"value of hitbench{i:D5}").CopyTo(value, 0);
            var st = client.Put(keys[i], value.AsSpan(0, Math.Min(value.Length, 32)));
            if (st != OpStatus.Ok) return CliErrors.Fail($"PUT of a bench key failed: {st}");
        }
        // Warm: GET until every key hits (its first GET fills the slot).
        for (int pass = 0; pass < 3; pass++)
            foreach (var k in keys) _ = client.Get(k, value, out _);

        using var raw = RawReader.Connect(server, d, keys);
        var hitLeg = new HitLeg(client, keys, value);
        raw.Run(warmup);
        hitLeg.Run(warmup);

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"remote-hit bench: server {server} over tcp;ofi_rxm, {layout}, {keyCount} keys, {rounds} rounds x {ops:N0} ops per leg, 1 thread, one operation in flight"));
        Console.WriteLine("  raw READ: fi_read of one cache bucket on a connection of its own; GET hit: RemoteScalioClient.Get of a cached key (bucket READ + unsignaled stamp WRITE)");
        double rawSeconds = 0, hitSeconds = 0;
        long hitsBefore = store.ReadCounters().Hits, getsBefore = store.ReadCounters().Gets;
        var rawRates = new double[rounds];
        var hitRates = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            double rs, hs;
            if ((r & 1) == 0) { rs = raw.Run(ops); hs = hitLeg.Run(ops); }
            else { hs = hitLeg.Run(ops); rs = raw.Run(ops); }
            rawSeconds += rs;
            hitSeconds += hs;
            rawRates[r] = ops / rs;
            hitRates[r] = ops / hs;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {r + 1}: raw READ {rawRates[r],9:N0} ops/s ({rs * 1e6 / ops,6:F1} µs/op)   GET hit {hitRates[r],9:N0} ops/s ({hs * 1e6 / ops,6:F1} µs/op)   ratio {hitRates[r] / rawRates[r]:F2}"));
        }
        var c = store.ReadCounters();
        long gets = c.Gets - getsBefore, hits = c.Hits - hitsBefore;
        double rawRate = rounds * (double)ops / rawSeconds, hitRate = rounds * (double)ops / hitSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"raw READ rate: {rawRate:N0} ops/s (median round {Median(rawRates):N0})"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"GET hit rate: {hitRate:N0} ops/s (median round {Median(hitRates):N0}); {hits:N0} hits of {gets:N0} GETs"));
        if (hits != gets) return CliErrors.Fail($"{gets - hits} of the timed GETs missed: the rate is not a hit rate (is the cache too small for {keyCount} keys?)");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio: {hitRate / rawRate:F2}"));
        return 0;
    }

    private static double Median(double[] v)
    {
        var s = (double[])v.Clone();
        Array.Sort(s);
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>The GET leg: round-robin GETs of the warmed keys.</summary>
    private sealed class HitLeg(RemoteScalioClient client, byte[][] keys, byte[] value)
    {
        private int _next;

        public double Run(int ops)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < ops; i++)
            {
                var st = client.Get(keys[_next], value, out _);
                if (st != OpStatus.Ok) throw new InvalidOperationException($"a bench GET failed: {st}");
                if (++_next == keys.Length) _next = 0;
            }
            return Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
    }

    /// <summary>The READ leg: its own domain and endpoint, connected to the server as a client is, reading the buckets
    /// of the bench keys from the server's cache region into a registered buffer, one READ in flight.</summary>
    private sealed class RawReader : IDisposable
    {
        private readonly LibfabricFabric _fabric;
        private readonly LibfabricDomain _domain;
        private readonly LibfabricConnection _link;
        private readonly MemoryRegion _buffer;
        private readonly ulong[] _offsets;
        private readonly uint _length, _cacheKey;
        private ulong _id;
        private int _next;

        private RawReader(LibfabricFabric fabric, LibfabricDomain domain, LibfabricConnection link, ServerDescriptor d, byte[][] keys)
        {
            _fabric = fabric;
            _domain = domain;
            _link = link;
            _length = (uint)d.Layout.BucketSize;
            _cacheKey = d.CacheKey;
            _buffer = domain.Allocate((nuint)((_length + 4095) & ~4095u), MemoryAccess.All, 4096);
            _offsets = new ulong[keys.Length];
            for (int i = 0; i < keys.Length; i++)
                _offsets[i] = (ulong)d.BucketsOffset + (ulong)new KeyHash(keys[i]).CacheBucket(d.CacheBuckets) * _length;
        }

        public static RawReader Connect(IPEndPoint server, ServerDescriptor d, byte[][] keys)
        {
            var fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp", Node = RemoteScalioStore.LocalAddressTowards(server.Address) });
            LibfabricDomain? domain = null;
            try
            {
                domain = fabric.CreateDomain();
                var link = LibfabricConnector.Connect(domain, server, options: new QueuePairOptions { MaxReceives = 2 }, timeoutMilliseconds: 5000);
                return new RawReader(fabric, domain, link, d, keys);
            }
            catch
            {
                domain?.Dispose();
                fabric.Dispose();
                throw;
            }
        }

        public double Run(int ops)
        {
            var qp = _link.QueuePair;
            var cq = qp.SendQueue;
            ulong local = _buffer.AddressOf(0);
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < ops; i++)
            {
                ulong id = ++_id;
                qp.PostSend(WorkRequest.Read(id, local, _length, _buffer.LocalKey, _offsets[_next], _cacheKey));
                if (++_next == _offsets.Length) _next = 0;
                if (!cq.PollBlocking(out var wc, 10_000)) throw new TimeoutException("no READ completion in 10 s");
                if (!wc.IsSuccess || wc.Id != id) throw new InvalidOperationException($"READ failed: {wc.Status}");
            }
            return Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }

        public void Dispose()
        {
            _link.Dispose();
            _buffer.Dispose();
            _domain.Dispose();
            _fabric.Dispose();
        }
    }
}
