using Scalio.Fast.Cache;
using Scalio.Fast.Rpc;
using Scalio.Verbs;
using Scalio.Verbs.Nvme;

namespace Scalio.Fast.Storage;

/// <summary>
/// The server's SSD store: keys hash to SSD buckets; each bucket's records live inline in one checksummed page,
/// rewritten copy-on-write to a fresh page on every write (the old page is freed after the new one is durable and
/// published). Buckets are spread over the devices (bucket b on device b mod N). The location index lives in a
/// registered memory region that clients read one-sided.
/// </summary>
internal sealed unsafe class SsdStore : IDisposable
{
    private const int LockStripes = 1024;
    private readonly NvmeNamespace[] _devices;
    private readonly PageAllocator[] _allocators;
    private readonly object[] _locks;
    private readonly MemoryRegion _index;
    private long _sequence;
    private long _reads, _writes;

    public SsdStore(ProtectionDomain domain, NvmeNamespace[] devices, int bucketCount, int pageSize)
    {
        if (devices.Length == 0 || devices.Length > 255) throw new ArgumentException("a store needs 1..255 devices", nameof(devices));
        ArgumentOutOfRangeException.ThrowIfLessThan(bucketCount, 1);
        _devices = devices;
        PageSize = pageSize;
        BucketCount = bucketCount;
        _allocators = new PageAllocator[devices.Length];
        for (int d = 0; d < devices.Length; d++)
        {
            var ns = devices[d];
            if (pageSize % ns.LbaSize != 0) throw new ArgumentException($"page size {pageSize} is not a multiple of device {d}'s {ns.LbaSize}-byte LBA");
            ulong pages = ns.LbaCount * (ulong)ns.LbaSize / (ulong)pageSize;
            int bucketsHere = (bucketCount + devices.Length - 1 - d) / devices.Length;
            if (pages < (ulong)bucketsHere + 2)
                throw new ArgumentException($"device {d} holds {pages} pages of {pageSize} B; {bucketsHere} buckets need at least {bucketsHere + 2}");
            // Page 0 is reserved (superblock); every other page starts free.
            _allocators[d] = new PageAllocator(1, pages - 1);
        }
        _locks = new object[LockStripes];
        for (int i = 0; i < _locks.Length; i++) _locks[i] = new object();
        _index = domain.Allocate((nuint)bucketCount * Location.EntrySize, MemoryAccess.RemoteRead | MemoryAccess.LocalWrite, 64);
    }

    /// <summary>Bytes per page (one bucket block).</summary>
    public int PageSize { get; }

    /// <summary>Number of SSD buckets.</summary>
    public int BucketCount { get; }

    /// <summary>The registered location index (clients read it one-sided).</summary>
    public MemoryRegion IndexRegion => _index;

    /// <summary>The devices.</summary>
    public IReadOnlyList<NvmeNamespace> Devices => _devices;

    /// <summary>SSD page reads issued by the server CPU.</summary>
    public long ServerReads => Volatile.Read(ref _reads);

    /// <summary>SSD page writes issued by the server CPU.</summary>
    public long ServerWrites => Volatile.Read(ref _writes);

    /// <summary>Reads the location of an SSD bucket as the server sees it.</summary>
    public Location LocationOf(int bucket)
    {
        ulong* e = (ulong*)(_index.Address + (long)bucket * Location.EntrySize);
        return Location.Decode(Volatile.Read(ref e[0]), Volatile.Read(ref e[1]));
    }

    private void Publish(int bucket, Location location)
    {
        ulong* e = (ulong*)(_index.Address + (long)bucket * Location.EntrySize);
        Volatile.Write(ref e[1], location.Sequence);
        Volatile.Write(ref e[0], location.Word0());
    }

    /// <summary>First LBA of a page on a device.</summary>
    public ulong LbaOf(int device, ulong page) => page * (ulong)(PageSize / _devices[device].LbaSize);

    /// <summary>LBAs per page on a device.</summary>
    public int LbasPerPage(int device) => PageSize / _devices[device].LbaSize;

    /// <summary>Reads one page with the server CPU.</summary>
    public NvmeStatus ReadPage(int device, ulong page, Span<byte> destination)
    {
        Interlocked.Increment(ref _reads);
        return _devices[device].Read(LbaOf(device, page), LbasPerPage(device), destination[..PageSize]);
    }

    /// <summary>
    /// Writes (or removes) one record durably: read the bucket's block, rewrite it with the record into a fresh page,
    /// write that page with FUA, publish the new location, free the old page. <paramref name="scratchA"/> and
    /// <paramref name="scratchB"/> are page-sized buffers owned by the calling worker.
    /// </summary>
    public OpStatus Write(in KeyHash hash, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool remove, Span<byte> scratchA, Span<byte> scratchB)
    {
        int bucket = hash.SsdBucket(BucketCount);
        int device = bucket % _devices.Length;
        lock (_locks[bucket & (LockStripes - 1)])
        {
            var old = LocationOf(bucket);
            ReadOnlySpan<byte> current = default;
            if (old.Exists)
            {
                var st = ReadPage(old.Device, old.Page, scratchA);
                if (!st.IsSuccess) return OpStatus.IoError;
                var page = scratchA[..PageSize];
                if (!BucketBlock.Verify(page) || BucketBlock.BucketOf(page) != (uint)bucket || BucketBlock.SequenceOf(page) != old.Sequence)
                    return OpStatus.Corrupt;
                current = page;
            }
            else if (remove)
            {
                return OpStatus.Ok;
            }

            ulong sequence = (ulong)Interlocked.Increment(ref _sequence);
            if (!BucketBlock.Rewrite(current, scratchB[..PageSize], (uint)bucket, sequence, key, value, remove))
                return OpStatus.StorageFull;
            if (!_allocators[device].TryAllocate(out ulong newPage)) return OpStatus.StorageFull;
            Interlocked.Increment(ref _writes);
            var ws = _devices[device].Write(LbaOf(device, newPage), LbasPerPage(device), scratchB[..PageSize], fua: true);
            if (!ws.IsSuccess)
            {
                _allocators[device].Free(newPage);
                return OpStatus.IoError;
            }
            Publish(bucket, new Location(device, 1, newPage, sequence));
            if (old.Exists) _allocators[old.Device].Free(old.Page);
            return OpStatus.Ok;
        }
    }

    /// <summary>Reads a key with the server CPU (the LEED path, and tests). <paramref name="scratch"/> is page-sized.</summary>
    public OpStatus Read(in KeyHash hash, ReadOnlySpan<byte> key, Span<byte> scratch, out ReadOnlySpan<byte> value)
    {
        value = default;
        int bucket = hash.SsdBucket(BucketCount);
        for (int attempt = 0; attempt < 64; attempt++)
        {
            var loc = LocationOf(bucket);
            if (!loc.Exists) return OpStatus.NotFound;
            var st = ReadPage(loc.Device, loc.Page, scratch);
            if (!st.IsSuccess) return OpStatus.IoError;
            switch (BucketBlock.Find(scratch[..PageSize], (uint)bucket, loc.Sequence, key, out value))
            {
                case BlockLookup.Found: return OpStatus.Ok;
                case BlockLookup.NotFound: return OpStatus.NotFound;
                case BlockLookup.Corrupt:
                    if (LocationOf(bucket) == loc) return OpStatus.Corrupt;
                    break; // rewritten meanwhile: retry
            }
        }
        return OpStatus.Timeout;
    }

    public void Dispose() => _index.Dispose();

    /// <summary>Free pages of one device, handed out first-in first-out so a freed page is reused as late as possible
    /// (readers in flight on it see a sequence mismatch anyway).</summary>
    private sealed class PageAllocator
    {
        private readonly ulong[] _ring;
        private long _head, _count;

        public PageAllocator(ulong first, ulong count)
        {
            if (count > int.MaxValue) count = int.MaxValue;
            _ring = new ulong[count];
            for (long i = 0; i < (long)count; i++) _ring[i] = first + (ulong)i;
            _count = (long)count;
        }

        public bool TryAllocate(out ulong page)
        {
            lock (_ring)
            {
                if (_count == 0) { page = 0; return false; }
                page = _ring[_head];
                _head = (_head + 1) % _ring.Length;
                _count--;
                return true;
            }
        }

        public void Free(ulong page)
        {
            lock (_ring)
            {
                _ring[(_head + _count) % _ring.Length] = page;
                _count++;
            }
        }
    }
}
