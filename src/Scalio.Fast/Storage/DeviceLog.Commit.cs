using Scalio.Nvme;

namespace Scalio.Fast.Storage;

// The batched write: rewrite the touched blocks, stage value records, one contiguous FUA write, publish.
internal sealed unsafe partial class DeviceLog
{
    /// <summary>Reads the blocks of this batch's <paramref name="groups"/> buckets that the block cache lacks, all in one
    /// device submission (<see cref="ReadGather"/>); <see cref="_prefetchIndex"/> names each group's read, or -1.</summary>
    private void PrefetchBlocks(int groups)
    {
        var gather = _gather!;
        gather.Clear();
        for (int g = 0; g < groups; g++)
        {
            _prefetchIndex[g] = -1;
            int bucket = _groupBucket[g];
            var old = _store.LocationOf(bucket);
            if (!old.Exists || CacheHolds(bucket, in old)) continue;
            _store.CountRead();
            _prefetchIndex[g] = gather.Add(_ns, LbaOfPage(old.Page), _lbasPerPage, new Span<byte>(_prefetch + (long)g * _pageSize, _pageSize));
        }
        if (gather.Count > 0) gather.Execute();
    }

    /// <summary>
    /// Commits a batch: every entry gets its status (Ok only when durable and published). Entries of one bucket are
    /// applied in arrival order into one new block; a record over the inline limit first gets a value-log record and
    /// its block a pointer to it. Value records, then blocks, are written as one contiguous FUA write.
    /// </summary>
    public void Commit(WriteBatch batch)
    {
        lock (Gate)
        {
            Interlocked.Increment(ref _batches);
            if (_pagesSinceCheckpoint >= _logPages / 2 && !TryWriteCheckpoint())
            {
                FailOk(batch, OpStatus.IoError); // replay after a crash could not reach further writes
                return;
            }
            if (_free < _reserve) CleanOnly();
            int n = batch.Count;
            int groups = 0;
            for (int i = 0; i < n; i++)
            {
                int b = batch.Bucket(i);
                int g = 0;
                while (g < groups && _groupBucket[g] != b) g++;
                if (g == groups) _groupBucket[groups++] = b;
                _entryGroup[i] = g;
            }

            _vUsed = 0;
            _bUsed = 0;
            _killCount = 0;
            _stagedLive = 0;
            if (_gather is not null) PrefetchBlocks(groups);
            var pointer = new Span<byte>(_pointer, ValuePointer.Size);
            for (int g = 0; g < groups; g++)
            {
                int bucket = _groupBucket[g];
                var old = _store.LocationOf(bucket);
                var cur = new Span<byte>(_curr, _pageSize);
                var next = new Span<byte>(_next, _pageSize);
                bool haveBlock = false;
                if (old.Exists)
                {
                    OpStatus failure = OpStatus.Ok;
                    int fetched = _gather is null ? -1 : _prefetchIndex[g];
                    NvmeStatus read = fetched < 0 ? ReadBlock(bucket, in old, cur) : _gather!.Status(fetched);
                    if (fetched >= 0 && read.IsSuccess) new ReadOnlySpan<byte>(_prefetch + (long)g * _pageSize, _pageSize).CopyTo(cur);
                    if (!read.IsSuccess) failure = OpStatus.IoError;
                    else if (!BucketBlock.Verify(cur) || BucketBlock.BucketOf(cur) != (uint)bucket || BucketBlock.SequenceOf(cur) != old.Sequence || BucketBlock.IsQuarantined(cur))
                    {
                        failure = OpStatus.Corrupt;
                        Interlocked.Increment(ref _corruptBlocks);
                    }
                    if (failure != OpStatus.Ok)
                    {
                        for (int i = 0; i < n; i++) if (_entryGroup[i] == g) batch.SetStatus(i, failure);
                        continue;
                    }
                    haveBlock = true;
                }
                bool changed = false;
                for (int i = 0; i < n; i++)
                {
                    if (_entryGroup[i] != g) continue;
                    bool remove = batch.IsRemove(i);
                    if (!haveBlock && remove) { batch.SetStatus(i, OpStatus.Ok); continue; }
                    ReadOnlySpan<byte> source = haveBlock ? cur : default;
                    var key = batch.Key(i);
                    var value = batch.Value(i);
                    ValuePointer replaced = default;
                    bool hadPointer = haveBlock && BucketBlock.TryGetPointer(cur, key, out replaced);
                    bool ok;
                    if (remove || BucketBlock.IsInline(key.Length, value.Length, _pageSize))
                    {
                        ok = BucketBlock.Rewrite(source, next, (uint)bucket, 0, key, value, remove);
                    }
                    else
                    {
                        ok = StageValue(bucket, key, value, hadPointer ? replaced.Pages : 0, out int index, out var written);
                        if (ok)
                        {
                            written.Write(pointer);
                            ok = BucketBlock.Rewrite(source, next, (uint)bucket, 0, key, pointer, remove: false, indirect: true);
                            if (ok)
                            {
                                _vUsed = index + written.Pages;
                                _stagedLive += written.Pages - (hadPointer ? replaced.Pages : 0);
                                Interlocked.Increment(ref _valueRecords);
                            }
                        }
                    }
                    if (ok)
                    {
                        next.CopyTo(cur);
                        haveBlock = true;
                        changed = true;
                        batch.SetStatus(i, OpStatus.Ok);
                        if (hadPointer) Kill(in replaced);
                    }
                    else
                    {
                        batch.SetStatus(i, OpStatus.StorageFull); // the bucket's block (or the log) is full
                    }
                }
                if (!changed) continue;
                cur.CopyTo(PageAt(_blocks, _bUsed));
                _blockBucket[_bUsed++] = bucket;
            }

            if (_vUsed + _bUsed > _free - _cleanKeep)
            {
                FailOk(batch, OpStatus.StorageFull);
                return;
            }
            long advanced = Clean();
            if (!WriteAndPublish(advanced)) FailOk(batch, OpStatus.IoError);
        }
    }

    /// <summary>
    /// Stages a value-log record for a client PUT at the end of the staged value pages (after pad pages when it would
    /// straddle the end of the log). Does not commit it: the caller sets the staged count once the block took the
    /// pointer. False (StorageFull) when the live records would exceed the value budget (<paramref name="credit"/>: pages
    /// of the record this one replaces) or the free pages would fall under the cleaner's floor.
    /// </summary>
    private bool StageValue(int bucket, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, int credit, out int index, out ValuePointer written)
    {
        index = 0;
        written = default;
        int pages = ValueRecord.PagesFor(key.Length, value.Length, _pageSize);
        if (pages > _valuePages) return false; // over the schema: never happens after validation
        if (_liveValuePages + _stagedLive + pages - credit > _valueBudget) return false;
        long start = (_head + _vUsed) % _logPages;
        int pad = start + pages > _logPages ? (int)(_logPages - start) : 0;
        int total = _vUsed + pad + pages + _bUsed + 1;
        if (total > _free - _floor || total > _maxPages) return false;
        for (int j = 0; j < pad; j++)
        {
            ValueRecord.WritePad(PageAt(_pages, _vUsed), SeqAt(_vUsed));
            _stagedKind[_vUsed++] = KindPad;
        }
        index = _vUsed;
        ulong sequence = SeqAt(index);
        uint sum = ValueRecord.Write(new Span<byte>(_pages + (long)index * _pageSize, pages * _pageSize), (uint)bucket, sequence, key, value, pages);
        MarkStaged(index, bucket, pages);
        written = new ValuePointer(_logStart + (ulong)((_head + index) % _logPages), pages, sequence, value.Length, sum);
        return true;
    }

    private void MarkStaged(int index, int bucket, int pages)
    {
        _stagedKind[index] = KindHead;
        _stagedBucket[index] = bucket;
        _stagedSpan[index] = (byte)pages;
        for (int j = 1; j < pages; j++) _stagedKind[index + j] = KindContinuation;
    }

    /// <summary>Remembers that the value record <paramref name="pointer"/> names dies once this batch is durable.</summary>
    private void Kill(in ValuePointer pointer)
    {
        if (pointer.Lost || pointer.Page < _logStart || pointer.Page >= _logStart + (ulong)_logPages || _killCount >= _kills.Length) return;
        _kills[_killCount++] = (long)(pointer.Page - _logStart);
    }

    private bool IsKilled(long pos)
    {
        for (int k = 0; k < _killCount; k++) if (_kills[k] == pos) return true;
        return false;
    }

    private static void FailOk(WriteBatch batch, OpStatus status)
    {
        for (int i = 0; i < batch.Count; i++) if (batch.Status(i) == OpStatus.Ok) batch.SetStatus(i, status);
    }

    /// <summary>Index of the block of <paramref name="bucket"/> staged in this batch, or -1.</summary>
    private int StagedBlock(int bucket)
    {
        for (int j = 0; j < _bUsed; j++) if (_blockBucket[j] == bucket) return j;
        return -1;
    }

    /// <summary>
    /// After a failed batch write, some or all of its pages may have reached the device (a short write, an unconfirmed
    /// flush) although its writers are told it failed. A zero page over its first page ends a replay there, so a crash
    /// before the next batch (which is written at the same place) cannot bring the refused writes back. If this write
    /// fails too, the refused pages stay until the next successful batch covers them.
    /// </summary>
    private void BlankFailedWrite(long start)
    {
        var blank = new Span<byte>(_next, _pageSize); // staging scratch, free once the batch is written
        blank.Clear();
        WritePages(_logStart + (ulong)start, 1, blank);
    }

    /// <summary>Places the staged blocks after the staged value pages, seals them with new sequence numbers, writes
    /// everything at the head with FUA, publishes the blocks' locations, updates the owner map (new records live,
    /// replaced records dead) and moves the tail by <paramref name="advanced"/>. False on an I/O error (then nothing
    /// changed: the index still names the old, intact blocks, and they name their intact records).</summary>
    private bool WriteAndPublish(long advanced)
    {
        int used = _vUsed + _bUsed;
        if (used > 0)
        {
            for (int j = 0; j < _bUsed; j++)
            {
                var page = PageAt(_pages, _vUsed + j);
                PageAt(_blocks, j).CopyTo(page);
                BucketBlock.Reseal(page, SeqAt(_vUsed + j));
            }
            ulong lastSequence = SeqAt(used - 1);
            _counter += (ulong)used; // consumed even if the write fails: a later batch never reuses a number
            _lastSequence = lastSequence;
            long start = _head;
            int first = (int)Math.Min(used, _logPages - start);
            if (!WritePages(_logStart + (ulong)start, first, new ReadOnlySpan<byte>(_pages, first * _pageSize)).IsSuccess
                || (used > first && !WritePages(_logStart, used - first, new ReadOnlySpan<byte>(_pages + (long)first * _pageSize, (used - first) * _pageSize)).IsSuccess))
            {
                BlankFailedWrite(start);
                return false;
            }
            for (int p = 0; p < _vUsed; p++)
            {
                long pos = (start + p) % _logPages;
                if (_stagedKind[p] == KindHead)
                {
                    _owner[pos] = -(_stagedBucket[p] + 1);
                    _span[pos] = _stagedSpan[p];
                    _liveValuePages += _stagedSpan[p];
                }
                else
                {
                    _owner[pos] = 0;
                }
            }
            for (int j = 0; j < _bUsed; j++)
            {
                int p = _vUsed + j;
                long pos = (start + p) % _logPages;
                int bucket = _blockBucket[j];
                var written = PageAt(_pages, p);
                ulong sequence = BucketBlock.SequenceOf(written);
                _store.Publish(bucket, new Location(_device, 1, _logStart + (ulong)pos, sequence));
                _owner[pos] = bucket + 1;
                int slot = CacheSlot(bucket);
                written.CopyTo(new Span<byte>(_cache + (long)slot * _pageSize, _pageSize));
                _cacheBucket[slot] = bucket;
                _cacheSequence[slot] = sequence;
            }
            for (int k = 0; k < _killCount; k++)
            {
                long at = _kills[k];
                if (_owner[at] >= 0) continue;
                _owner[at] = 0;
                _liveValuePages -= _span[at];
            }
            Interlocked.Add(ref _pagesWritten, used);
        }
        long tail = (_head + _free) % _logPages;
        for (long j = 0; j < advanced; j++)
        {
            long at = (tail + j) % _logPages;
            if (_owner[at] < 0) _liveValuePages -= _span[at]; // a record moved (or lost) by the cleaner
            _owner[at] = 0;
        }
        _head = (_head + used) % _logPages;
        _free = _free - used + advanced;
        _pagesSinceCheckpoint += used;
        _vUsed = 0;
        _bUsed = 0;
        _killCount = 0;
        // A checkpoint per quarter lap keeps the replay short and always ahead of the head lapping it. If it fails,
        // the previous one stays valid and the next batch tries again (Commit refuses writes past half a lap).
        if (_pagesSinceCheckpoint >= _logPages / 4) TryWriteCheckpoint();
        return true;
    }
}
