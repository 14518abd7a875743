using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Scalio.Nvme;

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
internal sealed unsafe partial class DeviceLog : IDisposable
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

    /// <summary>Frees the page buffers and the block cache.</summary>
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
