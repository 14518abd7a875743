using System.Buffers.Binary;
using System.Text;
using Scalio.Fast;

namespace Scalio.Tests.Store;

public class StoreTests
{
    private static byte[] Key(string s) => Encoding.ASCII.GetBytes(s);

    private static byte[] Value(string s)
    {
        var v = new byte[64];
        Encoding.ASCII.GetBytes(s).CopyTo(v, 0);
        return v;
    }

    private static ScalioStore Small(int records = 1000, int cacheBuckets = 4) => new(new ScalioStoreOptions { ExpectedRecords = records, CacheBuckets = cacheBuckets });

    [Fact]
    public void Miss_fills_the_cache_and_the_next_get_hits()
    {
        using var store = Small();
        using var c = store.OpenClient();
        Assert.Equal(OpStatus.Ok, c.Put(Key("alpha"), Value("one")));
        var buf = new byte[64];

        long serverBefore = store.Server.Requests;
        Assert.Equal(OpStatus.Ok, c.Get(Key("alpha"), buf, out int n));
        Assert.Equal(64, n);
        Assert.Equal(Value("one"), buf);
        Assert.Equal(1, c.Counters.Fills);
        Assert.Equal(1, c.Counters.OffloadedReads);
        Assert.Equal(0, c.Counters.Hits);

        long rtBefore = c.Counters.RoundTrips;
        Assert.Equal(OpStatus.Ok, c.Get(Key("alpha"), buf, out n));
        Assert.Equal(Value("one"), buf);
        Assert.Equal(1, c.Counters.Hits);
        Assert.Equal(1, c.Counters.RoundTrips - rtBefore); // a hit is one RDMA READ
        Assert.Equal(serverBefore, store.Server.Requests); // GETs never reach the server CPU
        Assert.Equal(1, store.OffloadTarget.Commands);
    }

    [Fact]
    public void Put_then_get_returns_the_new_value_even_when_the_old_one_was_cached()
    {
        using var store = Small();
        using var c = store.OpenClient();
        var buf = new byte[64];
        c.Put(Key("k"), Value("v1"));
        Assert.Equal(OpStatus.Ok, c.Get(Key("k"), buf, out _));
        Assert.Equal(OpStatus.Ok, c.Get(Key("k"), buf, out _)); // cached
        Assert.Equal(OpStatus.Ok, c.Put(Key("k"), Value("v2")));
        Assert.True(store.Server.Invalidations >= 1);
        Assert.Equal(OpStatus.Ok, c.Get(Key("k"), buf, out _));
        Assert.Equal(Value("v2"), buf);
    }

    [Fact]
    public void Delete_removes_the_key_from_ssd_and_cache()
    {
        using var store = Small();
        using var c = store.OpenClient();
        var buf = new byte[64];
        c.Put(Key("gone"), Value("x"));
        c.Put(Key("kept"), Value("y"));
        Assert.Equal(OpStatus.Ok, c.Get(Key("gone"), buf, out _));
        Assert.Equal(OpStatus.Ok, c.Delete(Key("gone")));
        Assert.Equal(OpStatus.NotFound, c.Get(Key("gone"), buf, out _));
        Assert.Equal(OpStatus.Ok, c.Get(Key("kept"), buf, out _));
        Assert.Equal(Value("y"), buf);
        Assert.Equal(OpStatus.NotFound, c.Get(Key("never"), buf, out _));
        Assert.Equal(OpStatus.Ok, c.Delete(Key("never"))); // deleting an absent key is not an error
    }

    [Fact]
    public void Oversized_key_or_value_is_rejected_before_any_io()
    {
        using var store = Small();
        using var c = store.OpenClient();
        var before = store.ReadCounters();
        var ex = Assert.Throws<ArgumentException>(() => c.Put(new byte[17], new byte[8]));
        Assert.Contains("17 bytes exceeds the schema's 16-byte limit", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => c.Put(new byte[4], new byte[65]));
        Assert.Contains("65 bytes exceeds the schema's 64-byte limit", ex.Message);
        Assert.Throws<ArgumentException>(() => c.Get(new byte[17], new byte[64], out _));
        Assert.Throws<ArgumentException>(() => c.Get(ReadOnlySpan<byte>.Empty, new byte[64], out _));
        Assert.Throws<ArgumentException>(() => c.Get(new byte[4], new byte[10], out _));
        var after = store.ReadCounters();
        Assert.Equal(before.Clients.RoundTrips, after.Clients.RoundTrips);
        Assert.Equal(before.DeviceReads + before.DeviceWrites, after.DeviceReads + after.DeviceWrites);
        Assert.Equal(before.ServerRequests, after.ServerRequests);
    }

    [Fact]
    public void Many_keys_through_a_tiny_cache_all_read_back()
    {
        using var store = Small(records: 2000, cacheBuckets: 2);
        using var c = store.OpenClient();
        for (int i = 0; i < 500; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"key{i}"), Value($"value{i}")));
        var buf = new byte[64];
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < 500; i++)
            {
                Assert.Equal(OpStatus.Ok, c.Get(Key($"key{i}"), buf, out _));
                Assert.Equal(Value($"value{i}"), buf);
            }
        Assert.True(c.Counters.Hits < c.Counters.Gets, "a 16-slot cache cannot hold 500 keys");
    }

    [Fact]
    public void Concurrent_readers_never_see_a_value_older_than_the_last_completed_put()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, CacheBuckets = 1, Client = new() { FillWaitMicroseconds = 50 } });
        byte[] key = Key("hot");
        using (var c = store.OpenClient()) c.Put(key, BitConverter.GetBytes(0L));
        long lastCompleted = 0;
        int violations = 0;
        var deadline = Environment.TickCount64 + 3000;
        var threads = new List<Thread>();
        threads.Add(new Thread(() =>
        {
            using var c = store.OpenClient();
            for (long v = 1; v <= 300 && Environment.TickCount64 < deadline; v++)
            {
                Assert.Equal(OpStatus.Ok, c.Put(key, BitConverter.GetBytes(v)));
                Volatile.Write(ref lastCompleted, v);
            }
        }));
        for (int r = 0; r < 3; r++)
        {
            threads.Add(new Thread(() =>
            {
                using var c = store.OpenClient();
                var buf = new byte[64];
                // Other keys in the same single bucket keep evicting the hot one.
                for (int i = 0; i < 3000 && Environment.TickCount64 < deadline; i++)
                {
                    long floor = Volatile.Read(ref lastCompleted);
                    if (i % 3 == 0) c.Get(Key($"cold{i % 20}"), buf, out _);
                    if (c.Get(key, buf, out _) != OpStatus.Ok) { Interlocked.Increment(ref violations); continue; }
                    long seen = BinaryPrimitives.ReadInt64LittleEndian(buf);
                    if (seen < floor) Interlocked.Increment(ref violations);
                }
            }));
        }
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        Assert.Equal(0, violations);
        Assert.True(Volatile.Read(ref lastCompleted) > 0);
    }
}
