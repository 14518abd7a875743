using System.Text;
using Scalio.Checking;
using Scalio.Fast;

namespace Scalio.Tests.Store;

/// <summary>Many clients on a tiny cache (constant eviction), histories recorded and judged by the checker.</summary>
public class LinearizabilityTests
{
    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 50)]
    [InlineData(3, 5)]
    public void Concurrent_gets_puts_and_deletes_on_a_tiny_cache_are_linearizable(int seed, int fillWaitMicros)
    {
        const int clients = 4, keys = 6, opsPerClient = 400;
        using var store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = 1000,
            CacheBuckets = 1, // 8 slots for 6 keys plus eviction pressure from the fills
            Client = new() { FillWaitMicroseconds = fillWaitMicros },
        });
        var recorder = new HistoryRecorder(clients, opsPerClient + 8, 64);
        var threads = new Thread[clients];
        var errors = new List<Exception>();
        for (int t = 0; t < clients; t++)
        {
            int id = t;
            threads[t] = new Thread(() =>
            {
                try
                {
                    using var c = store.OpenClient();
                    var rec = recorder.Client(id);
                    var rnd = new Random(seed * 100 + id);
                    var value = new byte[64];
                    var key = new byte[8];
                    for (int i = 0; i < opsPerClient; i++)
                    {
                        Encoding.ASCII.GetBytes($"key{rnd.Next(keys)}", key);
                        int roll = rnd.Next(100);
                        if (roll < 60)
                        {
                            int h = rec.BeginGet(key);
                            var st = c.Get(key, value, out int n);
                            if (st == OpStatus.Ok) rec.CompleteGet(h, value.AsSpan(0, n));
                            else if (st == OpStatus.NotFound) rec.CompleteGetNotFound(h);
                            else throw new InvalidOperationException($"GET failed: {st}");
                        }
                        else if (roll < 92)
                        {
                            var v = Encoding.ASCII.GetBytes($"c{id}-{i}");
                            int h = rec.BeginPut(key, v);
                            if (c.Put(key, v) != OpStatus.Ok) throw new InvalidOperationException("PUT failed");
                            rec.Complete(h);
                        }
                        else
                        {
                            int h = rec.BeginDelete(key);
                            if (c.Delete(key) != OpStatus.Ok) throw new InvalidOperationException("DELETE failed");
                            rec.Complete(h);
                        }
                    }
                }
                catch (Exception e)
                {
                    lock (errors) errors.Add(e);
                }
            });
        }
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        Assert.Empty(errors);

        var history = recorder.ToOperations();
        Assert.Equal(clients * opsPerClient, history.Count);
        var result = LinearizabilityChecker.Check(history);
        Assert.True(result.Verdict == Verdict.Linearizable, result.Format());
        var counters = store.ReadCounters();
        Assert.True(counters.Clients.Fills > 0 && counters.Clients.Hits > 0, "the run must exercise both hits and fills");
    }
}
