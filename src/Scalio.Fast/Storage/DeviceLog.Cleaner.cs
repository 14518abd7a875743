using System.Buffers.Binary;
using Scalio.Nvme;

namespace Scalio.Fast.Storage;

// The cleaner: moves live blocks and value records from the log's tail so that pages can be reused.
internal sealed unsafe partial class DeviceLog
{
    /// <summary>
    /// Advances the log's tail until the free space after this batch reaches the reserve: dead pages are passed,
    /// live blocks are read and appended to this batch (moved), live value records are read, appended and their
    /// bucket's block repointed (that block is staged too). Freed pages become writable from the next batch on.
    /// Returns how many pages the tail advanced.
    /// </summary>
    private long Clean()
    {
        long advanced = 0;
        long inLog = _logPages - _free;
        long tail = (_head + _free) % _logPages;
        while (_free - (_vUsed + _bUsed) + advanced < _reserve && advanced < inLog)
        {
            long pos = (tail + advanced) % _logPages;
            int owner = _owner[pos];
            if (owner > 0)
            {
                int bucket = owner - 1;
                var loc = _store.LocationOf(bucket);
                if (loc.Exists && loc.Device == _device && loc.Page == _logStart + (ulong)pos && StagedBlock(bucket) < 0)
                {
                    if (_vUsed + _bUsed >= _free || _vUsed + _bUsed >= _maxPages) break;
                    var slot = PageAt(_blocks, _bUsed);
                    if (!ReadBlock(bucket, in loc, slot).IsSuccess) break; // leave it; try again next batch
                    if (!BucketBlock.Verify(slot) || BucketBlock.BucketOf(slot) != (uint)bucket || BucketBlock.SequenceOf(slot) != loc.Sequence)
                    {
                        // Its records are lost to corruption: keep the bucket reporting that, never data.
                        BucketBlock.WriteQuarantine(slot, (uint)bucket, 0);
                        Interlocked.Increment(ref _corruptBlocks);
                    }
                    _blockBucket[_bUsed++] = bucket;
                    Interlocked.Increment(ref _relocations);
                }
            }
            else if (owner < 0 && !IsKilled(pos))
            {
                if (!MoveValue(pos, -owner - 1, advanced)) break;
            }
            advanced++;
        }
        return advanced;
    }

    /// <summary>
    /// Moves the live value record at log position <paramref name="pos"/> to this batch and repoints its bucket's block
    /// (staged in this batch, or read now). A record that fails its checksum cannot be moved: its pointer is marked
    /// lost, so lookups of that key report Corrupt. False when the batch has no room (the tail stops here).
    /// </summary>
    private bool MoveValue(long pos, int bucket, long advanced)
    {
        int pages = _span[pos];
        if (pages < 1 || pages > _valuePages) return true; // not a record start: nothing to move
        long start = (_head + _vUsed) % _logPages;
        int pad = start + pages > _logPages ? (int)(_logPages - start) : 0;
        int block = StagedBlock(bucket);
        int need = pad + pages + (block < 0 ? 1 : 0);
        if (_vUsed + _bUsed + need > _free || _vUsed + _bUsed + need > _maxPages) return false;
        // Net cost of the move (its old pages free up with this batch): keep enough for the next move.
        if (_free - (_vUsed + _bUsed + need) + advanced + pages < _valuePages + 1) return false;
        int index = _vUsed + pad;
        var record = new Span<byte>(_pages + (long)index * _pageSize, pages * _pageSize);
        ulong oldPage = _logStart + (ulong)pos;
        if (!ReadPages(oldPage, pages, record).IsSuccess) return false;
        bool intact = ValueRecord.Verify(record) && !ValueRecord.IsPad(record) && BucketBlock.BucketOf(record) == (uint)bucket && ValueRecord.PagesOf(record) == pages;

        bool stagedNow = false;
        if (block < 0)
        {
            var loc = _store.LocationOf(bucket);
            if (!loc.Exists || loc.Device != _device) return true; // no block names it: dead
            block = _bUsed;
            var image = PageAt(_blocks, block);
            if (!ReadBlock(bucket, in loc, image).IsSuccess) return false;
            if (!BucketBlock.Verify(image) || BucketBlock.BucketOf(image) != (uint)bucket || BucketBlock.SequenceOf(image) != loc.Sequence)
            {
                // The block itself is corrupt: the bucket reports Corrupt from now on; the record goes with it.
                BucketBlock.WriteQuarantine(image, (uint)bucket, 0);
                Interlocked.Increment(ref _corruptBlocks);
                _blockBucket[_bUsed++] = bucket;
                return true;
            }
            if (BucketBlock.IsQuarantined(image)) return true;
            _blockBucket[_bUsed++] = bucket;
            stagedNow = true;
        }

        ValuePointer moved = default; // lost, unless the record is intact
        ulong sequence = SeqAt(index);
        if (intact)
        {
            uint sum = ValueRecord.Reseal(record, sequence);
            moved = new ValuePointer(_logStart + (ulong)((_head + index) % _logPages), pages, sequence,
                (int)BinaryPrimitives.ReadUInt32LittleEndian(record[24..]), sum);
        }
        if (!BucketBlock.TryRepoint(PageAt(_blocks, block), oldPage, in moved))
        {
            if (stagedNow) _bUsed--; // nothing names the record: it was dead already
            return true;
        }
        if (!intact)
        {
            Interlocked.Increment(ref _corruptBlocks); // the key now reports Corrupt, never data
        }
        else
        {
            for (int j = 0; j < pad; j++)
            {
                ValueRecord.WritePad(PageAt(_pages, _vUsed), SeqAt(_vUsed));
                _stagedKind[_vUsed++] = KindPad;
            }
            MarkStaged(index, bucket, pages);
            _vUsed = index + pages;
            Interlocked.Increment(ref _valueMoves);
        }
        return true;
    }

    /// <summary>Cleaning rounds without client writes, while the free space is under the reserve.</summary>
    private void CleanOnly()
    {
        for (int round = 0; round < 64 && _free < _reserve; round++)
        {
            _vUsed = 0;
            _bUsed = 0;
            _killCount = 0;
            long advanced = Clean();
            if (advanced == 0 || !WriteAndPublish(advanced)) return;
        }
    }
}
