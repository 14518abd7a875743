using Scalio.Fast.Cache;
using Scalio.Verbs;
using Scalio.Nvme;

namespace Scalio.Fast.Storage;

/// <summary>
/// The server's SSD store: keys hash to SSD buckets, bucket b lives on device b mod N (keys sharded across SSDs).
/// Each device holds a log of checksummed bucket blocks and value records (<see cref="DeviceLog"/>); a record over
/// <see cref="BucketBlock.InlineLimit"/> lives in a value record that its bucket's block points to; a bucket's
/// current block is named by its entry in the location index, a registered memory region that clients read one-sided. Writes
/// arrive in batches per device (<see cref="Commit"/>); on open, each device is formatted when blank or recovered
/// from its checkpoint and log.
/// </summary>
internal sealed unsafe class SsdStore : IDisposable
{
    private readonly NvmeNamespace[] _devices;
    private readonly DeviceLog[] _logs;
    private readonly MemoryRegion _index;
    private long _reads, _writes;

    /// <summary>Opens the store over <paramref name="devices"/>; <paramref name="valuePages"/> is the schema's largest
    /// value-log record in pages (<see cref="ValueRecord.MaxPages"/>), 0 when every record stays inline.</summary>
    public SsdStore(ProtectionDomain domain, NvmeNamespace[] devices, int bucketCount, int pageSize, int batchLimit = 8, int valuePages = 0)
    {
        if (devices.Length == 0 || devices.Length > 255) throw new ArgumentException("a store needs 1..255 devices", nameof(devices));
        ArgumentOutOfRangeException.ThrowIfLessThan(bucketCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchLimit, 1);
        _devices = devices;
        PageSize = pageSize;
        BucketCount = bucketCount;
        ValuePages = valuePages;
        _index = domain.Allocate((nuint)bucketCount * Location.EntrySize, MemoryAccess.RemoteRead | MemoryAccess.LocalWrite, 64);
        _logs = new DeviceLog[devices.Length];
        try
        {
            for (int d = 0; d < devices.Length; d++) _logs[d] = new DeviceLog(this, devices[d], d, devices.Length, bucketCount, pageSize, batchLimit, valuePages);
            for (int d = 0; d < devices.Length; d++) _logs[d].Open();
        }
        catch
        {
            foreach (var l in _logs) l?.Dispose();
            _index.Dispose();
            throw;
        }
    }

    /// <summary>Bytes per page (one bucket block).</summary>
    public int PageSize { get; }

    /// <summary>Pages of the largest value-log record (0: no value log).</summary>
    public int ValuePages { get; }

    /// <summary>Number of SSD buckets.</summary>
    public int BucketCount { get; }

    /// <summary>The registered location index (clients read it one-sided).</summary>
    public MemoryRegion IndexRegion => _index;

    /// <summary>The devices.</summary>
    public IReadOnlyList<NvmeNamespace> Devices => _devices;

    /// <summary>The per-device logs.</summary>
    public IReadOnlyList<DeviceLog> Logs => _logs;

    /// <summary>SSD read commands issued by the server CPU.</summary>
    public long ServerReads => Volatile.Read(ref _reads);

    /// <summary>SSD write commands issued by the server CPU.</summary>
    public long ServerWrites => Volatile.Read(ref _writes);

    internal void CountRead() => Interlocked.Increment(ref _reads);

    internal void CountWrite() => Interlocked.Increment(ref _writes);

    /// <summary>Device holding an SSD bucket.</summary>
    public int DeviceOf(int bucket) => bucket % _devices.Length;

    /// <summary>Reads the location of an SSD bucket as the server sees it.</summary>
    public Location LocationOf(int bucket)
    {
        ulong* e = (ulong*)(_index.Address + (long)bucket * Location.EntrySize);
        return Location.Decode(Volatile.Read(ref e[0]), Volatile.Read(ref e[1]));
    }

    /// <summary>Publishes a bucket's location: word 1 (sequence) then word 0, so a one-sided reader that tears the pair
    /// is caught by the block's own bucket id and sequence.</summary>
    internal void Publish(int bucket, Location location)
    {
        ulong* e = (ulong*)(_index.Address + (long)bucket * Location.EntrySize);
        Volatile.Write(ref e[1], location.Sequence);
        Volatile.Write(ref e[0], location.Word0());
    }

    /// <summary>First LBA of a page on a device.</summary>
    public ulong LbaOf(int device, ulong page) => page * (ulong)(PageSize / _devices[device].LbaSize);

    /// <summary>LBAs per page on a device.</summary>
    public int LbasPerPage(int device) => PageSize / _devices[device].LbaSize;

    /// <summary>Commits a batch of writes that all belong to <paramref name="device"/>; sets each entry's status.</summary>
    public void Commit(int device, WriteBatch batch) => _logs[device].Commit(batch);

    /// <summary>Writes a checkpoint on every device (clean shutdown).</summary>
    public void Checkpoint()
    {
        foreach (var l in _logs) l.Checkpoint();
    }

    [ThreadStatic] private static byte[]? t_valueScratch;

    /// <summary>Reads a key with the server CPU (server-side GETs, and tests): the bucket block, then for an indirect record
    /// its value-log record (2 reads). <paramref name="scratch"/> is page-sized; the value of an indirect record is
    /// returned from a per-thread buffer, valid until this thread's next read.</summary>
    public OpStatus Read(in KeyHash hash, ReadOnlySpan<byte> key, Span<byte> scratch, out ReadOnlySpan<byte> value)
    {
        value = default;
        int bucket = hash.SsdBucket(BucketCount);
        for (int attempt = 0; attempt < 64; attempt++)
        {
            var loc = LocationOf(bucket);
            if (!loc.Exists) return OpStatus.NotFound;
            CountRead();
            var st = _devices[loc.Device].Read(LbaOf(loc.Device, loc.Page), LbasPerPage(loc.Device), scratch[..PageSize]);
            if (!st.IsSuccess) return OpStatus.IoError;
            switch (BucketBlock.Find(scratch[..PageSize], (uint)bucket, loc.Sequence, key, out value))
            {
                case BlockLookup.Found: return OpStatus.Ok;
                case BlockLookup.NotFound: return OpStatus.NotFound;
                case BlockLookup.Corrupt:
                    if (LocationOf(bucket) == loc) return OpStatus.Corrupt;
                    break; // rewritten meanwhile: retry
                case BlockLookup.Indirect:
                    var ptr = ValuePointer.Read(value);
                    value = default;
                    if (ptr.Lost) return OpStatus.Corrupt;
                    if (ptr.Pages > ValuePages) break; // torn: retry
                    // Cold per thread: made at the thread's first value-log read, and again only when a store with
                    // larger records than the last one's runs on this thread (the buffer is shared by every store).
                    var buffer = t_valueScratch;
                    if (buffer is null || buffer.Length < ptr.Pages * PageSize)
                        buffer = t_valueScratch = GC.AllocateArray<byte>(Math.Max(1, ValuePages) * PageSize, pinned: true);
                    var record = buffer.AsSpan(0, ptr.Pages * PageSize);
                    CountRead();
                    st = _devices[loc.Device].Read(LbaOf(loc.Device, ptr.Page), ptr.Pages * LbasPerPage(loc.Device), record);
                    if (!st.IsSuccess) return OpStatus.IoError;
                    switch (ValueRecord.Check(record, (uint)bucket, in ptr, key, out value))
                    {
                        case ValueCheck.Ok: return OpStatus.Ok;
                        case ValueCheck.Corrupt:
                            value = default;
                            if (LocationOf(bucket) == loc) return OpStatus.Corrupt; // the index still names it: real damage
                            break;
                    }
                    break; // moved or recycled by the cleaner: retry from the index
            }
        }
        return OpStatus.Timeout;
    }

    public void Dispose()
    {
        foreach (var l in _logs) l.Dispose();
        _index.Dispose();
    }
}
