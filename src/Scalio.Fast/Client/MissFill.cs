using Scalio.Fast.Cache;
using Scalio.Fast.Rpc;
using Scalio.Fast.Server;
using Scalio.Fast.Storage;
using Scalio.Verbs;

namespace Scalio.Fast.Client;

public sealed unsafe partial class ScalioClient
{
    private enum FillResult : byte
    {
        Ok = OpStatus.Ok,
        NotFound = OpStatus.NotFound,
        Corrupt = OpStatus.Corrupt,
        IoError = OpStatus.IoError,
        Timeout = OpStatus.Timeout,
        Retry = 255,
    }

    /// <summary>
    /// The miss path (DESIGN.md steps 4-6): CAS the victim to FILLING (chained with a re-read of the bucket), make
    /// sure no other slot of the bucket holds or fills this key, only then read the location index and the SSD,
    /// WRITE the slot body and CAS FILLING -> VALID; if a write orphaned the slot meanwhile, turn it FREE instead.
    /// </summary>
    private FillResult MissFill(in KeyHash hash, ReadOnlySpan<byte> key, int bucket, int victim, ulong victimHeader, Span<byte> value, out int valueLength)
    {
        valueLength = 0;
        ushort fp = hash.Fingerprint;
        ulong locked = SlotHeader.Next(victimHeader, SlotState.Filling, fp, ClockMs16);
        if (LockAndReread(bucket, victim, victimHeader, locked) != victimHeader) return FillResult.Retry;

        if (AnotherSlotHasKey(BucketImage, victim, fp, key))
        {
            Release(bucket, victim, locked);
            return FillResult.Retry;
        }

        var status = ReadFromSsd(in hash, key, value, out valueLength);
        if (status != OpStatus.Ok)
        {
            Release(bucket, victim, locked);
            return (FillResult)status;
        }

        // Fill: body (checksum seeded with the version VALID will carry), then publish, chained on one doorbell.
        ulong valid = SlotHeader.Next(locked, SlotState.Valid);
        var slotImage = _mr.Slice(_slotOff, _layout.SlotSize);
        _layout.WriteBody(slotImage, key, value[..valueLength], SlotHeader.Version(valid), Stamp);
        if (_unguardedFill)
        {
            PublishUnguarded(bucket, victim, valid, valueLength);
            _counters.Fills++;
            return FillResult.Ok;
        }
        int bodyLength = _layout.ValueOffset + valueLength - SlotLayout.ChecksumOffset;
        ulong id = ProtocolSteps.PostFillAndPublish(_qp, _chain, in _steps, NextIds(ProtocolSteps.FillAndPublishLength), bucket, victim, valueLength, locked, valid);
        _counters.RoundTrips++;
        _counters.BytesMoved += bodyLength + 8;
        Await(id);
        ulong seen = *(ulong*)(_mr.Address + _atomicOff);
        if (seen != locked && SlotHeader.State(seen) == SlotState.Orphan)
        {
            // A write invalidated the key while we filled: the value we read is still a correct answer for this
            // GET (it was current when we read it, after we locked), but it must not be cached.
            TryFree(bucket, victim, seen);
        }
        _counters.Fills++;
        return FillResult.Ok;
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

    /// <summary>
    /// CHECKER HARNESS ONLY (<see cref="BrokenWriteMode.UnguardedFill"/>): publishes with a plain WRITE of the VALID
    /// header instead of a CAS from our FILLING header, so a fill that a write orphaned meanwhile still becomes VALID
    /// with the value read before the write. Never used by a correctly configured client.
    /// </summary>
    private void PublishUnguarded(int bucket, int slot, ulong valid, int valueLength)
    {
        ulong first = NextIds(2);
        ProtocolSteps.FillSlot(_chain, in _steps, first, WorkFlags.None, bucket, slot, valueLength);
        *(ulong*)(_mr.Address + _atomicOff + 8) = valid;
        _chain[1] = WorkRequest.Write(first + 1, _mr.AddressOf(_atomicOff + 8), 8, _mr.LocalKey, (ulong)SlotOffset(bucket, slot), _server.CacheKey);
        _qp.PostSend(new ReadOnlySpan<WorkRequest>(_chain, 2));
        _counters.RoundTrips++;
        _counters.BytesMoved += _layout.ValueOffset + valueLength - SlotLayout.ChecksumOffset + 8;
        Await(first + 1);
    }

    /// <summary>Gives a locked slot back: FILLING -> FREE, or ORPHAN -> FREE when a write orphaned it meanwhile.</summary>
    private void Release(int bucket, int slot, ulong locked)
    {
        ulong seen = AwaitAtomic(ProtocolSteps.PostRelease(_qp, _chain, in _steps, NextId(), bucket, slot, locked, SlotHeader.Next(locked, SlotState.Free, 0, 0)));
        if (seen != locked && SlotHeader.State(seen) == SlotState.Orphan && SlotHeader.Version(seen) == ((SlotHeader.Version(locked) + 1) & (uint)SlotHeader.VersionMask))
            TryFree(bucket, slot, seen);
    }

    /// <summary>Reads the key's location one-sided, then its SSD block through NVMe-oF target offload.</summary>
    private OpStatus ReadFromSsd(in KeyHash hash, ReadOnlySpan<byte> key, Span<byte> value, out int valueLength)
    {
        valueLength = 0;
        int ssdBucket = hash.SsdBucket(_server.SsdBuckets);
        for (int attempt = 0; attempt < 64; attempt++)
        {
            ulong id = ProtocolSteps.PostReadLocation(_qp, _chain, in _steps, NextId(), ssdBucket);
            _counters.RoundTrips++;
            _counters.BytesMoved += Location.EntrySize;
            Await(id);
            var loc = Location.Decode(*(ulong*)(_mr.Address + _indexOff), *(ulong*)(_mr.Address + _indexOff + 8));
            if (!loc.Exists) return OpStatus.NotFound;
            if ((uint)loc.Device >= (uint)_server.DeviceLbaSizes.Length) continue; // torn entry
            int lba = _server.DeviceLbaSizes[loc.Device];
            int lbasPerPage = _server.PageSize / lba;
            var st = _nvme.Read((uint)loc.Device + 1, loc.Page * (ulong)lbasPerPage, lbasPerPage * loc.Pages, lba, _mr, _dataOff);
            _counters.RoundTrips++;
            _counters.OffloadedReads++;
            _counters.BytesMoved += _server.PageSize;
            if (!st.IsSuccess)
            {
                if (st.StatusCode == 0x80) continue; // LBA out of range: torn entry
                return OpStatus.IoError;
            }
            var page = _mr.Slice(_dataOff, _server.PageSize * loc.Pages);
            switch (BucketBlock.Find(page, (uint)ssdBucket, loc.Sequence, key, out var found))
            {
                case BlockLookup.Found:
                    if (found.Length > value.Length) return OpStatus.Corrupt;
                    found.CopyTo(value);
                    valueLength = found.Length;
                    return OpStatus.Ok;
                case BlockLookup.NotFound:
                    return OpStatus.NotFound;
                case BlockLookup.Indirect:
                {
                    var status = ReadValueRecord(ssdBucket, in loc, ValuePointer.Read(found), key, value, out valueLength);
                    if (status != OpStatus.Timeout) return status;
                    _counters.ValueLogRetries++;
                    continue; // moved or recycled by the cleaner: start again from the location index
                }
                case BlockLookup.Corrupt:
                    // Corrupt for a block the index still names is real corruption; otherwise the page was recycled.
                    if (attempt >= 2) return OpStatus.Corrupt;
                    continue;
                default:
                    continue; // stale: the bucket was rewritten meanwhile
            }
        }
        return OpStatus.Timeout;
    }

    /// <summary>
    /// Second read of a miss on a large record: the value-log record the block's pointer names, through the offload
    /// target (no server CPU). Returns <see cref="OpStatus.Timeout"/> when the record was moved or its pages reused
    /// (the caller retries from the location index); Corrupt only while the index still names the same block.
    /// </summary>
    private OpStatus ReadValueRecord(int ssdBucket, in Location loc, in ValuePointer ptr, ReadOnlySpan<byte> key, Span<byte> value, out int valueLength)
    {
        valueLength = 0;
        if (ptr.Lost) return OpStatus.Corrupt;
        int lba = _server.DeviceLbaSizes[loc.Device];
        int lbasPerPage = _server.PageSize / lba;
        int bytes = ptr.Pages * _server.PageSize;
        if (_dataOff + bytes > (int)_mr.Length) return OpStatus.Timeout; // torn pointer: retry
        var st = _nvme.Read((uint)loc.Device + 1, ptr.Page * (ulong)lbasPerPage, lbasPerPage * ptr.Pages, lba, _mr, _dataOff);
        _counters.RoundTrips++;
        _counters.OffloadedReads++;
        _counters.ValueLogReads++;
        _counters.BytesMoved += bytes;
        if (!st.IsSuccess) return st.StatusCode == 0x80 ? OpStatus.Timeout : OpStatus.IoError;
        switch (ValueRecord.Check(_mr.Slice(_dataOff, bytes), (uint)ssdBucket, in ptr, key, out var stored))
        {
            case ValueCheck.Ok:
                if (stored.Length > value.Length) return OpStatus.Corrupt;
                stored.CopyTo(value);
                valueLength = stored.Length;
                return OpStatus.Ok;
            case ValueCheck.Corrupt:
                // Damage, unless the block was rewritten meanwhile (the cleaner moved the record, then reused its pages).
                ulong id = ProtocolSteps.PostReadLocation(_qp, _chain, in _steps, NextId(), ssdBucket);
                _counters.RoundTrips++;
                _counters.BytesMoved += Location.EntrySize;
                Await(id);
                var now = Location.Decode(*(ulong*)(_mr.Address + _indexOff), *(ulong*)(_mr.Address + _indexOff + 8));
                return now == loc ? OpStatus.Corrupt : OpStatus.Timeout;
            default:
                return OpStatus.Timeout;
        }
    }

    /// <summary>
    /// A GET that reads the SSD without holding a slot. Afterwards it orphans any slot of the bucket still filling
    /// this fingerprint and frees any VALID copy of the key with a different value: such a filler may have read an
    /// older location than we did, and must not publish it after this GET returned the newer value.
    /// </summary>
    private OpStatus DirectRead(in KeyHash hash, ReadOnlySpan<byte> key, int bucket, Span<byte> value, out int valueLength)
    {
        var status = ReadFromSsd(in hash, key, value, out valueLength);
        if (status is not (OpStatus.Ok or OpStatus.NotFound)) return status;
        _counters.DirectReads++;
        ushort fp = hash.Fingerprint;
        for (int pass = 0; pass < 64; pass++)
        {
            ReadBucket(bucket);
            var image = BucketImage;
            bool clean = true;
            for (int j = 0; j < _layout.SlotsPerBucket; j++)
            {
                ulong h = _layout.HeaderAt(image, j);
                if (SlotHeader.Fingerprint(h) != fp) continue;
                var st = SlotHeader.State(h);
                if (st == SlotState.Filling)
                {
                    if (!TryOrphan(bucket, j, h)) clean = false;
                }
                else if (st == SlotState.Valid)
                {
                    var slot = _layout.SlotAt(image, j);
                    if (!_layout.Matches(slot, key, h, out bool torn))
                    {
                        if (torn) clean = false;
                        continue;
                    }
                    bool same = status == OpStatus.Ok && SlotLayout.ValueLength(slot) == valueLength
                        && slot.Slice(_layout.ValueOffset, valueLength).SequenceEqual(value[..valueLength]);
                    if (!same && !TryFree(bucket, j, h)) clean = false;
                }
            }
            if (clean) return status;
        }
        return OpStatus.Timeout;
    }
}
