using System.Buffers.Binary;
using System.Diagnostics;
using Scalio.Fast.Cache;
using Scalio.Fast.Rpc;
using Scalio.Fast.Storage;
using Scalio.Verbs;
using Scalio.Nvme;

namespace Scalio.Fast.Server;

/// <summary>
/// The server: owns the DRAM cache (registered for one-sided client access), the location index and the SSD store.
/// Its worker threads only handle writes (PUT/DELETE over two-sided messages), batched per SSD: durable SSD write,
/// index update, invalidation of every cached slot of the key, reply. It never serves a cache hit or an SSD read for
/// a Scalio client. Opening a server formats blank devices and recovers formatted ones (checkpoint plus log replay).
/// </summary>
public sealed unsafe partial class ScalioServer : IDisposable
{
    /// <summary>Offset of bucket 0 in the cache region (the first 64 bytes are a control block).</summary>
    public const int BucketsOffset = 64;
    private const ulong ControlMagic = 0x314F494C414353; // "SCALIO1"

    private readonly ScalioServerOptions _options;
    private readonly SlotLayout _layout;
    private readonly ProtectionDomain _domain;
    private readonly MemoryRegion _cache;
    private readonly SsdStore _store;
    private readonly ServerAtomics _atomics;
    private readonly Worker[] _workers;
    private readonly DeviceQueue[] _queues;
    private volatile CpuBudget? _budget;
    private readonly long _idleTicks, _drainGraceTicks;
    private readonly long _writerWindowTicks = Stopwatch.Frequency / 20; // a connection that wrote in the last 50 ms is a writer
    private long _pendingWrites, _activeWriters, _writersCountedAt;
    private readonly long _clockBase;
    private volatile bool _stopping;
    private int _nextWorker;
    private long _busyNanoseconds, _invalidations, _badRequests;
    private int _peakInFlight;
    private volatile WriteAdmission? _writeAdmission;
    private long _inAdmission, _wrongOwner;
    private readonly long[] _requestsByOp = new long[4]; // indexed by RpcOp (1..3), for the metrics

    /// <summary>Creates a server on a loopback fabric over the given devices and starts its workers.</summary>
    public ScalioServer(LoopbackFabric fabric, IReadOnlyList<NvmeNamespace> devices, ScalioServerOptions? options = null)
        : this((fabric ?? throw new ArgumentNullException(nameof(fabric))).CreateDomain(), devices, options)
    {
    }

    /// <summary>
    /// Creates a server in <paramref name="domain"/> (any provider; the server owns the domain from here on and disposes
    /// it) over the given devices and starts its workers. On a provider whose atomics are not coherent with the CPU's
    /// (<see cref="ProtectionDomain.CpuAtomicsCoherentWithPeers"/>, e.g. libfabric) slot headers change through fabric
    /// atomics. Clients in other processes connect after <see cref="Listen"/> (domains
    /// <see cref="ProtectionDomain.ReachableFromOtherProcesses"/> only).
    /// </summary>
    public ScalioServer(ProtectionDomain domain, IReadOnlyList<NvmeNamespace> devices, ScalioServerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(devices);
        _options = options ?? new ScalioServerOptions();
        _options.Validate();
        _layout = _options.Layout;
        _domain = domain;
        _cache = _domain.Allocate((nuint)BucketsOffset + (nuint)_options.CacheBuckets * (nuint)_layout.BucketSize, MemoryAccess.All, 4096);
        var control = _cache.Span[..BucketsOffset];
        BinaryPrimitives.WriteUInt64LittleEndian(control, ControlMagic);
        BinaryPrimitives.WriteInt32LittleEndian(control[8..], _options.CacheBuckets);
        BinaryPrimitives.WriteInt32LittleEndian(control[12..], _layout.SlotSize);
        BinaryPrimitives.WriteInt32LittleEndian(control[16..], _layout.SlotsPerBucket);
        try
        {
            _store = new SsdStore(_domain, [.. devices], _options.SsdBuckets, _options.PageSize, _options.BatchSize,
                ValueRecord.MaxPages(_layout.KeyCapacity, _layout.ValueCapacity, _options.PageSize));
        }
        catch
        {
            _domain.Dispose(); // the devices could not be formatted or recovered: release the cache region too
            throw;
        }
        _idleTicks = (long)(_options.BatchIdleTimeout.TotalSeconds * Stopwatch.Frequency);
        _drainGraceTicks = Math.Min(_idleTicks, (long)(_options.BatchDrainGrace.TotalSeconds * Stopwatch.Frequency));
        _queues = new DeviceQueue[devices.Count];
        for (int d = 0; d < _queues.Length; d++) _queues[d] = new DeviceQueue(_options.BatchSize, _layout.KeyCapacity, _layout.ValueCapacity);
        _atomics = new ServerAtomics(_domain, _cache, useFabric: _options.ForceFabricAtomics || !_domain.CpuAtomicsCoherentWithPeers);
        _clockBase = Stopwatch.GetTimestamp();
        _budget = _options.CpuCores > 0 ? new CpuBudget(_options.CpuCores) : null;
        _workers = new Worker[_options.Workers];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Worker(this, i);
            _workers[i].Thread.Start();
        }
    }

    /// <summary>The schema layout.</summary>
    public SlotLayout Layout => _layout;

    /// <summary>The server's protection domain.</summary>
    public ProtectionDomain Domain => _domain;

    /// <summary>The registered cache region.</summary>
    public MemoryRegion CacheRegion => _cache;

    /// <summary>The SSD devices.</summary>
    public IReadOnlyList<NvmeNamespace> Devices => _store.Devices;

    /// <summary>True when slot headers change through fabric atomics rather than CPU atomics.</summary>
    public bool UsesFabricAtomics => _atomics.ThroughFabric;

    /// <summary>Requests handled: every one is malformed or counted under its operation.</summary>
    public long Requests => BadRequests + RequestsOf(RpcOp.Get) + RequestsOf(RpcOp.Put) + RequestsOf(RpcOp.Delete);

    /// <summary>Most requests one client connection has had at the server at once (received, not yet answered): never
    /// more than <see cref="ScalioServerOptions.ReceivesPerConnection"/>, the per-client in-flight cap.</summary>
    public int PeakRequestsInFlightPerConnection => Volatile.Read(ref _peakInFlight);

    /// <summary>Most replies any one worker has held at once waiting for a modelled device completion.</summary>
    internal int PeakRepliesAwaitingDevice
    {
        get
        {
            int peak = 0;
            foreach (var w in _workers) peak = Math.Max(peak, Volatile.Read(ref w.Deferred)?.Peak ?? 0);
            return peak;
        }
    }

    /// <summary>Well-formed requests of <paramref name="op"/> handled (malformed ones count in <see cref="BadRequests"/>).</summary>
    internal long RequestsOf(RpcOp op) => (uint)op < (uint)_requestsByOp.Length ? Volatile.Read(ref _requestsByOp[(int)op]) : 0;

    /// <summary>Malformed or over-limit requests refused.</summary>
    public long BadRequests => Volatile.Read(ref _badRequests);

    /// <summary>Cache slots invalidated by writes.</summary>
    public long Invalidations => Volatile.Read(ref _invalidations);

    /// <summary>
    /// CPU time the worker threads spent handling requests and committing batches (the server CPU the design spends),
    /// in nanoseconds; measured with <see cref="ThreadCpuClock"/>, so descheduling and blocking I/O waits do not count.
    /// </summary>
    public long BusyNanoseconds => Volatile.Read(ref _busyNanoseconds);

    /// <summary>The CPU budget the workers serve under (<see cref="ScalioServerOptions.CpuCores"/>); null: unlimited. Settable
    /// while running, e.g. to saturate the server for a measurement (the workers pick it up at their next step).</summary>
    public CpuBudget? Budget
    {
        get => _budget;
        set => _budget = value;
    }

    /// <summary>SSD read commands issued by the server CPU (rewrites, cleaning, recovery, server-side GETs).</summary>
    public long SsdReads => _store.ServerReads;

    /// <summary>SSD write commands issued by the server CPU (batches, superblock, checkpoints).</summary>
    public long SsdWrites => _store.ServerWrites;

    /// <summary>Write batches committed (summed over devices).</summary>
    public long BatchesCommitted => Sum(static l => l.Batches);

    /// <summary>Live blocks moved by the log cleaner.</summary>
    public long Relocations => Sum(static l => l.Relocations);

    /// <summary>Checkpoints written.</summary>
    public long Checkpoints => Sum(static l => l.Checkpoints);

    /// <summary>Blocks the server found failing their checksum (reported to writers as <see cref="OpStatus.Corrupt"/>).</summary>
    public long CorruptBlocks => Sum(static l => l.CorruptBlocks);

    /// <summary>What opening each device found: formatted, or recovered from checkpoint and log.</summary>
    public IReadOnlyList<RecoveryReport> Recovery
    {
        get
        {
            var r = new RecoveryReport[_store.Logs.Count];
            for (int i = 0; i < r.Length; i++) r[i] = _store.Logs[i].Recovery;
            return r;
        }
    }

    private long Sum(Func<DeviceLog, long> f)
    {
        long n = 0;
        foreach (var l in _store.Logs) n += f(l);
        return n;
    }

    internal SsdStore Store => _store;

    /// <summary>Milliseconds on the server clock.</summary>
    public long ClockMilliseconds => (Stopwatch.GetTimestamp() - _clockBase) * 1000 / Stopwatch.Frequency;

    /// <summary>What a connecting client needs to know.</summary>
    public ServerDescriptor Describe()
    {
        var lbas = new int[_store.Devices.Count];
        for (int i = 0; i < lbas.Length; i++) lbas[i] = _store.Devices[i].LbaSize;
        return new ServerDescriptor(_layout, _cache.RemoteKey, BucketsOffset, _options.CacheBuckets, _store.IndexRegion.RemoteKey,
            _options.SsdBuckets, _options.PageSize, lbas, _clockBase, _options.LeaseMilliseconds);
    }

    /// <summary>Accepts a client: connects <paramref name="clientQueuePair"/> (unconnected, loopback) to a new server queue pair
    /// served by one of the workers.</summary>
    public void Accept(QueuePair clientQueuePair)
    {
        if (_stopping) ThrowHelper.InvalidOperation("the server is stopping");
        if (_domain.ReachableFromOtherProcesses)
            ThrowHelper.InvalidOperation("this server's fabric reaches other processes: clients connect through Listen (RemoteScalioStore), not with loopback queue pairs");
        lock (_workers)
        {
            var worker = _workers[_nextWorker++ % _workers.Length];
            worker.Add(clientQueuePair);
        }
    }

    /// <summary>
    /// Handles one received request. PUT/DELETE join their device's open batch (the reply goes out when the batch is
    /// committed, see BatchedWrite.cs); a malformed request or a server-side GET is answered at once.
    /// </summary>
    private void HandleMessage(Connection conn, int slot, ReadOnlySpan<byte> message, Span<byte> scratch)
    {
        conn.NoteArrival(ref _peakInFlight);
        if (!RpcFormat.TryReadRequest(message, out var op, out ulong id, out var key, out var value)
            || key.Length == 0 || key.Length > _layout.KeyCapacity || value.Length > _layout.ValueCapacity)
        {
            Interlocked.Increment(ref _badRequests);
            conn.PostReceive(slot);
            conn.SendReply(slot, RpcFormat.WriteReply(conn.Reply(slot), OpStatus.InvalidArgument, id, default));
            return;
        }
        Interlocked.Increment(ref _requestsByOp[(int)op]); // op is Put, Delete or Get here (TryReadRequest checked it)
        if (conn.ReadOnly && (op is RpcOp.Put or RpcOp.Delete))
        {
            // A reader's write is refused by the server, whatever the client library would have done.
            Interlocked.Increment(ref _forbidden);
            conn.PostReceive(slot);
            conn.SendReply(slot, RpcFormat.WriteReply(conn.Reply(slot), OpStatus.Forbidden, id, default));
            return;
        }
        var hash = new KeyHash(key);
        if (op is RpcOp.Put or RpcOp.Delete)
        {
            if (_writeAdmission is { } admit)
            {
                // Counted before the check (a full fence), so DrainAdmittedWrites cannot miss a write that passed it.
                Interlocked.Increment(ref _inAdmission);
                try
                {
                    bool admitted;
                    lock (AdmissionStripe(in hash)) // a key's writes join its batch in the order they were admitted
                    {
                        admitted = admit(key, value, op == RpcOp.Delete);
                        if (admitted) Enqueue(conn, slot, id, in hash, key, value, remove: op == RpcOp.Delete);
                    }
                    if (!admitted)
                    {
                        Interlocked.Increment(ref _wrongOwner);
                        conn.PostReceive(slot);
                        conn.SendReply(slot, RpcFormat.WriteReply(conn.Reply(slot), OpStatus.WrongOwner, id, default));
                    }
                }
                finally
                {
                    Interlocked.Decrement(ref _inAdmission);
                }
                return;
            }
            Enqueue(conn, slot, id, in hash, key, value, remove: op == RpcOp.Delete);
            return;
        }
        var status = ServeGet(in hash, key, scratch, out var found);
        int n = RpcFormat.WriteReply(conn.Reply(slot), status, id, status == OpStatus.Ok ? found : default);
        conn.PostReceive(slot);
        ReplyWhenDurable(conn, slot, n, SsdPerformanceModel.TakeDeferredCompletion());
    }

    /// <summary>Stops the workers and releases memory.</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        StopListening();
        foreach (var w in _workers) { w.ReceiveQueue.WakeAll(); w.Thread.Join(); }
        // Clean shutdown: commit what is queued (its writers get their replies), then checkpoint every device so the
        // next open replays nothing.
        for (int d = 0; d < _queues.Length; d++) Flush(d, FlushReason.Shutdown);
        try
        {
            _store.Checkpoint();
        }
        catch (IOException)
        {
            // The previous checkpoint and the log still recover everything; nothing acknowledged depends on this one.
        }
        foreach (var w in _workers) w.Dispose();
        DisposeRemoteConnections();
        foreach (var q in _queues) q.Dispose();
        _atomics.Dispose();
        _store.Dispose();
        _domain.Dispose();
    }

}
