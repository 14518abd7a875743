using System.Runtime.InteropServices;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Server;

namespace Scalio.Baselines;

/// <summary>The server side of the LEED+Ditto baseline: a server that fills its own DRAM cache when it serves a GET.</summary>
public static class DittoServerFill
{
    /// <summary>Makes the server of <paramref name="store"/> fill its own cache on every GET request it serves (its
    /// clients then hit one-sided; see <see cref="LeedMode.LeedDitto"/>). Call before the baseline's clients connect.</summary>
    public static void Enable(ScalioStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        store.Server.GetPath = new DittoFill(store.Server);
    }

    /// <summary>True when the server of <paramref name="store"/> fills its cache on GET requests.</summary>
    public static bool IsEnabled(ScalioStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Server.GetPath is DittoFill;
    }
}

/// <summary>
/// A GET served by the server CPU that also fills the server's DRAM cache, which clients then read one-sided (the
/// LEED+Ditto baseline). It locks a slot FILLING before it reads the SSD, so a write that publishes meanwhile orphans
/// the slot (the server's invalidation) and the stale value is never published. It runs on a server worker, inside its
/// charged serving time (<see cref="IServerGetPath"/>).
/// </summary>
internal sealed unsafe class DittoFill(ScalioServer server) : IServerGetPath
{
    private readonly ScalioServer _server = server;
    private readonly SlotLayout _layout = server.Layout;
    private readonly ServerAtomics _atomics = server.Atomics;
    private readonly byte* _cache = server.CacheRegion.Address;
    private readonly int _cacheBuckets = server.CacheBuckets;
    private long _fillSequence;

    public OpStatus Serve(in KeyHash hash, ReadOnlySpan<byte> key, Span<byte> scratch, out ReadOnlySpan<byte> value)
    {
        long slotOffset = LockFillSlot(in hash, key, out ulong filling);
        var status = _server.Store.Read(in hash, key, scratch, out value);
        if (slotOffset >= 0) PublishFill(slotOffset, filling, status == OpStatus.Ok && value.Length <= _layout.ValueCapacity, key, value);
        return status;
    }

    /// <summary>Picks and locks (VALID/FREE -> FILLING) the slot a server-side fill goes to: a FREE slot, else the
    /// less recently used of two sampled VALID slots (Ditto's sampled eviction; the stamp is the fill time or the last hit, which LEED+Ditto clients write one-sided). Returns -1 when the key
    /// is already cached or being filled, or no slot could be locked.</summary>
    internal long LockFillSlot(in KeyHash hash, ReadOnlySpan<byte> key, out ulong filling)
    {
        filling = 0;
        int bucket = hash.CacheBucket(_cacheBuckets);
        ushort fp = hash.Fingerprint;
        long bucketOffset = ScalioServer.BucketsOffset + (long)bucket * _layout.BucketSize;
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
                    var slot = new ReadOnlySpan<byte>(_cache + off, _layout.SlotSize);
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
            ulong locked = SlotHeader.Next(seen, SlotState.Filling, fp, (ushort)_server.ClockMilliseconds);
            if (_atomics.CompareSwap(victimOffset, seen, locked) == seen)
            {
                filling = locked;
                return victimOffset;
            }
        }
        return -1;
    }

    private uint Stamp(long bucketOffset, int slot)
        => MemoryMarshal.Read<uint>(new ReadOnlySpan<byte>(_cache + bucketOffset + (long)slot * _layout.SlotSize + SlotLayout.StampOffset, 4));

    /// <summary>Writes the value into the locked slot and publishes it VALID; when a write orphaned the slot meanwhile
    /// (or there is nothing to publish) the slot goes FREE instead.</summary>
    internal void PublishFill(long slotOffset, ulong filling, bool publish, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        ulong valid = SlotHeader.Next(filling, SlotState.Valid);
        if (publish)
        {
            var slot = new Span<byte>(_cache + slotOffset, _layout.SlotSize);
            _layout.WriteBody(slot, key, value, SlotHeader.Version(valid), (uint)_server.ClockMilliseconds);
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
