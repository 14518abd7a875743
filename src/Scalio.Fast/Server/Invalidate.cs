using System.Runtime.InteropServices;
using Scalio.Fast.Cache;

namespace Scalio.Fast.Server;

public sealed unsafe partial class ScalioServer
{
    /// <summary>
    /// After a write is durable and its location published: every slot of the key's bucket that may hold the key
    /// goes VALID -> FREE, FILLING -> ORPHAN (a FILLING slot's key is not written yet, so any fingerprint match is
    /// orphaned: a false match costs one wasted fill, never a stale value). Header changes go through
    /// <see cref="ServerAtomics"/>; a failed CAS re-examines the slot, for as long as it takes.
    /// </summary>
    internal void Invalidate(in KeyHash hash, ReadOnlySpan<byte> key)
    {
        int bucket = hash.CacheBucket(_options.CacheBuckets);
        ushort fp = hash.Fingerprint;
        long bucketOffset = BucketsOffset + (long)bucket * _layout.BucketSize;
        for (int i = 0; i < _layout.SlotsPerBucket; i++)
        {
            long slotOffset = bucketOffset + (long)i * _layout.SlotSize;
            // Never gives up: a failed CAS means another party moved the header on, and a slot left VALID would serve
            // the old value after the write was acknowledged.
            for (int attempt = 0; ; attempt++)
            {
                if (attempt >= 64) Thread.Yield(); // let the party that keeps winning finish its step
                ulong h = _atomics.Read(slotOffset);
                if (SlotHeader.Fingerprint(h) != fp) break;
                var state = SlotHeader.State(h);
                ulong next;
                if (state == SlotState.Filling)
                {
                    next = SlotHeader.Next(h, SlotState.Orphan);
                }
                else if (state == SlotState.Valid)
                {
                    var slot = new ReadOnlySpan<byte>(_cache.Address + slotOffset, _layout.SlotSize);
                    int kl = MemoryMarshal.Read<ushort>(slot[SlotLayout.LengthsOffset..]);
                    bool same = kl == key.Length && slot.Slice(SlotLayout.KeyOffset, kl).SequenceEqual(key);
                    if (!same)
                    {
                        if (_atomics.Read(slotOffset) == h) break; // stable and a different key
                        continue;
                    }
                    next = SlotHeader.Next(h, SlotState.Free, 0, 0);
                }
                else
                {
                    break;
                }
                if (_atomics.CompareSwap(slotOffset, h, next) == h)
                {
                    Interlocked.Increment(ref _invalidations);
                    break;
                }
            }
        }
    }
}
