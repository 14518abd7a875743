using System.Runtime.CompilerServices;

namespace Scalio.Cluster;

/// <summary>
/// Rendezvous (highest-random-weight) hashing: a key belongs to the server whose score <c>mix(keyHash ^ seed(id))</c>
/// is highest. Chosen over a consistent-hash ring because: adding an Nth server moves only the keys the new server wins,
/// about 1/N of them, and every moved key moves <i>to</i> the new server (removing one moves only its own keys), with no
/// virtual-node tables to size, build or keep in step between clients and servers (a map is just a list of ids); balance
/// is that of a good hash without tuning; and sorting the scores gives each key an ordered owner list, so a chain of
/// R replicas (head first) comes from the same function later. Its cost, O(servers) hashes per key, is a few
/// nanoseconds for the tens of servers of a rack. The key hash is the store's own 64-bit XxHash3 of the key
/// (<see cref="Scalio.Fast.Cache.KeyHash"/>), mixed again per server so the placement is independent of the cache and
/// SSD bucket choices made from the same hash.
/// </summary>
public static class RendezvousPlacement
{
    /// <summary>The per-server seed: a mix of its id.</summary>
    public static ulong Seed(int serverId) => Mix((ulong)(uint)serverId * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL);

    /// <summary>The score of a key (by its 64-bit hash) on a server (by its seed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Score(ulong keyHash, ulong seed) => Mix(keyHash ^ seed);

    /// <summary>Index in <paramref name="seeds"/> of the highest score; -1 when empty. Ties (2^-64) go to the lower index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Winner(ulong keyHash, ReadOnlySpan<ulong> seeds)
    {
        int best = -1;
        ulong top = 0;
        for (int i = 0; i < seeds.Length; i++)
        {
            ulong s = Score(keyHash, seeds[i]);
            if (best < 0 || s > top) { best = i; top = s; }
        }
        return best;
    }

    /// <summary>Fills <paramref name="ranked"/> with the indexes of the highest scores, best first (up to its length);
    /// returns how many. Allocates nothing.</summary>
    public static int Ranked(ulong keyHash, ReadOnlySpan<ulong> seeds, Span<int> ranked)
    {
        int n = Math.Min(ranked.Length, seeds.Length);
        for (int k = 0; k < n; k++)
        {
            int best = -1;
            ulong top = 0;
            for (int i = 0; i < seeds.Length; i++)
            {
                bool taken = false;
                for (int j = 0; j < k; j++) if (ranked[j] == i) { taken = true; break; }
                if (taken) continue;
                ulong s = Score(keyHash, seeds[i]);
                if (best < 0 || s > top) { best = i; top = s; }
            }
            ranked[k] = best;
        }
        return n;
    }

    /// <summary>The 64-bit finalizer of SplitMix64 (Steele, Lea, Flood 2014): every input bit affects every output bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
