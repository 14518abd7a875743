using System.Text;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Verbs;

namespace Scalio.Tests.Protocol;

/// <summary>READs of the cache torn at chosen byte boundaries, with writers landing between the halves.</summary>
public class TornReadTests
{
    /// <summary>Tears the next cache READ of one thread at a fixed boundary and runs an action between the halves.</summary>
    private sealed class OneShotTear : LoopbackFaults
    {
        public uint CacheKey;
        public volatile int ArmedThread = -1;
        public int Boundary;
        public Action? Between;
        public int Torn;

        public override int TearReadAt(uint queuePairNumber, uint remoteKey, ulong remoteOffset, uint length)
        {
            if (remoteKey != CacheKey || Environment.CurrentManagedThreadId != ArmedThread) return 0;
            ArmedThread = -1;
            Torn++;
            return Boundary;
        }

        public override void BetweenTornHalves(uint queuePairNumber)
        {
            var action = Between;
            Between = null;
            action?.Invoke();
        }
    }

    private static byte[] Fill(char c) => Encoding.ASCII.GetBytes(new string(c, 64));

    [Theory]
    [InlineData(0)]   // first byte of the value
    [InlineData(10)]  // inside the value
    [InlineData(63)]  // last byte of the value
    [InlineData(-4)]  // inside the key
    [InlineData(-8)]  // between the lengths and the key
    public void A_read_torn_by_a_refill_between_its_halves_is_retried_and_returns_a_whole_value(int atValueByte)
    {
        var faults = new OneShotTear();
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, CacheBuckets = 1, Fabric = new LoopbackOptions { Faults = faults } });
        faults.CacheKey = store.Server.CacheRegion.RemoteKey;
        using var reader = store.OpenClient();
        using var writer = store.OpenClient();
        var key = Encoding.ASCII.GetBytes("torn-key");
        byte[] v1 = Fill('a'), v2 = Fill('b');
        Assert.Equal(OpStatus.Ok, writer.Put(key, v1));
        var buf = new byte[64];
        Assert.Equal(OpStatus.Ok, reader.Get(key, buf, out _)); // fills slot 0 (the bucket's first FREE slot)
        var slot = CacheScan.Read(store, 0, 0);
        Assert.Equal(SlotState.Valid, slot.State);
        Assert.Equal("torn-key", slot.Key);

        // Between the halves of the reader's next bucket READ, a PUT invalidates slot 0 and a GET refills it with v2:
        // the first half carries the old VALID header, checksum and part of the body, the second half the new body.
        faults.Boundary = store.Layout.ValueOffset + atValueByte;
        faults.Between = () =>
        {
            Assert.Equal(OpStatus.Ok, writer.Put(key, v2));
            Assert.Equal(OpStatus.Ok, writer.Get(key, new byte[64], out _));
            Assert.Equal("torn-key", CacheScan.Read(store, 0, 0).Key); // the refill landed on the slot being read
        };
        faults.ArmedThread = Environment.CurrentManagedThreadId;
        long tornBefore = reader.Counters.TornRetries;
        Assert.Equal(OpStatus.Ok, reader.Get(key, buf, out int n));

        Assert.Equal(1, faults.Torn);
        Assert.Null(faults.Between);
        Assert.Equal(64, n);
        Assert.Equal(v2, buf); // never a mix of v1 and v2, and (the put having returned) not v1
        Assert.Equal(1, reader.Counters.TornRetries - tornBefore);
    }

    /// <summary>
    /// Seeded random tears for the reader threads: each cache READ is torn with probability 1/2, inside the slot that
    /// holds the key being read, at a boundary drawn from a list; between the halves the thread's own writer client
    /// puts a new value for that key and reads it back (invalidate + refill), so writers really land in between.
    /// </summary>
    private sealed class RandomTearsWithWriters(ScalioStore store, int[] boundaries) : LoopbackFaults, IDisposable
    {
        public sealed class Context
        {
            public required ScalioClient Writer;
            public required Random Random;
            public string Key = "";
            public int Client, Serial;
            public bool Busy;
        }

        public readonly ThreadLocal<Context?> Current = new();
        public uint CacheKey;
        public int Tears;

        public void Dispose() => Current.Dispose();

        public override int TearReadAt(uint queuePairNumber, uint remoteKey, ulong remoteOffset, uint length)
        {
            var c = Current.Value;
            if (c is null || c.Busy || remoteKey != CacheKey || c.Random.Next(2) == 0) return 0;
            int slot = CacheScan.All(store).FindIndex(v => v.State == SlotState.Valid && v.Key == c.Key);
            if (slot < 0) return 0;
            Interlocked.Increment(ref Tears);
            return slot * store.Layout.SlotSize + boundaries[c.Random.Next(boundaries.Length)];
        }

        public override void BetweenTornHalves(uint queuePairNumber)
        {
            var c = Current.Value!;
            c.Busy = true;
            var key = Encoding.ASCII.GetBytes(c.Key);
            Assert.Equal(OpStatus.Ok, c.Writer.Put(key, SelfChecking(c.Key, 100 + c.Client, c.Serial++)));
            Assert.Equal(OpStatus.Ok, c.Writer.Get(key, new byte[64], out _));
            c.Busy = false;
        }
    }

    [Fact]
    public void Random_tears_under_concurrent_fills_never_return_a_wrong_value()
    {
        int[] boundaries = [4, 8, 12, 17, 20, 26, SlotLayout.Default.ValueOffset, SlotLayout.Default.ValueOffset + 31, SlotLayout.Default.SlotSize - 4];
        RandomTearsWithWriters? faults = null;
        var options = new LoopbackOptions { Faults = new LazyFaults(() => faults) };
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, CacheBuckets = 1, Fabric = options });
        faults = new RandomTearsWithWriters(store, boundaries) { CacheKey = store.Server.CacheRegion.RemoteKey };
        const int keys = 6, threads = 3;
        var errors = new List<string>();
        long deadline = Environment.TickCount64 + 1200;
        var workers = new Thread[threads];
        var clients = new ScalioClient[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            clients[t] = store.OpenClient();
            var writer = store.OpenClient();
            workers[t] = new Thread(() =>
            {
                var c = clients[id];
                var rnd = new Random(id);
                var ctx = new RandomTearsWithWriters.Context { Writer = writer, Random = new Random(1000 + id), Client = id };
                faults.Current.Value = ctx;
                var buf = new byte[64];
                for (int i = 0; Environment.TickCount64 < deadline; i++)
                {
                    string k = $"k{rnd.Next(keys)}";
                    var key = Encoding.ASCII.GetBytes(k);
                    if (rnd.Next(4) == 0)
                    {
                        ctx.Busy = true;
                        if (c.Put(key, SelfChecking(k, id, i)) != OpStatus.Ok) lock (errors) errors.Add("put failed");
                        ctx.Busy = false;
                    }
                    else
                    {
                        ctx.Key = k;
                        var st = c.Get(key, buf, out int n);
                        if (st == OpStatus.Ok && !IsSelfChecking(k, buf.AsSpan(0, n)))
                            lock (errors) errors.Add($"get {k} returned '{Encoding.ASCII.GetString(buf, 0, n)}'");
                        else if (st is not (OpStatus.Ok or OpStatus.NotFound)) lock (errors) errors.Add($"get {k}: {st}");
                    }
                }
            });
        }
        foreach (var w in workers) w.Start();
        foreach (var w in workers) Assert.True(w.Join(TimeSpan.FromSeconds(30)), "worker did not finish");
        Assert.Empty(errors);
        long torn = 0, hits = 0;
        foreach (var c in clients) { torn += c.Counters.TornRetries; hits += c.Counters.Hits; }
        Assert.True(faults.Tears > 50, $"only {faults.Tears} READs were torn");
        Assert.True(torn >= 10, $"{torn} torn images detected ({faults.Tears} tears, {hits} hits)");
        faults.Dispose();
    }

    /// <summary>Forwards to faults created after the store (they need the store to find slots).</summary>
    private sealed class LazyFaults(Func<LoopbackFaults?> get) : LoopbackFaults
    {
        public override int TearReadAt(uint queuePairNumber, uint remoteKey, ulong remoteOffset, uint length)
            => get()?.TearReadAt(queuePairNumber, remoteKey, remoteOffset, length) ?? 0;

        public override void BetweenTornHalves(uint queuePairNumber) => get()?.BetweenTornHalves(queuePairNumber);
    }

    // Values 64 bytes long that name their key and carry a checksum of themselves: any mix of two is detectable.
    private static byte[] SelfChecking(string key, int client, int i)
    {
        var body = $"{key}|{client}|{i}|".PadRight(56, (char)('a' + (i % 26)));
        uint sum = (uint)System.IO.Hashing.XxHash32.HashToUInt32(Encoding.ASCII.GetBytes(body));
        return Encoding.ASCII.GetBytes(body + sum.ToString("x8"));
    }

    private static bool IsSelfChecking(string key, ReadOnlySpan<byte> value)
    {
        if (value.Length != 64) return false;
        var text = Encoding.ASCII.GetString(value);
        if (!text.StartsWith(key + "|", StringComparison.Ordinal)) return false;
        uint sum = System.IO.Hashing.XxHash32.HashToUInt32(value[..56]);
        return text[56..] == sum.ToString("x8");
    }
}
