using System.Buffers.Binary;
using Scalio.Nvme;

namespace Scalio.Fast.Storage;

// Opening a device: format a blank one, or recover from its superblock, checkpoint and log.
internal sealed unsafe partial class DeviceLog
{
    /// <summary>Formats a blank device or recovers the index of a formatted one (checkpoint, then log replay).</summary>
    public void Open()
    {
        lock (Gate)
        {
            var sb = new Span<byte>(_scratch, _pageSize);
            if (!ReadPages(0, 1, sb).IsSuccess) throw new IOException($"device {_device}: cannot read the superblock");
            if (sb.IndexOfAnyExcept((byte)0) < 0)
            {
                Format();
                return;
            }
            CheckSuperblock(sb);
            _epoch = BinaryPrimitives.ReadUInt64LittleEndian(sb[48..]) + 1;
            if (_epoch >= 1UL << (64 - EpochShift)) throw new InvalidDataException($"device {_device}: mount epoch exhausted");
            WriteSuperblock();

            // Newest valid checkpoint.
            int slot = -1;
            ulong bestSeq = 0;
            for (int s = 0; s < 2; s++)
            {
                var area = new Span<byte>(_checkpoint, _checkpointPages * _pageSize);
                if (!ReadPages(CheckpointPage(s), _checkpointPages, area).IsSuccess) continue;
                if (!VerifyCheckpoint(area)) continue;
                ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(area[16..]);
                if (slot < 0 || seq > bestSeq) { slot = s; bestSeq = seq; }
            }
            if (slot < 0) throw new InvalidDataException($"device {_device}: both checkpoints fail their checksum; the location index cannot be rebuilt safely");
            var ck = new Span<byte>(_checkpoint, _checkpointPages * _pageSize);
            if (!ReadPages(CheckpointPage(slot), _checkpointPages, ck).IsSuccess || !VerifyCheckpoint(ck))
                throw new IOException($"device {_device}: cannot re-read checkpoint slot {slot}");
            _checkpointSlot = slot ^ 1;
            _lastSequence = BinaryPrimitives.ReadUInt64LittleEndian(ck[16..]);
            _head = (long)BinaryPrimitives.ReadUInt64LittleEndian(ck[24..]);
            if (_head < 0 || _head >= _logPages) throw new InvalidDataException($"device {_device}: checkpoint head {_head} is outside the log");
            int fromCheckpoint = 0;
            for (int i = 0; i < _localBuckets; i++)
            {
                ulong page = BinaryPrimitives.ReadUInt64LittleEndian(ck[(CheckpointHeaderBytes + 16 * i)..]);
                ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(ck[(CheckpointHeaderBytes + 16 * i + 8)..]);
                int bucket = i * _deviceCount + _device;
                if (page == 0) { _store.Publish(bucket, default); continue; }
                if (page < _logStart || page >= _logStart + (ulong)_logPages) throw new InvalidDataException($"device {_device}: checkpoint names page {page} outside the log");
                _store.Publish(bucket, new Location(_device, 1, page, seq));
                fromCheckpoint++;
            }

            // Replay the log written after the checkpoint: contiguous pages with increasing sequence numbers. Bucket
            // blocks name the newest block of their bucket; value records and pads are verified and passed over.
            int scanned = 0, torn = 0;
            long pos = _head;
            ulong last = _lastSequence;
            bool end = false;
            while (!end && scanned < _logPages)
            {
                int chunk = (int)Math.Min(ScanChunkPages, _logPages - pos);
                var buf = new Span<byte>(_scratch, chunk * _pageSize);
                if (!ReadPages(_logStart + (ulong)pos, chunk, buf).IsSuccess) throw new IOException($"device {_device}: cannot read log pages at {pos}");
                int i = 0;
                while (i < chunk)
                {
                    var page = buf.Slice(i * _pageSize, _pageSize);
                    ulong seq = BucketBlock.SequenceOf(page);
                    int pages = 1;
                    bool valid;
                    uint bucket = 0;
                    bool isBlock = false;
                    if (ValueRecord.HasMagic(page))
                    {
                        pages = ValueRecord.IsPad(page) ? 1 : ValueRecord.PagesOf(page);
                        if (pages >= 1 && i + pages > chunk && i > 0) break; // re-read from this record's first page
                        valid = pages >= 1 && i + pages <= chunk && ValueRecord.Verify(buf.Slice(i * _pageSize, pages * _pageSize));
                        if (valid && !ValueRecord.IsPad(page))
                        {
                            bucket = BucketBlock.BucketOf(page);
                            valid = bucket < (uint)_bucketCount && bucket % (uint)_deviceCount == (uint)_device;
                        }
                    }
                    else
                    {
                        valid = BucketBlock.Verify(page);
                        bucket = valid ? BucketBlock.BucketOf(page) : 0;
                        valid = valid && bucket < (uint)_bucketCount && bucket % (uint)_deviceCount == (uint)_device;
                        isBlock = true;
                    }
                    if (!valid || seq <= last)
                    {
                        if (!valid && page.IndexOfAnyExcept((byte)0) >= 0) torn++; // cut by the crash (or damaged)
                        end = true;
                        break;
                    }
                    if (isBlock)
                    {
                        var current = _store.LocationOf((int)bucket);
                        if (!current.Exists || current.Sequence < seq)
                            _store.Publish((int)bucket, new Location(_device, 1, _logStart + (ulong)pos, seq));
                    }
                    last = seq;
                    scanned += pages;
                    i += pages;
                    pos = (pos + pages) % _logPages;
                    if (pos == 0) break; // next chunk starts at the beginning of the log
                }
            }
            _head = pos;
            if (last > _lastSequence) _lastSequence = last;
            _counter = 0;

            // Owner map and free space: pages from the head up to the first live page are free.
            Array.Clear(_owner);
            for (int b = 0; b < _localBuckets; b++)
            {
                int bucket = b * _deviceCount + _device;
                var loc = _store.LocationOf(bucket);
                if (loc.Exists) _owner[(long)(loc.Page - _logStart)] = bucket + 1;
            }
            _liveValuePages = 0;
            if (_valuePages > 0) MarkLiveValueRecords();
            _free = 0;
            while (_free < _logPages && _owner[(_head + _free) % _logPages] == 0) _free++;
            Recovery = new RecoveryReport(false, _epoch, fromCheckpoint, scanned, torn);
            WriteCheckpoint();
            if (_free < _reserve) CleanOnly();
        }
    }

    /// <summary>Recovery with a value log: reads every current bucket block (one page per bucket that has one) and
    /// marks every value record it points to as live (the owner map is not on the SSD).</summary>
    private void MarkLiveValueRecords()
    {
        var page = new Span<byte>(_scratch, _pageSize);
        for (int b = 0; b < _localBuckets; b++)
        {
            int bucket = b * _deviceCount + _device;
            var loc = _store.LocationOf(bucket);
            if (!loc.Exists) continue;
            if (!ReadPages(loc.Page, 1, page).IsSuccess) throw new IOException($"device {_device}: cannot read the block of bucket {bucket} at page {loc.Page}");
            if (!BucketBlock.Verify(page) || BucketBlock.SequenceOf(page) != loc.Sequence || BucketBlock.BucketOf(page) != (uint)bucket) continue;
            int cursor = 0;
            while (BucketBlock.NextPointer(page, ref cursor, out var ptr))
            {
                if (ptr.Lost || ptr.Page < _logStart || ptr.Page + (ulong)ptr.Pages > _logStart + (ulong)_logPages) continue;
                long at = (long)(ptr.Page - _logStart);
                if (_owner[at] >= 0) _liveValuePages += ptr.Pages;
                _owner[at] = -(bucket + 1);
                _span[at] = (byte)ptr.Pages;
            }
        }
    }
}
