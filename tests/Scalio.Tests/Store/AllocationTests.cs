using System.Text;
using Scalio.Fast;

namespace Scalio.Tests.Store;

public class AllocationTests
{
    [Fact]
    public void Get_hit_get_miss_with_fill_and_put_allocate_nothing()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 4000, CacheBuckets = 2 });
        using var c = store.OpenClient();
        var keys = new byte[400][];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = Encoding.ASCII.GetBytes($"k{i:D6}");
            Assert.Equal(OpStatus.Ok, c.Put(keys[i], new byte[64]));
        }
        var value = new byte[64];
        // Warm up: JIT, tiering, first-use lazies.
        for (int r = 0; r < 3; r++)
            foreach (var k in keys) c.Get(k, value, out _);

        long hitsBefore = c.Counters.Hits, fillsBefore = c.Counters.Fills;
        // Up to three rounds, judged by the cleanest (as the process-wide gate does): an allocation made per operation
        // shows in every round; a one-off under a loaded host (seen once in ~10 CI runs) does not fail the gate alone.
        var rounds = new List<string>();
        long allocated = -1;
        for (int round = 0; round < 3 && allocated != 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 250; i++) c.Get(keys[0], value, out _); // hits
            long afterHits = GC.GetAllocatedBytesForCurrentThread();
            for (int r = 0; r < 5; r++)
                foreach (var k in keys) c.Get(k, value, out _);   // 16-slot cache: mostly misses with fills
            long afterMisses = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 200; i++) c.Put(keys[i], value);
            long afterPuts = GC.GetAllocatedBytesForCurrentThread();
            allocated = afterPuts - before;
            rounds.Add($"hits {afterHits - before} B, misses {afterMisses - afterHits} B, puts {afterPuts - afterMisses} B");
        }
        Assert.True(allocated == 0, string.Join("; ", rounds));

        Assert.True(c.Counters.Hits - hitsBefore > 200, "expected hits");
        Assert.True(c.Counters.Fills - fillsBefore > 1000, "expected misses with fills");
        Assert.Equal(0, allocated);
    }
}
