using Scalio.Fast.Cache;

namespace Scalio.Fast.Client;

// CAS lock (GET step 4): a victim turns FILLING by compare-and-swap, chained with a re-read of its bucket; and every other CAS on a slot header.
public sealed unsafe partial class ScalioClient
{
    /// <summary>CAS the victim's header, then READ of the whole bucket, chained with one doorbell (one round trip).</summary>
    private ulong LockAndReread(int bucket, int slot, ulong expected, ulong desired)
    {
        ulong id = ProtocolSteps.PostLockAndReread(_qp, _chain, in _steps, NextIds(ProtocolSteps.LockAndRereadLength), bucket, slot, expected, desired);
        _counters.RoundTrips++;
        _counters.BytesMoved += 8 + _layout.BucketSize;
        Await(id);
        return *(ulong*)(_mr.Address + _atomicOff);
    }

    /// <summary>Counts and waits for one posted compare-and-swap; returns the header word it found.</summary>
    private ulong AwaitAtomic(ulong id)
    {
        _counters.RoundTrips++;
        _counters.BytesMoved += 8;
        Await(id);
        return *(ulong*)(_mr.Address + _atomicOff);
    }

    /// <summary>At most one slot per key: true when a slot other than <paramref name="victim"/> fills this fingerprint or
    /// holds this key (a VALID slot of this fingerprint whose image is torn may hold it: conservatively true).</summary>
    private bool AnotherSlotHasKey(ReadOnlySpan<byte> image, int victim, ushort fp, ReadOnlySpan<byte> key)
    {
        for (int j = 0; j < _layout.SlotsPerBucket; j++)
        {
            if (j == victim) continue;
            ulong h = _layout.HeaderAt(image, j);
            if (SlotHeader.Fingerprint(h) != fp) continue;
            var st = SlotHeader.State(h);
            if (st == SlotState.Filling || (st == SlotState.Valid && (_layout.Matches(_layout.SlotAt(image, j), key, h, out bool torn) || torn)))
                return true;
        }
        return false;
    }

    /// <summary>Gives a locked slot back: FILLING -> FREE, or ORPHAN -> FREE when a write orphaned it meanwhile.</summary>
    private void Release(int bucket, int slot, ulong locked)
    {
        ulong seen = AwaitAtomic(ProtocolSteps.PostRelease(_qp, _chain, in _steps, NextId(), bucket, slot, locked, SlotHeader.Next(locked, SlotState.Free, 0, 0)));
        if (seen != locked && SlotHeader.State(seen) == SlotState.Orphan && SlotHeader.Version(seen) == ((SlotHeader.Version(locked) + 1) & (uint)SlotHeader.VersionMask))
            TryFree(bucket, slot, seen);
    }

    /// <summary>CAS a FILLING slot to ORPHAN (so its filler can never publish); true when it won.</summary>
    private bool TryOrphan(int bucket, int slot, ulong filling)
        => AwaitAtomic(ProtocolSteps.PostOrphan(_qp, _chain, in _steps, NextId(), bucket, slot, filling, SlotHeader.Next(filling, SlotState.Orphan))) == filling;

    /// <summary>CAS a slot from <paramref name="expected"/> to FREE (next version, no fingerprint or lease); true when it won.</summary>
    private bool TryFree(int bucket, int slot, ulong expected)
    {
        ulong id = ProtocolSteps.PostRelease(_qp, _chain, in _steps, NextId(), bucket, slot, expected, SlotHeader.Next(expected, SlotState.Free, 0, 0));
        return AwaitAtomic(id) == expected;
    }
}
