using System.Reflection;
using System.Runtime.InteropServices;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Fast.Storage;
using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Offload;
using Scalio.Ycsb;

namespace Scalio.Tests.Gate;

/// <summary>
/// Drives each hot-path step of Scalio on its own, with the product's real code: the generated work-request posters
/// (<see cref="ProtocolSteps"/>) on a queue pair accepted by a real <see cref="Scalio.Fast.Server.ScalioServer"/>, the
/// NVMe-oF offload initiator against the store's offload target, the client's sampled victim pick, and the device log's
/// batched commit over a RAM namespace; plus whole GET hit, GET miss with fill and PUT through a
/// <see cref="ScalioClient"/>. Keys are 16-byte YCSB keys (CityHash128 of the official key name), values 64 bytes.
/// Shared by the allocation gate (tests/Scalio.Tests/Gate) and the step benchmarks (perf/Scalio.Perf, linked source).
/// Every step method allocates nothing; each returns or records a result so that the work cannot be skipped and a
/// broken step shows (see <see cref="Failures"/>).
/// </summary>
internal sealed unsafe class HotPathRig : IDisposable
{
    /// <summary>Keys loaded into the store.</summary>
    public const int KeyCount = 4096;

    /// <summary>Value size in bytes.</summary>
    public const int ValueSize = 64;

    /// <summary>Entries per batched write (the server's default batch size).</summary>
    public const int BatchEntries = 8;

    /// <summary>The client's private sampled-victim method, bound once.</summary>
    private delegate int VictimPick(ReadOnlySpan<byte> image, int fallback);

    private readonly ScalioStore _store;
    private readonly ScalioClient _client, _pickerClient;
    private readonly ProtectionDomain _domain, _ssdDomain;
    private readonly QueuePair _qp;
    private readonly MemoryRegion _mr;
    private readonly StepContext _steps;
    private readonly WorkRequest* _chain;
    private readonly OffloadInitiator _nvme;
    private readonly RamNamespace _ram;
    private readonly SsdStore _ssd;
    private readonly WriteBatch _batch;
    private readonly VictimPick _pick;
    private readonly byte[][] _keys;
    private readonly byte[] _value = new byte[ValueSize];
    private readonly byte[] _readBuffer;
    private readonly SlotLayout _layout;
    private readonly int _cacheBuckets, _bucketOff, _atomicOff, _locationOff, _slotOff, _dataOff, _lbaSize;
    private readonly int _lockBucket, _lockSlot, _fillValueLength;
    private readonly ulong _lockHeader;
    private ulong _nextId;
    private int _next, _nextBucket, _nextLba, _nextBatchKey;

    /// <summary>Builds the store, loads <see cref="KeyCount"/> keys and prepares every step.</summary>
    /// <param name="cacheBuckets">Cache buckets (8 slots each); 4 makes nearly every rotating GET a miss with fill.</param>
    /// <param name="batchIdleMilliseconds">The server's batch idle timeout. 0 (the default here) commits a lone PUT at
    /// once, which keeps the load fast; the product default is 1 ms, which a single client pays on every PUT.</param>
    public HotPathRig(int cacheBuckets = 4, double batchIdleMilliseconds = 0)
    {
        _store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = 20_000,
            CacheBuckets = cacheBuckets,
            BatchIdleTimeout = TimeSpan.FromMilliseconds(batchIdleMilliseconds),
        });
        _layout = _store.Layout;
        var server = _store.Server.Describe();
        _cacheBuckets = server.CacheBuckets;
        _lbaSize = server.DeviceLbaSizes[0];
        _client = _store.OpenClient();
        _keys = new byte[KeyCount][];
        for (int i = 0; i < KeyCount; i++)
        {
            _keys[i] = new byte[KeyCodec.HashedKeySize];
            KeyCodec.Encode(YcsbVariant.Official, i, _keys[i]);
            _value[0] = (byte)i;
            if (_client.Put(_keys[i], _value) != OpStatus.Ok) throw new InvalidOperationException($"loading key {i} failed");
        }
        _readBuffer = new byte[_layout.ValueCapacity];
        for (int i = 0; i < _cacheBuckets * _layout.SlotsPerBucket * 2; i++) _client.Get(_keys[i], _readBuffer, out _); // fill the cache

        // A queue pair of our own, accepted by the server like a client's, and its buffers.
        _domain = _store.Fabric.CreateDomain();
        int off = 0;
        _bucketOff = off; off += (_layout.BucketSize + 63) & ~63;
        _atomicOff = off; off += 64;
        _locationOff = off; off += 64;
        _slotOff = off; off += (_layout.SlotSize + 63) & ~63;
        off = (off + 4095) & ~4095;
        _dataOff = off; off += server.PageSize;
        _mr = _domain.Allocate((nuint)off, MemoryAccess.All, 4096);
        _steps = new StepContext(_mr, _bucketOff, _atomicOff, _locationOff, _slotOff, server);
        _chain = (WorkRequest*)NativeMemory.AlignedAlloc((nuint)(ProtocolSteps.MaxChainLength * sizeof(WorkRequest)), 64);
        _qp = _domain.CreateQueuePair(_domain.CreateCompletionQueue(256), _domain.CreateCompletionQueue(16), new QueuePairOptions { MaxReceives = 2 });
        _store.Server.Accept(_qp);
        _nvme = new OffloadInitiator(_domain, _store.OffloadTarget);

        // The slot the CAS-lock and fill steps work on: a VALID slot of bucket 0, whose image we keep so that the
        // fill writes back exactly what is there and the lock always releases to the same header.
        _lockBucket = 0;
        FetchBlock(0);
        var image = _mr.Slice(_bucketOff, _layout.BucketSize);
        _lockSlot = -1;
        for (int i = 0; i < _layout.SlotsPerBucket && _lockSlot < 0; i++)
            if (SlotHeader.State(_layout.HeaderAt(image, i)) == SlotState.Valid) _lockSlot = i;
        if (_lockSlot < 0) throw new InvalidOperationException("bucket 0 holds no VALID slot after loading");
        _lockHeader = _layout.HeaderAt(image, _lockSlot);
        var slotImage = _layout.SlotAt(image, _lockSlot);
        slotImage.CopyTo(_mr.Slice(_slotOff, _layout.SlotSize));
        _fillValueLength = SlotLayout.ValueLength(slotImage);

        // The client's sampled victim pick (private; bound once to a client with sampled eviction).
        _pickerClient = new ScalioClient(_store.Fabric.CreateDomain(), _store.Server, _store.OffloadTarget,
            new ScalioClientOptions { Eviction = EvictionPolicy.Sampled, EvictionSamples = 4 });
        var method = typeof(ScalioClient).GetMethod("SampledVictim", BindingFlags.Instance | BindingFlags.NonPublic)
            ?? throw new InvalidOperationException("ScalioClient.SampledVictim(ReadOnlySpan<byte>, int) not found: update HotPathRig");
        _pick = method.CreateDelegate<VictimPick>(_pickerClient);

        // The batched write: a device log of its own over a RAM namespace (the server's commit path, on this thread).
        _ssdDomain = _store.Fabric.CreateDomain();
        _ram = new RamNamespace(1, 4096, 4096);
        _ssd = new SsdStore(_ssdDomain, [_ram], 1024, 4096, BatchEntries);
        _batch = new WriteBatch(BatchEntries, _layout.KeyCapacity, _layout.ValueCapacity);
    }

    /// <summary>The store under test.</summary>
    public ScalioStore Store => _store;

    /// <summary>The client of the whole GET/PUT steps.</summary>
    public ScalioClient Client => _client;

    /// <summary>Step results that were wrong (a failed CAS, an NVMe error, a batch entry not committed...).</summary>
    public long Failures { get; private set; }

    /// <summary>Batches committed by <see cref="BatchedWrite"/>.</summary>
    public long BatchesCommitted => _ssd.Logs[0].Batches;

    private void Await(ulong id)
    {
        var cq = _qp.SendQueue;
        while (true)
        {
            if (!cq.PollBlocking(out var wc, timeoutMilliseconds: 10_000)) throw new TimeoutException("no completion from the fabric");
            if (!wc.IsSuccess) Failures++;
            if (wc.Id == id) return;
        }
    }

    private void FetchBlock(int bucket) => Await(ProtocolSteps.PostReadBucket(_qp, _chain, in _steps, ++_nextId, bucket));

    /// <summary>Block fetch: one RDMA READ of a whole cache bucket, then the scan of its slot headers.</summary>
    /// <returns>VALID slots found.</returns>
    public int FetchBlock()
    {
        int bucket = _nextBucket = _nextBucket + 1 == _cacheBuckets ? 0 : _nextBucket + 1;
        FetchBlock(bucket);
        var image = _mr.Slice(_bucketOff, _layout.BucketSize);
        int valid = 0;
        for (int i = 0; i < _layout.SlotsPerBucket; i++)
            if (SlotHeader.State(_layout.HeaderAt(image, i)) == SlotState.Valid) valid++;
        return valid;
    }

    /// <summary>Victim pick: the client's sampled-LRU choice over the last fetched bucket image (CPU only).</summary>
    public int PickVictim() => _pick(_mr.Slice(_bucketOff, _layout.BucketSize), 0);

    /// <summary>CAS lock: the chained CAS-to-FILLING + bucket re-read of the miss path, then the releasing CAS back.</summary>
    public void LockVictim()
    {
        ulong locked = SlotHeader.Next(_lockHeader, SlotState.Filling, SlotHeader.Fingerprint(_lockHeader), 0);
        ulong first = _nextId + 1;
        _nextId += ProtocolSteps.LockAndRereadLength;
        Await(ProtocolSteps.PostLockAndReread(_qp, _chain, in _steps, first, _lockBucket, _lockSlot, _lockHeader, locked));
        if (*(ulong*)(_mr.Address + _atomicOff) != _lockHeader) Failures++;
        Await(ProtocolSteps.PostRelease(_qp, _chain, in _steps, ++_nextId, _lockBucket, _lockSlot, locked, _lockHeader));
        if (*(ulong*)(_mr.Address + _atomicOff) != locked) Failures++;
    }

    /// <summary>Offloaded read: one NVMe-oF READ of a page served by the offload target straight into client memory.</summary>
    public void OffloadedRead()
    {
        int lba = _nextLba = (_nextLba + 1) & 63;
        var st = _nvme.Read(1, (ulong)lba, 1, _lbaSize, _mr, _dataOff);
        if (!st.IsSuccess) Failures++;
    }

    /// <summary>RDMA fill: the chained WRITE of a slot body + publishing CAS (rewrites the slot's own image, CAS to itself).</summary>
    public void RdmaFill()
    {
        ulong first = _nextId + 1;
        _nextId += ProtocolSteps.FillAndPublishLength;
        Await(ProtocolSteps.PostFillAndPublish(_qp, _chain, in _steps, first, _lockBucket, _lockSlot, _fillValueLength, _lockHeader, _lockHeader));
        if (*(ulong*)(_mr.Address + _atomicOff) != _lockHeader) Failures++;
    }

    /// <summary>Batched write: <see cref="BatchEntries"/> PUTs gathered into a batch and committed to the device log
    /// (one contiguous FUA write, index publish; cleaning and checkpoints when due).</summary>
    public void BatchedWrite()
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int i = 0; i < BatchEntries; i++)
        {
            var key = _keys[_nextBatchKey = (_nextBatchKey + 1) & (KeyCount - 1)];
            _value[0] = (byte)_nextBatchKey;
            if (_batch.TryAdd(new KeyHash(key).SsdBucket(_ssd.BucketCount), key, _value, remove: false, now) < 0) Failures++;
        }
        _ssd.Commit(0, _batch);
        for (int i = 0; i < _batch.Count; i++)
            if (_batch.Status(i) != OpStatus.Ok) Failures++;
        _batch.Clear();
    }

    /// <summary>Whole GET that hits the cache (one key read over and over).</summary>
    public OpStatus GetHit() => _client.Get(_keys[0], _readBuffer, out _);

    /// <summary>Whole GET over rotating keys: with a small cache nearly every one is a miss with fill.</summary>
    public OpStatus GetMissWithFill() => _client.Get(_keys[_next = (_next + 1) & (KeyCount - 1)], _readBuffer, out _);

    /// <summary>Whole PUT over rotating keys (two-sided request; server batches, commits and invalidates).</summary>
    public OpStatus Put() => _client.Put(_keys[_next = (_next + 1) & (KeyCount - 1)], _value);

    /// <summary>Key <paramref name="i"/> of the load (16-byte YCSB key).</summary>
    public ReadOnlySpan<byte> Key(int i) => _keys[i];

    /// <summary>Stops everything.</summary>
    public void Dispose()
    {
        _batch.Dispose();
        _ssd.Dispose();
        _ram.Dispose();
        _ssdDomain.Dispose();
        _pickerClient.Dispose();
        _nvme.Dispose();
        _qp.Dispose();
        _mr.Dispose();
        _domain.Dispose();
        NativeMemory.AlignedFree(_chain);
        _client.Dispose();
        _store.Dispose();
    }
}
