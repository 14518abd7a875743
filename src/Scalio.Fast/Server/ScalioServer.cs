using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Scalio.Fast.Cache;
using Scalio.Fast.Rpc;
using Scalio.Fast.Storage;
using Scalio.Verbs;
using Scalio.Verbs.Nvme;

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
    private long _requests, _busyNanoseconds, _invalidations, _badRequests;
    private int _peakInFlight;
    private readonly long[] _requestsByOp = new long[4]; // indexed by RpcOp (1..3), for the metrics

    /// <summary>Creates a server on a loopback fabric over the given devices and starts its workers.</summary>
    public ScalioServer(LoopbackFabric fabric, IReadOnlyList<NvmeNamespace> devices, ScalioServerOptions? options = null)
        : this((fabric ?? throw new ArgumentNullException(nameof(fabric))).CreateDomain(), devices, options)
    {
    }

    /// <summary>
    /// Creates a server in <paramref name="domain"/> (any provider; the server owns the domain from here on and disposes
    /// it) over the given devices and starts its workers. On a provider whose atomics are not coherent with the CPU's
    /// (libfabric) slot headers change through fabric atomics. Clients in other processes connect after
    /// <see cref="Listen"/> (libfabric domains only).
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
        _atomics = new ServerAtomics(_domain, _cache, useFabric: _options.ForceFabricAtomics || _domain is Scalio.Verbs.Libfabric.LibfabricDomain);
        _clockBase = Stopwatch.GetTimestamp();
        _budget = _options.CpuCores > 0 ? new CpuBudget(_options.CpuCores) : null;
        _brokenCommit = SelectBrokenCommit();
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

    /// <summary>Requests handled.</summary>
    public long Requests => Volatile.Read(ref _requests);

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
    public long RequestsOf(RpcOp op) => (uint)op < (uint)_requestsByOp.Length ? Volatile.Read(ref _requestsByOp[(int)op]) : 0;

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

    /// <summary>SSD read commands issued by the server CPU (rewrites, cleaning, recovery, LEED-style reads).</summary>
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
        if (_domain is Scalio.Verbs.Libfabric.LibfabricDomain)
            ThrowHelper.InvalidOperation("this server runs on libfabric: clients connect through Listen (RemoteScalioStore), not with loopback queue pairs");
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
        Interlocked.Increment(ref _requests);
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

    private sealed class Worker : IDisposable
    {
        private readonly ScalioServer _server;
        private readonly List<Connection> _connections = [];
        private Connection[] _byIndex = [];
        public readonly CompletionQueue SendQueue = new(1024);
        public readonly CompletionQueue ReceiveQueue = new(4096);
        public readonly Thread Thread;
        private readonly byte* _scratch;

        public Worker(ScalioServer server, int index)
        {
            _server = server;
            _scratch = (byte*)NativeMemory.AlignedAlloc((nuint)server._options.PageSize, 4096);
            Thread = new Thread(Run) { IsBackground = true, Name = $"scalio-server-{index}" };
        }

        public void Add(QueuePair clientQp)
        {
            lock (_connections)
            {
                var qp = CreateQueuePair();
                AddConnected(qp);
                LoopbackFabric.Connect(clientQp, qp);
            }
        }

        /// <summary>A queue pair on this worker's completion queues, not connected yet.</summary>
        public QueuePair CreateQueuePair()
            => _server._domain.CreateQueuePair(SendQueue, ReceiveQueue, new QueuePairOptions { MaxReceives = _server._options.ReceivesPerConnection });

        /// <summary>Serves <paramref name="qp"/> (made by <see cref="CreateQueuePair"/>): posts its receives; returns the
        /// connection. <paramref name="readOnly"/>: a reader's, whose writes are refused (set before any request can arrive).</summary>
        public Connection AddConnected(QueuePair qp, bool readOnly = false)
        {
            var s = _server;
            int messageSize = RpcFormat.RequestHeaderSize + s._layout.KeyCapacity + s._layout.ValueCapacity;
            lock (_connections)
            {
                var conn = new Connection(qp, s._domain, _connections.Count, s._options.ReceivesPerConnection, messageSize, readOnly);
                _connections.Add(conn);
                Volatile.Write(ref _byIndex, [.. _connections]);
                return conn;
            }
        }

        /// <summary>Connections of this worker that sent a write within <paramref name="window"/> ticks.</summary>
        public int CountWriters(long now, long window)
        {
            int n = 0;
            foreach (var c in Volatile.Read(ref _byIndex)) if (now - Volatile.Read(ref c.LastWriteTimestamp) <= window) n++;
            return n;
        }

        /// <summary>This worker's replies awaiting their device completion (set once the worker runs).</summary>
        public DeferredReplies? Deferred;

        /// <summary>Most requests handled between two charges of the serving CPU.</summary>
        private const int MaxDrain = 16;

        private void Run()
        {
            var s = _server;
            var scratch = new Span<byte>(_scratch, s._options.PageSize);
            var waiter = new Waiter();
            // Device I/O completes asynchronously (replies wait for it, the worker does not).
            SsdPerformanceModel.DeferWaits = true;
            HardwareWork.Tracking = true;
            var deferred = t_deferred = Deferred = new DeferredReplies();
            while (!s._stopping)
            {
                bool got = ReceiveQueue.TryPoll(out var wc);
                if (!got)
                {
                    long nextDue = deferred.Count == 0 ? long.MaxValue : deferred.SendDue(Stopwatch.GetTimestamp());
                    if (!s.AnyPending())
                    {
                        if (nextDue == long.MaxValue) waiter.Pause(); // idle: the one wait policy, nobody has to wake us
                        else WaitBriefly(nextDue);
                        continue;
                    }
                    // An open batch inside its drain grace: keep polling (yielding the core to writers about to send).
                    if (s.HoldingAfterDrain(Stopwatch.GetTimestamp())) { Thread.Yield(); continue; }
                }
                waiter.Reset();
                var budget = s._budget;
                if (budget is not null)
                {
                    // Over budget: wait, but keep sending the replies that fall due (the NIC's work, not the cores').
                    long over;
                    while ((over = budget.OverdraftTicks) > 0)
                    {
                        if (deferred.Count > 0) deferred.SendDue(Stopwatch.GetTimestamp());
                        budget.Pause(over);
                    }
                }
                long cpuStart = ThreadCpuClock.NowNanoseconds();
                long deviceWaitStart = SsdPerformanceModel.ThreadWaitCpuNanoseconds;
                long hardwareStart = HardwareWork.Nanoseconds;
                bool drained = true;
                for (int handled = 1; got; handled++)
                {
                    var conns = Volatile.Read(ref _byIndex);
                    int ci = (int)(wc.Id >> 16), slot = (int)(wc.Id & 0xFFFF);
                    if ((uint)ci < (uint)conns.Length && wc.IsSuccess)
                    {
                        var conn = conns[ci];
                        s.HandleMessage(conn, slot, conn.Receive(slot)[..(int)wc.ByteLength], scratch);
                    }
                    // Drain what has arrived before looking at timeouts, but a bounded run: under a steady stream the
                    // CPU must be charged (and the budget obeyed) as it is spent, not when the stream pauses.
                    if (handled == MaxDrain) { drained = false; break; }
                    if (!ReceiveQueue.TryPoll(out wc)) break;
                }
                long now = Stopwatch.GetTimestamp();
                if (drained) s.FlushUnheld(now); // requests still waiting may join the open batches
                s.FlushDue(now);
                if (deferred.Count > 0) deferred.SendDue(Stopwatch.GetTimestamp());
                while (SendQueue.TryPoll(out _)) { }
                // Serving time: thread CPU less the CPU spent waiting on modelled devices (a real core does other work then)
                // and less the NIC's and SSDs' own work that the emulation runs on this thread (HardwareWork).
                long spent = Math.Max(0, ThreadCpuClock.NowNanoseconds() - cpuStart - (SsdPerformanceModel.ThreadWaitCpuNanoseconds - deviceWaitStart)
                    - (HardwareWork.Nanoseconds - hardwareStart));
                Interlocked.Add(ref s._busyNanoseconds, spent);
                budget?.Charge(spent);
            }
            deferred.SendDue(long.MaxValue); // stopping: nothing waits for the model any more
        }

        /// <summary>Waits toward <paramref name="due"/> without passing it by more than a short slice, polling meanwhile.</summary>
        private static void WaitBriefly(long due)
        {
            long left = due - Stopwatch.GetTimestamp();
            long slice = Stopwatch.Frequency / 100_000; // 10 us
            if (left > 3 * slice) WaitPolicy.Sleep(Math.Min(left - slice, WaitPolicy.SleepMicroseconds * slice / 10) * 1_000_000_000 / Stopwatch.Frequency);
            else Thread.Yield();
        }

        public void Dispose()
        {
            lock (_connections)
            {
                foreach (var c in _connections) c.Dispose();
                _connections.Clear();
            }
            NativeMemory.AlignedFree(_scratch);
        }
    }

    internal sealed class Connection : IDisposable
    {
        private readonly QueuePair _qp;
        private readonly MemoryRegion _buffers; // [receives][one reply buffer per receive slot]
        private readonly int _index, _messageSize, _replyOffset;

        /// <summary>Stopwatch timestamp of this connection's last PUT/DELETE (group commit counts recent writers).</summary>
        public long LastWriteTimestamp = long.MinValue / 2;

        /// <summary>Admitted as a reader: its PUT and DELETE are refused with <see cref="OpStatus.Forbidden"/>.</summary>
        public readonly bool ReadOnly;

        /// <summary>Requests of this connection received and not yet given their receive back (at most the receives posted).</summary>
        private int _inFlight;

        public Connection(QueuePair qp, ProtectionDomain domain, int index, int receives, int messageSize, bool readOnly = false)
        {
            _qp = qp;
            ReadOnly = readOnly;
            _index = index;
            _messageSize = (messageSize + 63) & ~63;
            _replyOffset = receives * _messageSize;
            _buffers = domain.Allocate((nuint)(2 * _replyOffset), MemoryAccess.LocalWrite, 64);
            for (int i = 0; i < receives; i++) PostReceiveUnchecked(i);
        }

        /// <summary>A request arrived: counts it in flight and raises <paramref name="peak"/> when this connection holds more than ever.</summary>
        public void NoteArrival(ref int peak)
        {
            int n = Interlocked.Increment(ref _inFlight);
            int p;
            while (n > (p = Volatile.Read(ref peak)) && Interlocked.CompareExchange(ref peak, n, p) != p) { }
        }

        public Span<byte> Receive(int slot) => _buffers.Slice(slot * _messageSize, _messageSize);

        /// <summary>Reply buffer of a receive slot: replies of one connection may be sent by different workers.</summary>
        public Span<byte> Reply(int slot) => _buffers.Slice(_replyOffset + slot * _messageSize, _messageSize);

        public void PostReceive(int slot)
        {
            Interlocked.Decrement(ref _inFlight);
            if (_qp.State is QueuePairState.Closed or QueuePairState.Error) return;
            try
            {
                PostReceiveUnchecked(slot);
            }
            catch (ObjectDisposedException)
            {
                // Closed by the disconnect monitor between the check and the post: the peer is gone, nothing to receive.
            }
        }

        private void PostReceiveUnchecked(int slot)
        {
            _qp.PostReceive(new ReceiveRequest(((ulong)_index << 16) | (uint)slot, _buffers.AddressOf(slot * _messageSize), (uint)_messageSize, _buffers.LocalKey));
        }

        public void SendReply(int slot, int length)
        {
            if (_qp.State is QueuePairState.Closed or QueuePairState.Error) return;
            _qp.PostSend(WorkRequest.Send(0, _buffers.AddressOf(_replyOffset + slot * _messageSize), (uint)length, _buffers.LocalKey, WorkFlags.None));
        }

        /// <summary>Disconnects (the peer is gone): later receives and replies are dropped; buffers stay until <see cref="Dispose"/>,
        /// since a batch in flight may still reply through them.</summary>
        public void Close() => _qp.Dispose();

        public void Dispose()
        {
            _qp.Dispose();
            _buffers.Dispose();
        }
    }
}
