using System.Buffers.Binary;
using System.Text;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;

namespace Scalio.Tests.Protocol;

/// <summary>Victim choice: bucket-local LRU by access stamps, and sampled LRU.</summary>
public class EvictionTests
{
    /// <summary>
    /// Fills the single bucket with 8 keys, gives their slots distinct access stamps (a shuffled order), misses on a
    /// new key, and returns the stamp rank (0 = oldest) of the slot that was evicted; repeated <paramref name="trials"/> times.
    /// </summary>
    private static List<int> EvictedRanks(EvictionPolicy policy, int trials)
    {
        using var store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = 1000,
            CacheBuckets = 1,
            Client = new ScalioClientOptions { Eviction = policy, EvictionSamples = 2 },
        });
        using var c = store.OpenClient();
        int slots = store.Layout.SlotsPerBucket;
        var buf = new byte[64];
        var rnd = new Random(3);
        var ranks = new List<int>();
        for (int k = 0; k < slots + trials; k++)
            Assert.Equal(OpStatus.Ok, c.Put(Encoding.ASCII.GetBytes($"e{k}"), Encoding.ASCII.GetBytes($"v{k}")));
        for (int k = 0; k < slots; k++) Assert.Equal(OpStatus.Ok, c.Get(Encoding.ASCII.GetBytes($"e{k}"), buf, out _));

        for (int t = 0; t < trials; t++)
        {
            var before = CacheScan.All(store);
            Assert.All(before, s => Assert.Equal(SlotState.Valid, s.State));
            // Distinct stamps in a random order (owner-side stores of the stamp field, which no checksum covers).
            var order = Enumerable.Range(0, slots).OrderBy(_ => rnd.Next()).ToArray();
            var span = store.Server.CacheRegion.Span;
            for (int s = 0; s < slots; s++)
                BinaryPrimitives.WriteUInt32LittleEndian(span[((int)CacheScan.SlotOffset(store, 0, s) + SlotLayout.StampOffset)..], (uint)(1000 + 10 * order[s]));

            string newKey = $"e{slots + t}";
            Assert.Equal(OpStatus.Ok, c.Get(Encoding.ASCII.GetBytes(newKey), buf, out _));
            var after = CacheScan.All(store);
            int evicted = after.FindIndex(s => s.Key == newKey);
            Assert.True(evicted >= 0, "the missed key was not cached");
            Assert.Equal(1, after.Count(s => s.Key == newKey));
            ranks.Add(order[evicted]);
        }
        return ranks;
    }

    [Fact]
    public void Bucket_lru_evicts_the_slot_with_the_oldest_stamp()
    {
        var ranks = EvictedRanks(EvictionPolicy.BucketLru, 12);
        Assert.All(ranks, r => Assert.Equal(0, r));
    }

    [Fact]
    public void Sampled_lru_evicts_the_older_of_its_samples_never_the_youngest_slot()
    {
        var ranks = EvictedRanks(EvictionPolicy.Sampled, 40);
        Assert.DoesNotContain(7, ranks);                 // with two distinct samples the youngest always loses
        Assert.Contains(ranks, r => r > 0);               // and it is not plain LRU
        Assert.True(ranks.Distinct().Count() >= 3, string.Join(",", ranks));
        Assert.True(ranks.Average() < 3.5, $"mean rank {ranks.Average()}: samples are not compared by stamp");
    }

    [Fact]
    public void Sample_count_out_of_range_is_refused()
    {
        using var store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = 1000,
            Client = new ScalioClientOptions { Eviction = EvictionPolicy.Sampled, EvictionSamples = 9 },
        });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => store.OpenClient());
        Assert.Contains("EvictionSamples", e.Message);
    }
}
