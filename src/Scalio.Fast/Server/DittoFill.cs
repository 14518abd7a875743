using System.Runtime.InteropServices;
using Scalio.Fast.Cache;
using Scalio.Fast.Rpc;

namespace Scalio.Fast.Server;

public sealed unsafe partial class ScalioServer
{
    private long _fillSequence;

    /// <summary>
    /// A GET served by the server CPU. Plain LEED reads the SSD and replies. With
    /// <see cref="ScalioServerOptions.FillCacheOnGet"/> (the LEED+Ditto baseline) the server also fills its own DRAM
    /// cache, which clients then read one-sided: it locks a slot FILLING before it reads the SSD, so a write that
    /// publishes meanwhile orphans the slot (Invalidate) and the stale value is never published.
    /// </summary>
    private OpStatus ServeGet(in KeyHash hash, ReadOnlySpan<byte> key, Span<byte> scratch, out ReadOnlySpan<byte> value)
    {
        if (!_options.FillCacheOnGet) return _store.Read(in hash, key, scratch, out value);
        long slotOffset = LockFillSlot(in hash, key, out ulong filling);
        var status = _store.Read(in hash, key, scratch, out value);
        if (slotOffset >= 0) PublishFill(slotOffset, filling, status == OpStatus.Ok && value.Length <= _layout.ValueCapacity, key, value);
        return status;
    }

    /// <summary>Picks and locks (VALID/FREE -> FILLING) the slot a server-side fill goes to: a FREE slot, else the
    /// less recently used of two sampled VALID slots (Ditto's sampled eviction; the stamp is the fill time or the last hit, which LEED+Ditto clients write one-sided). Returns -1 when the key
    /// is already cached or being filled, or no slot could be locked.</summary>
    private long LockFillSlot(in KeyHash hash, ReadOnlySpan<byte> key, out ulong filling)
    {
        filling = 0;
        int bucket = hash.CacheBucket(_options.CacheBuckets);
        ushort fp = hash.Fingerprint;
        long bucketOffset = BucketsOffset + (long)bucket * _layout.BucketSize;
        int slots = _layout.SlotsPerBucket;
        for (int attempt = 0; attempt < 4; attempt++)
        {
            int free = -1;
            for (int i = 0; i < slots; i++)
            {
                long off = bucketOffset + (long)i * _layout.SlotSize;
                ulong h = _atomics.Read(off);
                var state = SlotHeader.State(h);
                if (state == SlotState.Free) { if (free < 0) free = i; continue; }
                if (SlotHeader.Fingerprint(h) != fp) continue;
                if (state == SlotState.Filling) return -1; // another worker fills this key (or a fingerprint twin)
                if (state == SlotState.Valid)
                {
                    var slot = new ReadOnlySpan<byte>(_cache.Address + off, _layout.SlotSize);
                    int kl = MemoryMarshal.Read<ushort>(slot[SlotLayout.LengthsOffset..]);
                    if (kl == key.Length && slot.Slice(SlotLayout.KeyOffset, kl).SequenceEqual(key)) return -1;
                }
            }
            int victim = free;
            if (victim < 0)
            {
                ulong r = (ulong)Interlocked.Increment(ref _fillSequence) * 0x9E3779B97F4A7C15UL ^ hash.Value;
                int a = (int)(r % (ulong)slots), b = (int)((r >> 32) % (ulong)slots);
                victim = Stamp(bucketOffset, a) <= Stamp(bucketOffset, b) ? a : b;
            }
            long victimOffset = bucketOffset + (long)victim * _layout.SlotSize;
            ulong seen = _atomics.Read(victimOffset);
            if (SlotHeader.State(seen) is not (SlotState.Free or SlotState.Valid)) continue;
            ulong locked = SlotHeader.Next(seen, SlotState.Filling, fp, (ushort)ClockMilliseconds);
            if (_atomics.CompareSwap(victimOffset, seen, locked) == seen)
            {
                filling = locked;
                return victimOffset;
            }
        }
        return -1;
    }

    private uint Stamp(long bucketOffset, int slot)
        => MemoryMarshal.Read<uint>(new ReadOnlySpan<byte>(_cache.Address + bucketOffset + (long)slot * _layout.SlotSize + SlotLayout.StampOffset, 4));

    /// <summary>Writes the value into the locked slot and publishes it VALID; when a write orphaned the slot meanwhile
    /// (or there is nothing to publish) the slot goes FREE instead.</summary>
    private void PublishFill(long slotOffset, ulong filling, bool publish, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        ulong valid = SlotHeader.Next(filling, SlotState.Valid);
        if (publish)
        {
            var slot = new Span<byte>(_cache.Address + slotOffset, _layout.SlotSize);
            _layout.WriteBody(slot, key, value, SlotHeader.Version(valid), (uint)ClockMilliseconds);
            if (_atomics.CompareSwap(slotOffset, filling, valid) == filling) return;
        }
        else if (_atomics.CompareSwap(slotOffset, filling, SlotHeader.Next(filling, SlotState.Free, 0, 0)) == filling)
        {
            return;
        }
        ulong now = _atomics.Read(slotOffset); // orphaned by a write: only this filler may free it
        if (SlotHeader.State(now) == SlotState.Orphan) _atomics.CompareSwap(slotOffset, now, SlotHeader.Next(now, SlotState.Free, 0, 0));
    }
}
