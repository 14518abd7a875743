using Scalio.Fast.Cache;
using Scalio.Fast.Storage;
using Scalio.Verbs;
using Scalio.Nvme;

namespace Scalio.Fast.Client;

// Offloaded read (GET step 5): the key's location entry by RDMA READ, then its SSD block through NVMe-oF target offload.
public sealed unsafe partial class ScalioClient
{
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
}
