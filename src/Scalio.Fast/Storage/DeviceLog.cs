using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Scalio.Fast.Rpc;
using Scalio.Verbs.Nvme;

namespace Scalio.Fast.Storage;

/// <summary>What a device's recovery found (see docs/storage-layout.md).</summary>
/// <param name="Formatted">True when the device was blank and got formatted.</param>
/// <param name="Epoch">Mount epoch now in effect (high bits of every new sequence number).</param>
/// <param name="CheckpointBuckets">Buckets whose location came from the checkpoint.</param>
/// <param name="ScannedPages">Log pages written after the checkpoint and replayed from the log.</param>
/// <param name="TornPagesAtEnd">Pages at the end of the log that failed their checksum (a write cut by the crash; never acknowledged).</param>
public readonly record struct RecoveryReport(bool Formatted, ulong Epoch, int CheckpointBuckets, int ScannedPages, int TornPagesAtEnd);

/// <summary>
/// One SSD's bucket log. Page 0 is the superblock, then two checkpoint slots, then a circular log of pages; every
/// page of the log is one checksummed <see cref="BucketBlock"/>. A batch of writes rewrites each touched bucket's
/// block (read-modify-write) and appends all of them, plus blocks the cleaner moves from the log's tail, as ONE
/// contiguous FUA write (two when it wraps the end of the log). Then the location index is published. A page is
/// only overwritten once the write that superseded it is durable, and pages are reused in log order, so a reader
/// holding an old location sees a bucket/sequence mismatch and retries.
/// </summary>
internal sealed unsafe class DeviceLog : IDisposable
{
    private const uint SuperMagic = 0x31534353;      // "SCS1"
    private const uint CheckpointMagic = 0x314B4353; // "SCK1"
    private const uint FormatVersion = 1;
    private const int SuperHeaderBytes = 128;
    private const int CheckpointHeaderBytes = 64;
    private const int EpochShift = 40;
    private const int ScanChunkPages = 32;

    private readonly SsdStore _store;
    private readonly NvmeNamespace _ns;
    private readonly int _device, _deviceCount, _bucketCount, _pageSize, _lbasPerPage, _localBuckets;
    private readonly int _checkpointPages;
    private readonly ulong _logStart;
    private readonly long _logPages;
    private readonly int[] _owner; // per log page: bucket + 1 of the block written there (0: none); live only if the index agrees
    private readonly int _batchLimit, _maxPages, _reserve;
    private readonly int[] _groupBucket, _groupPage, _entryGroup, _pageBucket;
    private byte* _pages, _curr, _next, _scratch, _checkpoint;
    private long _head, _free, _pagesSinceCheckpoint;
    private ulong _epoch, _counter, _lastSequence;
    private int _checkpointSlot;
    private long _batches, _pagesWritten, _relocations, _checkpoints, _corruptBlocks;

    /// <summary>Serialises commits, cleaning and checkpoints of this device (one writer per log).</summary>
    public readonly object Gate = new();

    public DeviceLog(SsdStore store, NvmeNamespace device, int deviceIndex, int deviceCount, int bucketCount, int pageSize, int batchLimit)
    {
        _store = store;
        _ns = device;
        _device = deviceIndex;
        _deviceCount = deviceCount;
        _bucketCount = bucketCount;
        _pageSize = pageSize;
        if (pageSize % device.LbaSize != 0) throw new ArgumentException($"page size {pageSize} is not a multiple of device {deviceIndex}'s {device.LbaSize}-byte LBA");
        _lbasPerPage = pageSize / device.LbaSize;
        _localBuckets = (bucketCount - deviceIndex + deviceCount - 1) / deviceCount;
        _checkpointPages = (CheckpointHeaderBytes + 16 * _localBuckets + pageSize - 1) / pageSize;
        _logStart = 1 + 2 * (ulong)_checkpointPages;
        ulong totalPages = device.LbaCount / (ulong)_lbasPerPage;
        _batchLimit = batchLimit;
        _maxPages = 2 * batchLimit + 8;
        _reserve = _maxPages;
        long needed = _localBuckets + _reserve + 8;
        _logPages = totalPages > _logStart ? (long)(totalPages - _logStart) : 0;
        if (_logPages < needed)
            throw new ArgumentException($"device {deviceIndex} holds {totalPages} pages of {pageSize} B; {_localBuckets} buckets with batch size {batchLimit} need at least {needed + (long)_logStart}");
        if (_logPages > int.MaxValue) throw new ArgumentException($"device {deviceIndex} is too large for this layout ({_logPages} pages)");
        _owner = new int[_logPages];
        _groupBucket = new int[batchLimit];
        _groupPage = new int[batchLimit];
        _entryGroup = new int[batchLimit];
        _pageBucket = new int[_maxPages];
        _pages = (byte*)NativeMemory.AlignedAlloc((nuint)_maxPages * (nuint)pageSize, 4096);
        _curr = (byte*)NativeMemory.AlignedAlloc((nuint)pageSize, 4096);
        _next = (byte*)NativeMemory.AlignedAlloc((nuint)pageSize, 4096);
        _scratch = (byte*)NativeMemory.AlignedAlloc((nuint)pageSize * ScanChunkPages, 4096);
        _checkpoint = (byte*)NativeMemory.AlignedAlloc((nuint)_checkpointPages * (nuint)pageSize, 4096);
    }

    /// <summary>Device page where the next batch goes (tests, diagnostics).</summary>
    public ulong HeadPage { get { lock (Gate) return _logStart + (ulong)_head; } }

    /// <summary>Log pages on this device.</summary>
    public long LogPages => _logPages;

    /// <summary>Free log pages (writable without cleaning).</summary>
    public long FreePages { get { lock (Gate) return _free; } }

    /// <summary>Batches committed (including cleaning-only rounds that wrote pages).</summary>
    public long Batches => Volatile.Read(ref _batches);

    /// <summary>Pages written to the log.</summary>
    public long PagesWritten => Volatile.Read(ref _pagesWritten);

    /// <summary>Live blocks the cleaner moved from the tail to the head.</summary>
    public long Relocations => Volatile.Read(ref _relocations);

    /// <summary>Checkpoints written.</summary>
    public long Checkpoints => Volatile.Read(ref _checkpoints);

    /// <summary>Blocks found failing their checksum while the server read them (rewrite or cleaning).</summary>
    public long CorruptBlocks => Volatile.Read(ref _corruptBlocks);

    /// <summary>The recovery outcome of the last <see cref="Open"/>.</summary>
    public RecoveryReport Recovery { get; private set; }

    private Span<byte> PageAt(byte* area, int index) => new(area + (long)index * _pageSize, _pageSize);

    private ulong LbaOfPage(ulong page) => page * (ulong)_lbasPerPage;

    private NvmeStatus ReadPages(ulong page, int count, Span<byte> destination)
    {
        _store.CountRead();
        return _ns.Read(LbaOfPage(page), count * _lbasPerPage, destination);
    }

    private NvmeStatus WritePages(ulong page, int count, ReadOnlySpan<byte> source)
    {
        _store.CountWrite();
        return _ns.Write(LbaOfPage(page), count * _lbasPerPage, source, fua: true);
    }

    private ulong NextSequence() => _lastSequence = (_epoch << EpochShift) | ++_counter;

    // ---------------------------------------------------------------- open, format, recover

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

            // Replay the log written after the checkpoint: contiguous pages with increasing sequence numbers.
            int scanned = 0, torn = 0;
            long pos = _head;
            ulong last = _lastSequence;
            bool end = false;
            while (!end && scanned < _logPages)
            {
                int chunk = (int)Math.Min(ScanChunkPages, _logPages - pos);
                var buf = new Span<byte>(_scratch, chunk * _pageSize);
                if (!ReadPages(_logStart + (ulong)pos, chunk, buf).IsSuccess) throw new IOException($"device {_device}: cannot read log pages at {pos}");
                for (int i = 0; i < chunk; i++)
                {
                    var page = buf.Slice(i * _pageSize, _pageSize);
                    ulong seq = BucketBlock.SequenceOf(page);
                    bool valid = BucketBlock.Verify(page);
                    uint bucket = valid ? BucketBlock.BucketOf(page) : 0;
                    if (!valid || seq <= last || bucket >= (uint)_bucketCount || bucket % (uint)_deviceCount != (uint)_device)
                    {
                        if (!valid && page.IndexOfAnyExcept((byte)0) >= 0) torn++; // cut by the crash (or damaged)
                        end = true;
                        break;
                    }
                    var current = _store.LocationOf((int)bucket);
                    if (!current.Exists || current.Sequence < seq)
                        _store.Publish((int)bucket, new Location(_device, 1, _logStart + (ulong)pos, seq));
                    last = seq;
                    scanned++;
                    pos = (pos + 1) % _logPages;
                    if (pos == 0) break; // next chunk starts at the beginning of the log
                }
            }
            _head = pos;
            if (last > _lastSequence) _lastSequence = last;
            _counter = 0;

            // Owner map and free space: pages from the head up to the first live page are free.
            Array.Clear(_owner);
            for (int i = 0; i < _localBuckets; i++)
            {
                int bucket = i * _deviceCount + _device;
                var loc = _store.LocationOf(bucket);
                if (loc.Exists) _owner[(long)(loc.Page - _logStart)] = bucket + 1;
            }
            _free = 0;
            while (_free < _logPages && _owner[(_head + _free) % _logPages] == 0) _free++;
            Recovery = new RecoveryReport(false, _epoch, fromCheckpoint, scanned, torn);
            WriteCheckpoint();
            if (_free < _reserve) CleanOnly();
        }
    }

    private ulong CheckpointPage(int slot) => 1 + (ulong)(slot * _checkpointPages);

    private void Format()
    {
        _epoch = 1;
        _counter = 0;
        _lastSequence = _epoch << EpochShift;
        _head = 0;
        _free = _logPages;
        Array.Clear(_owner);
        for (int i = 0; i < _localBuckets; i++) _store.Publish(i * _deviceCount + _device, default);
        // Both checkpoint slots first (so a crash right after formatting recovers), the superblock last.
        _checkpointSlot = 0;
        WriteCheckpoint();
        WriteCheckpoint();
        WriteSuperblock();
        Recovery = new RecoveryReport(true, _epoch, 0, 0, 0);
    }

    private void WriteSuperblock()
    {
        var sb = new Span<byte>(_scratch, _pageSize);
        sb.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(sb, SuperMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[4..], FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[16..], (uint)_pageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[20..], (uint)_device);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[24..], (uint)_deviceCount);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[28..], (uint)_bucketCount);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[32..], _logStart);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[40..], (ulong)_logPages);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[48..], _epoch);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[56..], (uint)_checkpointPages);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[8..], XxHash3.HashToUInt64(sb[16..SuperHeaderBytes]));
        if (!WritePages(0, 1, sb).IsSuccess) throw new IOException($"device {_device}: cannot write the superblock");
    }

    private void CheckSuperblock(ReadOnlySpan<byte> sb)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(sb) != SuperMagic || BinaryPrimitives.ReadUInt64LittleEndian(sb[8..]) != XxHash3.HashToUInt64(sb[16..SuperHeaderBytes]))
            throw new InvalidDataException($"device {_device} ({_ns}): page 0 is not an intact Scalio superblock; refusing to overwrite it (use an empty file or directory)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(sb[4..]);
        if (version != FormatVersion) throw new InvalidDataException($"device {_device}: layout version {version}, this build reads {FormatVersion}");
        var found = (Page: BinaryPrimitives.ReadUInt32LittleEndian(sb[16..]), Device: BinaryPrimitives.ReadUInt32LittleEndian(sb[20..]),
            Devices: BinaryPrimitives.ReadUInt32LittleEndian(sb[24..]), Buckets: BinaryPrimitives.ReadUInt32LittleEndian(sb[28..]),
            LogStart: BinaryPrimitives.ReadUInt64LittleEndian(sb[32..]), LogPages: BinaryPrimitives.ReadUInt64LittleEndian(sb[40..]));
        var expected = (Page: (uint)_pageSize, Device: (uint)_device, Devices: (uint)_deviceCount, Buckets: (uint)_bucketCount, LogStart: _logStart, LogPages: (ulong)_logPages);
        if (found != expected)
            throw new InvalidDataException($"device {_device}: the store on it was made with a different geometry (page size, device, devices, buckets, log start, log pages) = {found}, now {expected}; open it with the options it was created with");
    }

    private bool VerifyCheckpoint(ReadOnlySpan<byte> area)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(area) != CheckpointMagic) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(area[40..]) != (uint)_localBuckets) return false;
        int bytes = CheckpointHeaderBytes + 16 * _localBuckets;
        return BinaryPrimitives.ReadUInt64LittleEndian(area[8..]) == XxHash3.HashToUInt64(area[16..bytes]);
    }

    /// <summary>Writes the location index of this device's buckets and the log head to the next checkpoint slot.
    /// Caller holds <see cref="Gate"/>.</summary>
    private void WriteCheckpoint()
    {
        if (!TryWriteCheckpoint()) throw new IOException($"device {_device}: cannot write checkpoint slot {_checkpointSlot}");
    }

    /// <summary>As <see cref="WriteCheckpoint"/>; false on an I/O error (the previous checkpoint stays valid).</summary>
    private bool TryWriteCheckpoint()
    {
        int bytes = CheckpointHeaderBytes + 16 * _localBuckets;
        var area = new Span<byte>(_checkpoint, _checkpointPages * _pageSize);
        area.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(area, CheckpointMagic);
        BinaryPrimitives.WriteUInt64LittleEndian(area[16..], _lastSequence);
        BinaryPrimitives.WriteUInt64LittleEndian(area[24..], (ulong)_head);
        BinaryPrimitives.WriteUInt64LittleEndian(area[32..], _epoch);
        BinaryPrimitives.WriteUInt32LittleEndian(area[40..], (uint)_localBuckets);
        BinaryPrimitives.WriteUInt32LittleEndian(area[44..], (uint)_device);
        for (int i = 0; i < _localBuckets; i++)
        {
            var loc = _store.LocationOf(i * _deviceCount + _device);
            if (!loc.Exists) continue;
            BinaryPrimitives.WriteUInt64LittleEndian(area[(CheckpointHeaderBytes + 16 * i)..], loc.Page);
            BinaryPrimitives.WriteUInt64LittleEndian(area[(CheckpointHeaderBytes + 16 * i + 8)..], loc.Sequence);
        }
        BinaryPrimitives.WriteUInt64LittleEndian(area[8..], XxHash3.HashToUInt64(area[16..bytes]));
        if (!WritePages(CheckpointPage(_checkpointSlot), _checkpointPages, area).IsSuccess) return false;
        _checkpointSlot ^= 1;
        _pagesSinceCheckpoint = 0;
        Interlocked.Increment(ref _checkpoints);
        return true;
    }

    /// <summary>Writes a checkpoint now (clean shutdown; tests).</summary>
    public void Checkpoint()
    {
        lock (Gate) WriteCheckpoint();
    }

    // ---------------------------------------------------------------- batched write

    /// <summary>
    /// Commits a batch: every entry gets its status (Ok only when durable and published). Entries of one bucket are
    /// applied in arrival order into one new block; blocks of different buckets share one contiguous FUA write.
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

            int used = 0;
            for (int g = 0; g < groups; g++)
            {
                _groupPage[g] = -1;
                int bucket = _groupBucket[g];
                var old = _store.LocationOf(bucket);
                var cur = new Span<byte>(_curr, _pageSize);
                var next = new Span<byte>(_next, _pageSize);
                bool haveBlock = false;
                if (old.Exists)
                {
                    OpStatus failure = OpStatus.Ok;
                    if (!ReadPages(old.Page, 1, cur).IsSuccess) failure = OpStatus.IoError;
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
                    if (BucketBlock.Rewrite(source, next, (uint)bucket, 0, batch.Key(i), batch.Value(i), remove))
                    {
                        next.CopyTo(cur);
                        haveBlock = true;
                        changed = true;
                        batch.SetStatus(i, OpStatus.Ok);
                    }
                    else
                    {
                        batch.SetStatus(i, OpStatus.StorageFull); // the bucket's block is full
                    }
                }
                if (!changed) continue;
                cur.CopyTo(PageAt(_pages, used));
                _pageBucket[used] = bucket;
                _groupPage[g] = used++;
            }

            if (used > _free)
            {
                FailOk(batch, OpStatus.StorageFull);
                return;
            }
            long advanced = Clean(ref used, groups);
            if (!WriteAndPublish(used, advanced)) FailOk(batch, OpStatus.IoError);
        }
    }

    private static void FailOk(WriteBatch batch, OpStatus status)
    {
        for (int i = 0; i < batch.Count; i++) if (batch.Status(i) == OpStatus.Ok) batch.SetStatus(i, status);
    }

    private bool InBatch(int bucket, int groups)
    {
        for (int g = 0; g < groups; g++) if (_groupBucket[g] == bucket && _groupPage[g] >= 0) return true;
        return false;
    }

    /// <summary>
    /// Advances the log's tail until the free space after this batch reaches the reserve: dead pages are passed,
    /// live blocks are read and appended to this batch (moved). Freed pages become writable from the next batch on.
    /// Returns how many pages the tail advanced.
    /// </summary>
    private long Clean(ref int used, int groups)
    {
        long advanced = 0;
        long inLog = _logPages - _free;
        long tail = (_head + _free) % _logPages;
        while (_free - used + advanced < _reserve && advanced < inLog)
        {
            long pos = (tail + advanced) % _logPages;
            int owner = _owner[pos];
            if (owner != 0)
            {
                int bucket = owner - 1;
                var loc = _store.LocationOf(bucket);
                if (loc.Exists && loc.Device == _device && loc.Page == _logStart + (ulong)pos && !InBatch(bucket, groups))
                {
                    if (used >= _free || used >= _maxPages) break;
                    var slot = PageAt(_pages, used);
                    if (!ReadPages(loc.Page, 1, slot).IsSuccess) break; // leave it; try again next batch
                    if (!BucketBlock.Verify(slot) || BucketBlock.BucketOf(slot) != (uint)bucket || BucketBlock.SequenceOf(slot) != loc.Sequence)
                    {
                        // Its records are lost to corruption: keep the bucket reporting that, never data.
                        BucketBlock.WriteQuarantine(slot, (uint)bucket, 0);
                        Interlocked.Increment(ref _corruptBlocks);
                    }
                    _pageBucket[used++] = bucket;
                    Interlocked.Increment(ref _relocations);
                }
            }
            advanced++;
        }
        return advanced;
    }

    /// <summary>Cleaning rounds without client writes, while the free space is under the reserve.</summary>
    private void CleanOnly()
    {
        for (int round = 0; round < 64 && _free < _reserve; round++)
        {
            int used = 0;
            long advanced = Clean(ref used, 0);
            if (advanced == 0 || !WriteAndPublish(used, advanced)) return;
        }
    }

    /// <summary>Seals the <paramref name="used"/> staged blocks with new sequence numbers, writes them at the head with
    /// FUA, publishes their locations and moves the tail by <paramref name="advanced"/>. False on an I/O error (then
    /// nothing changed: the index still names the old, intact blocks).</summary>
    private bool WriteAndPublish(int used, long advanced)
    {
        if (used > 0)
        {
            for (int p = 0; p < used; p++) BucketBlock.Reseal(PageAt(_pages, p), NextSequence());
            long start = _head;
            int first = (int)Math.Min(used, _logPages - start);
            if (!WritePages(_logStart + (ulong)start, first, new ReadOnlySpan<byte>(_pages, first * _pageSize)).IsSuccess) return false;
            if (used > first && !WritePages(_logStart, used - first, new ReadOnlySpan<byte>(_pages + (long)first * _pageSize, (used - first) * _pageSize)).IsSuccess)
                return false;
            for (int p = 0; p < used; p++)
            {
                long pos = (start + p) % _logPages;
                int bucket = _pageBucket[p];
                _store.Publish(bucket, new Location(_device, 1, _logStart + (ulong)pos, BucketBlock.SequenceOf(PageAt(_pages, p))));
                _owner[pos] = bucket + 1;
            }
            Interlocked.Add(ref _pagesWritten, used);
        }
        long tail = (_head + _free) % _logPages;
        for (long j = 0; j < advanced; j++) _owner[(tail + j) % _logPages] = 0;
        _head = (_head + used) % _logPages;
        _free = _free - used + advanced;
        _pagesSinceCheckpoint += used;
        // A checkpoint per quarter lap keeps the replay short and always ahead of the head lapping it. If it fails,
        // the previous one stays valid and the next batch tries again (Commit refuses writes past half a lap).
        if (_pagesSinceCheckpoint >= _logPages / 4) TryWriteCheckpoint();
        return true;
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(_pages); _pages = null;
        NativeMemory.AlignedFree(_curr); _curr = null;
        NativeMemory.AlignedFree(_next); _next = null;
        NativeMemory.AlignedFree(_scratch); _scratch = null;
        NativeMemory.AlignedFree(_checkpoint); _checkpoint = null;
    }
}
