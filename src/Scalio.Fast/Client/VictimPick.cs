using System.Buffers.Binary;
using Scalio.Fast.Cache;

namespace Scalio.Fast.Client;

/// <summary>How a miss picks the slot to evict from a bucket that has no FREE slot.</summary>
public enum EvictionPolicy
{
    /// <summary>Bucket-local LRU: the VALID slot with the oldest access stamp (every slot's stamp is in the bucket image
    /// the GET already read, so this costs nothing extra).</summary>
    BucketLru = 0,

    /// <summary>Sampled LRU: the VALID slot with the oldest stamp among <see cref="ScalioClientOptions.EvictionSamples"/>
    /// slots drawn at random (as Redis approximates LRU). Spreads evictions over the bucket, so clients that miss at
    /// the same moment rarely pick the same victim and collide on its CAS.</summary>
    Sampled = 1,
}

// Victim pick (GET step 3): the slot a miss evicts.
public sealed unsafe partial class ScalioClient
{
    /// <summary>The slot to evict for a miss, or -1 when the bucket has none (every slot is being filled).</summary>
    private int PickVictim(ReadOnlySpan<byte> image, in BucketScan scan)
        => scan.Free >= 0 ? scan.Free : _options.Eviction == EvictionPolicy.Sampled ? SampledVictim(image, scan.Oldest) : scan.Oldest;


    /// <summary>Earlier misses of <paramref name="batch"/> in lane <paramref name="lane"/>'s bucket: returns the one holding
    /// the same key (-1 when none), and gives the victims the others chose (two CASes on one slot: one would lose).</summary>
    private static int EarlierMisses(ScalioGetBatch batch, int lane, out ulong taken)
    {
        var lanes = batch.Lanes;
        ref var me = ref lanes[lane];
        var key = batch.KeyOf(lane);
        taken = 0;
        for (int j = 0; j < lane; j++)
        {
            ref var other = ref lanes[j];
            if (other.Stage != ScalioGetBatch.Stage.Miss || other.Bucket != me.Bucket) continue;
            if (other.Hash.Fingerprint == me.Hash.Fingerprint && batch.KeyOf(j).SequenceEqual(key)) return j;
            taken |= 1UL << other.Victim;
        }
        return -1;
    }

    /// <summary>The slot to evict for a miss of a batch whose earlier misses already chose the slots in
    /// <paramref name="taken"/> of this bucket: the first FREE slot not taken, else the VALID one with the oldest stamp
    /// (the bucket's LRU whatever the policy: the sample would have to skip them anyway); -1 when none is left.</summary>
    private int PickVictim(ReadOnlySpan<byte> image, in BucketScan scan, ulong taken)
    {
        if (taken == 0) return PickVictim(image, in scan);
        int oldest = -1;
        uint oldestStamp = uint.MaxValue;
        for (int i = 0; i < _layout.SlotsPerBucket; i++)
        {
            if ((taken & (1UL << i)) != 0) continue;
            var state = SlotHeader.State(_layout.HeaderAt(image, i));
            if (state == SlotState.Free) return i;
            if (state != SlotState.Valid) continue;
            uint stamp = BinaryPrimitives.ReadUInt32LittleEndian(_layout.SlotAt(image, i)[SlotLayout.StampOffset..]);
            if (oldest < 0 || stamp < oldestStamp) { oldest = i; oldestStamp = stamp; }
        }
        return oldest;
    }

    /// <summary>
    /// Sampled eviction: draws <see cref="ScalioClientOptions.EvictionSamples"/> distinct slots of the bucket image and
    /// returns the VALID one with the oldest access stamp; <paramref name="fallback"/> (the bucket's LRU slot) when no
    /// sampled slot is VALID.
    /// </summary>
    private int SampledVictim(ReadOnlySpan<byte> image, int fallback)
    {
        int slots = _layout.SlotsPerBucket;
        int samples = Math.Min(_options.EvictionSamples, slots);
        ulong taken = 0;
        int victim = -1;
        uint victimStamp = uint.MaxValue;
        for (int n = 0; n < samples; n++)
        {
            int i = NextRandom(slots);
            while ((taken & (1UL << i)) != 0) i = i + 1 == slots ? 0 : i + 1; // distinct slots
            taken |= 1UL << i;
            if (SlotHeader.State(_layout.HeaderAt(image, i)) != SlotState.Valid) continue;
            uint stamp = BinaryPrimitives.ReadUInt32LittleEndian(_layout.SlotAt(image, i)[SlotLayout.StampOffset..]);
            if (victim < 0 || stamp < victimStamp)
            {
                victim = i;
                victimStamp = stamp;
            }
        }
        return victim >= 0 ? victim : fallback;
    }
}
