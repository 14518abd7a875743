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
/// One SSD's log. Page 0 is the superblock, then two checkpoint slots, then a circular log of pages; a page of the
/// log is a checksummed <see cref="BucketBlock"/>, part of a checksummed <see cref="ValueRecord"/> (a record over the
/// inline limit, one or more pages) or a pad page. A batch of writes rewrites each touched bucket's block
/// (read-modify-write, or from the cache of recently written blocks) and appends the new value records, then all the
/// blocks, plus what the cleaner moves from the log's tail, as ONE contiguous FUA write (two when it wraps the end of
/// the log). Then the location index is published. A page is only overwritten once the write that superseded it is
/// durable, and pages are reused in log order, so a reader holding an old location or pointer sees a bucket/sequence
/// mismatch and retries.
/// </summary>
internal sealed unsafe class DeviceLog : IDisposable
{
    private const uint SuperMagic = 0x31534353;      // "SCS1"
    private const uint CheckpointMagic = 0x314B4353; // "SCK1"
    private const uint FormatVersion = 1;           // bucket blocks only
    private const uint ValueLogFormatVersion = 2;   // bucket blocks, value records and pads
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
    // Per log page: bucket + 1 of the block written there (live only if the index agrees), -(bucket + 1) for the first
    // page of a live value-log record of that bucket, 0 for anything else (dead, free, pad, a record's later pages).
    private readonly int[] _owner;
    private readonly byte[] _span; // per log page: pages of the value record starting there (value log only)
    private readonly int _batchLimit, _maxPages, _reserve, _valuePages, _floor, _cleanKeep;
    private readonly int[] _groupBucket, _entryGroup, _blockBucket, _stagedBucket;
    private readonly byte[] _stagedKind; // per staged value page: 0 continuation, 1 record head, 2 pad
    private readonly byte[] _stagedSpan;
    private readonly long[] _kills;
    private int _vUsed, _bUsed, _killCount;
    private long _liveValuePages, _stagedLive, _valueBudget;
    private byte* _pages, _blocks, _curr, _next, _scratch, _checkpoint, _pointer;
    private long _head, _free, _pagesSinceCheckpoint;
    private ulong _epoch, _counter, _lastSequence;
    private int _checkpointSlot;
    private long _batches, _pagesWritten, _relocations, _checkpoints, _corruptBlocks, _valueRecords, _valueMoves;

    private const byte KindContinuation = 0, KindHead = 1, KindPad = 2;

    /// <summary>Bucket blocks kept in server DRAM after they were written (per device: 256 x 4 KiB = 1 MiB with 4 KiB
    /// pages), so rewriting a recently written bucket skips its read-modify-write read. Direct-mapped by bucket.</summary>
    public const int CachedBlocks = 256;
    private readonly int[] _cacheBucket = new int[CachedBlocks];
    private readonly ulong[] _cacheSequence = new ulong[CachedBlocks];
    private byte* _cache;
    private long _cacheHits;

    /// <summary>Serialises commits, cleaning and checkpoints of this device (one writer per log).</summary>
    public readonly object Gate = new();

    /// <summary>Creates the log of one device (call <see cref="Open"/> next). <paramref name="valuePages"/>: pages of the
    /// largest value-log record the schema can produce; 0 when every record stays inline (no value log).</summary>
    public DeviceLog(SsdStore store, NvmeNamespace device, int deviceIndex, int deviceCount, int bucketCount, int pageSize, int batchLimit, int valuePages = 0)
    {
        _store = store;
        _ns = device;
        _device = deviceIndex;
        _deviceCount = deviceCount;
        _bucketCount = bucketCount;
        _pageSize = pageSize;
        if (pageSize % device.LbaSize != 0) throw new ArgumentException($"page size {pageSize} is not a multiple of device {deviceIndex}'s {device.LbaSize}-byte LBA");
        if (valuePages < 0 || valuePages > 255) throw new ArgumentOutOfRangeException(nameof(valuePages), "a value record spans 0..255 pages");
        _lbasPerPage = pageSize / device.LbaSize;
        _localBuckets = (bucketCount - deviceIndex + deviceCount - 1) / deviceCount;
        _checkpointPages = (CheckpointHeaderBytes + 16 * _localBuckets + pageSize - 1) / pageSize;
        _logStart = 1 + 2 * (ulong)_checkpointPages;
        ulong totalPages = device.LbaCount / (ulong)_lbasPerPage;
        _batchLimit = batchLimit;
        _valuePages = valuePages;
        // Staged pages per batch: the client's blocks, the cleaner's moves and, with a value log, one record (plus
        // pads at the end of the log) per client write.
        _maxPages = 2 * batchLimit + 8 + (valuePages > 0 ? batchLimit * (valuePages + 1) + valuePages : 0);
        _reserve = _maxPages;
        // With a value log the log can really fill up. Keep room so that it can always drain again: client writes never
        // take the last pages (the cleaner needs them to move records, each with its block, until it reaches dead
        // pages), and client value records stop a batch earlier, so deletes and small writes still fit.
        _cleanKeep = valuePages > 0 ? batchLimit + 2 * (valuePages + 1) : 0;
        _floor = valuePages > 0 ? _cleanKeep + batchLimit : 0;
        long needed = _localBuckets + _reserve + 8;
        _logPages = totalPages > _logStart ? (long)(totalPages - _logStart) : 0;
        if (_logPages < needed)
            throw new ArgumentException($"device {deviceIndex} holds {totalPages} pages of {pageSize} B; {_localBuckets} buckets with batch size {batchLimit} need at least {needed + (long)_logStart}");
        if (_logPages > int.MaxValue) throw new ArgumentException($"device {deviceIndex} is too large for this layout ({_logPages} pages)");
        // Live value-record pages are capped at half of what the blocks and the reserve leave, so the cleaner passes
        // at least as many dead pages as it moves live ones (a move also rewrites the record's block, a page that only
        // comes back a lap later); a PUT of a new large record over the cap fails with StorageFull.
        _valueBudget = valuePages > 0 ? Math.Max(0, (_logPages - _localBuckets - 2L * _reserve) / 2) : 0;
        _owner = new int[_logPages];
        _span = valuePages > 0 ? new byte[_logPages] : [];
        _groupBucket = new int[batchLimit];
        _entryGroup = new int[batchLimit];
        _blockBucket = new int[_maxPages];
        _stagedBucket = new int[_maxPages];
        _stagedKind = new byte[_maxPages];
        _stagedSpan = new byte[_maxPages];
        _kills = new long[batchLimit];
        _pages = (byte*)NativeMemory.AlignedAlloc((nuint)_maxPages * (nuint)pageSize, 4096);
        _blocks = (byte*)NativeMemory.AlignedAlloc((nuint)_maxPages * (nuint)pageSize, 4096);
        _curr = (byte*)NativeMemory.AlignedAlloc((nuint)pageSize, 4096);
        _next = (byte*)NativeMemory.AlignedAlloc((nuint)pageSize, 4096);
        _scratch = (byte*)NativeMemory.AlignedAlloc((nuint)pageSize * ScanChunkPages, 4096);
        _checkpoint = (byte*)NativeMemory.AlignedAlloc((nuint)_checkpointPages * (nuint)pageSize, 4096);
        _pointer = (byte*)NativeMemory.AlignedAlloc(64, 64);
        _cache = (byte*)NativeMemory.AlignedAlloc((nuint)CachedBlocks * (nuint)pageSize, 4096);
        Array.Fill(_cacheBucket, -1);
        if (FileNamespace.Backs(_ns))
        {
            // Block fetch, batched: a batch's blocks that the cache lacks are read from the device in one submission.
            var gather = new ReadGather(batchLimit);
            if (gather.Gathers)
            {
                _gather = gather;
                _prefetch = (byte*)NativeMemory.AlignedAlloc((nuint)batchLimit * (nuint)pageSize, 4096);
                _prefetchIndex = new int[batchLimit];
            }
            else
            {
                gather.Dispose();
            }
        }
    }

    private readonly ReadGather? _gather;
    private byte* _prefetch;
    private readonly int[] _prefetchIndex = [];

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

    /// <summary>Value-log records written for client PUTs.</summary>
    public long ValueRecords => Volatile.Read(ref _valueRecords);

    /// <summary>Live value-log records the cleaner moved from the tail to the head (each also rewrites its bucket's block).</summary>
    public long ValueMoves => Volatile.Read(ref _valueMoves);

    /// <summary>Bucket-block reads (rewrites and cleaner moves) served from the server's cache of recently written blocks.</summary>
    public long BlockCacheHits => Volatile.Read(ref _cacheHits);

    /// <summary>Pages held by live value-log records.</summary>
    public long LiveValuePages { get { lock (Gate) return _liveValuePages; } }

    /// <summary>Most pages live value-log records may hold; a PUT of a new large record beyond it fails with StorageFull.</summary>
    public long ValueBudget => _valueBudget;

    /// <summary>Pages of the largest value-log record (0: no value log; every record is inline).</summary>
    public int ValuePages => _valuePages;

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

    /// <summary>Sequence number of the page staged at index <paramref name="index"/> of the batch being built
    /// (pages are written in staging order, so sequence numbers grow along the log).</summary>
    private ulong SeqAt(int index) => (_epoch << EpochShift) | (_counter + 1 + (ulong)index);

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

    /// <summary>Layout version written to the superblock: a log that may hold value records is version 2, so a build
    /// that only knows bucket blocks refuses it instead of ending its replay at the first value record.</summary>
    private uint Version => _valuePages > 0 ? ValueLogFormatVersion : FormatVersion;

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
        BinaryPrimitives.WriteUInt32LittleEndian(sb[4..], Version);
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
        if (version != Version)
            throw new InvalidDataException($"device {_device}: layout version {version}, but this schema needs {Version} " +
                $"({(Version == ValueLogFormatVersion ? "with" : "without")} a value log); open it with the schema it was created with");
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

    private int CacheSlot(int bucket) => (bucket / _deviceCount) % CachedBlocks;

    /// <summary>Reads the current block of <paramref name="bucket"/> (named by <paramref name="location"/>): from the
    /// cache of recently written blocks when it holds exactly that block (same sequence), else from the SSD.</summary>
    /// <summary>True when the block cache holds the block <paramref name="location"/> names for <paramref name="bucket"/>.</summary>
    private bool CacheHolds(int bucket, in Location location)
    {
        int slot = CacheSlot(bucket);
        return _cacheBucket[slot] == bucket && _cacheSequence[slot] == location.Sequence;
    }

    private NvmeStatus ReadBlock(int bucket, in Location location, Span<byte> destination)
    {
        int slot = CacheSlot(bucket);
        if (CacheHolds(bucket, in location))
        {
            new ReadOnlySpan<byte>(_cache + (long)slot * _pageSize, _pageSize).CopyTo(destination);
            Interlocked.Increment(ref _cacheHits);
            return NvmeStatus.Success;
        }
        return ReadPages(location.Page, 1, destination);
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

    public void Dispose()
    {
        NativeMemory.AlignedFree(_pages); _pages = null;
        NativeMemory.AlignedFree(_blocks); _blocks = null;
        NativeMemory.AlignedFree(_curr); _curr = null;
        NativeMemory.AlignedFree(_next); _next = null;
        NativeMemory.AlignedFree(_scratch); _scratch = null;
        NativeMemory.AlignedFree(_checkpoint); _checkpoint = null;
        NativeMemory.AlignedFree(_pointer); _pointer = null;
        NativeMemory.AlignedFree(_cache); _cache = null;
        _gather?.Dispose();
        NativeMemory.AlignedFree(_prefetch); _prefetch = null;
    }
}
