using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Scalio.Fast.Cache;
using Scalio.Fast.Rpc;
using Scalio.Fast.Server;
using Scalio.Fast.Storage;
using Scalio.Verbs;
using Scalio.Offload;

namespace Scalio.Fast.Client;

/// <summary>Options of a client.</summary>
public sealed class ScalioClientOptions
{
    /// <summary>How long a reader waits for another client's fill of the same key before reading the SSD itself, in microseconds.</summary>
    public int FillWaitMicroseconds { get; init; } = 500;

    /// <summary>How long a PUT/DELETE waits for the server's reply, in milliseconds.</summary>
    public int RequestTimeoutMilliseconds { get; init; } = 10_000;

    /// <summary>Attempts a GET makes before giving up with <see cref="OpStatus.Timeout"/>.</summary>
    public int MaxAttempts { get; init; } = 100_000;

    /// <summary>How a miss picks the VALID slot to evict when its bucket has no FREE slot.</summary>
    public EvictionPolicy Eviction { get; init; } = EvictionPolicy.BucketLru;

    /// <summary>Slots sampled by <see cref="EvictionPolicy.Sampled"/> (1 .. slots per bucket; more is closer to LRU).</summary>
    public int EvictionSamples { get; init; } = 2;

    /// <summary>A hit rewrites its slot's access stamp only when the stamp is at least this many milliseconds old
    /// (0: every hit writes it). Eviction compares stamps, so a finer stamp buys little LRU precision, while each
    /// rewrite is one more WRITE on the fabric: on a hot key, nearly one per hit. 0 .. 60000.</summary>
    public int TouchIntervalMilliseconds { get; init; } = 10;
}

/// <summary>
/// A Scalio client session: one per thread (not thread-safe). GETs touch only one-sided RDMA on the server's cache
/// and index and NVMe-oF reads served by the offload target; PUT/DELETE are two-sided requests to the server.
/// The hot path allocates nothing.
/// </summary>
public sealed unsafe partial class ScalioClient : IDisposable
{
    private readonly ServerDescriptor _server;
    private readonly SlotLayout _layout;
    private readonly ScalioClientOptions _options;
    private readonly ProtectionDomain _domain;
    private readonly QueuePair _qp;
    private readonly IOffloadReadPath _nvme;
    private readonly MemoryRegion _mr;
    private readonly StepContext _steps;
    private readonly WorkRequest[] _chainStorage; // pinned: _chain points into it
    private readonly WorkRequest* _chain;
    private readonly long _leaseTicks, _fillWaitTicks;
    private readonly int _bucketOff, _atomicOff, _indexOff, _slotOff, _sendOff, _recvOff, _dataOff, _messageSize;
    private ulong _nextWrId, _nextRequestId;
    private uint _random;
    private ClientCounters _counters;
    private uint _sampleTick; // counts operations for the duration histogram's sampling
    private bool _disposed;

    private readonly IFillPublishPath? _fillPublish;

    internal ScalioClient(ProtectionDomain domain, ScalioServer server, OffloadTarget target, ScalioClientOptions? options = null,
        IFillPublishPath? fillPublish = null)
        : this(domain, server.Describe(), CreateQueuePair(domain), qp => server.Accept(qp), () => new OffloadInitiator(domain, target), options, fillPublish)
    {
    }

    /// <summary>
    /// A client of a server in another process (or anywhere): <paramref name="queuePair"/> is already connected to the
    /// server (e.g. through <c>LibfabricFabric.Connect</c>, which also delivers the regions and the encoded
    /// <paramref name="server"/> descriptor), and <paramref name="readPath"/> reaches the offload target that serves the
    /// SSDs for the miss path. The client owns all three (and the domain) and disposes them.
    /// </summary>
    /// <param name="domain">Domain of the client's buffers (the queue pair's domain).</param>
    /// <param name="queuePair">Connected queue pair; its receive side must allow 2 posted receives.</param>
    /// <param name="server">The server's descriptor, its clock already in this process's terms (<see cref="ServerDescriptor.Decode(ReadOnlySpan{byte}, Scalio.Verbs.Libfabric.ClockExchange)"/>).</param>
    /// <param name="readPath">NVMe reads for misses (e.g. NVMe/TCP to the offload target).</param>
    /// <param name="options">Client options.</param>
    public ScalioClient(ProtectionDomain domain, QueuePair queuePair, ServerDescriptor server, IOffloadReadPath readPath, ScalioClientOptions? options = null)
        : this(domain ?? throw new ArgumentNullException(nameof(domain)), server ?? throw new ArgumentNullException(nameof(server)),
            queuePair ?? throw new ArgumentNullException(nameof(queuePair)), null,
            () => readPath ?? throw new ArgumentNullException(nameof(readPath)), options, null)
    {
    }

    private static QueuePair CreateQueuePair(ProtectionDomain domain)
        => domain.CreateQueuePair(domain.CreateCompletionQueue(256), domain.CreateCompletionQueue(16), new QueuePairOptions { MaxReceives = 2 });

    private ScalioClient(ProtectionDomain domain, ServerDescriptor server, QueuePair qp, Action<QueuePair>? connect, Func<IOffloadReadPath> readPath,
        ScalioClientOptions? options, IFillPublishPath? fillPublish)
    {
        _fillPublish = fillPublish;
        _domain = domain;
        _server = server;
        _layout = _server.Layout;
        _options = options ?? new ScalioClientOptions();
        if (_options.EvictionSamples < 1 || _options.EvictionSamples > _layout.SlotsPerBucket)
            throw new ArgumentOutOfRangeException(nameof(options), $"EvictionSamples must be 1..{_layout.SlotsPerBucket} (the slots of a bucket)");
        if (_options.TouchIntervalMilliseconds is < 0 or > 60_000)
            throw new ArgumentOutOfRangeException(nameof(options), "TouchIntervalMilliseconds must be 0..60000");
        _messageSize = (RpcFormat.RequestHeaderSize + _layout.KeyCapacity + _layout.ValueCapacity + 63) & ~63;
        int off = 0;
        _bucketOff = off; off += (_layout.BucketSize + 63) & ~63;
        _atomicOff = off; off += 64;
        _indexOff = off; off += 64;
        _slotOff = off; off += (_layout.SlotSize + 63) & ~63;
        _sendOff = off; off += _messageSize;
        _recvOff = off; off += 2 * _messageSize;
        off = (off + 4095) & ~4095;
        _dataOff = off; off += _server.PageSize * Math.Max(1, ValueRecord.MaxPages(_layout.KeyCapacity, _layout.ValueCapacity, _server.PageSize)); // largest record
        _mr = domain.Allocate((nuint)off, MemoryAccess.All, 4096);
        _steps = new StepContext(_mr, _bucketOff, _atomicOff, _indexOff, _slotOff, _server);
        _chainStorage = GC.AllocateArray<WorkRequest>(ProtocolSteps.MaxChainLength, pinned: true);
        _chain = (WorkRequest*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_chainStorage));
        _qp = qp;
        connect?.Invoke(_qp);
        for (int i = 0; i < 2; i++) PostReplyReceive(i);
        _nvme = readPath();
        _leaseTicks = _server.LeaseMilliseconds * Stopwatch.Frequency / 1000;
        _fillWaitTicks = _options.FillWaitMicroseconds * Stopwatch.Frequency / 1_000_000;
        _random = (uint)Environment.TickCount | 1;
    }

    /// <summary>The schema layout.</summary>
    public SlotLayout Layout => _layout;

    /// <summary>The server's descriptor this client works with (its clock in this process's terms).</summary>
    public ServerDescriptor Descriptor => _server;

    /// <summary>This client's counters.</summary>
    public ref readonly ClientCounters Counters => ref _counters;

    /// <summary>Server clock in milliseconds (the shared monotonic clock on one machine).</summary>
    private ushort ClockMs16 => (ushort)((Stopwatch.GetTimestamp() - _server.ClockBase) * 1000 / Stopwatch.Frequency);

    private uint Stamp => (uint)((Stopwatch.GetTimestamp() - _server.ClockBase) * 1000 / Stopwatch.Frequency);

    private bool LeaseExpired(ulong header)
    {
        int age = (ushort)(ClockMs16 - SlotHeader.Lease(header));
        return age > _server.LeaseMilliseconds;
    }

    private long BucketOffset(int bucket) => _server.BucketsOffset + (long)bucket * _layout.BucketSize;

    private long SlotOffset(int bucket, int slot) => BucketOffset(bucket) + (long)slot * _layout.SlotSize;

    private Span<byte> BucketImage => _mr.Slice(_bucketOff, _layout.BucketSize);

    // ---- one-sided primitives (each is one round trip) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong NextId() => ++_nextWrId;

    private void Await(ulong id)
    {
        var cq = _qp.SendQueue;
        while (true)
        {
            if (cq.TryPoll(out var wc))
            {
                if (!wc.IsSuccess) ThrowFabric(wc);
                if (wc.Id == id) return;
                continue;
            }
            if (!cq.PollBlocking(out wc, timeoutMilliseconds: _options.RequestTimeoutMilliseconds)) ThrowHelper.Fabric("no completion from the fabric in time");
            if (!wc.IsSuccess) ThrowFabric(wc);
            if (wc.Id == id) return;
        }
    }

    private static void ThrowFabric(in Completion wc) => ThrowHelper.Fabric($"fabric request {wc.Opcode} failed: {wc.Status}");

    /// <summary>Reserves <paramref name="count"/> consecutive work-request ids; returns the first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong NextIds(int count)
    {
        ulong first = _nextWrId + 1;
        _nextWrId += (ulong)count;
        return first;
    }

    // ---- two-sided requests ----

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>; durable when it returns <see cref="OpStatus.Ok"/>.</summary>
    /// <exception cref="ArgumentException">The key or value does not fit the schema (nothing was sent).</exception>
    public OpStatus Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        _layout.ValidateKey(key);
        _layout.ValidateValue(value);
        return Request(RpcOp.Put, key, value);
    }

    /// <summary>Removes <paramref name="key"/>; durable when it returns <see cref="OpStatus.Ok"/>.</summary>
    public OpStatus Delete(ReadOnlySpan<byte> key)
    {
        _layout.ValidateKey(key);
        return Request(RpcOp.Delete, key, default);
    }

    private void PostReplyReceive(int slot)
        => _qp.PostReceive(new ReceiveRequest((ulong)slot, _mr.AddressOf(_recvOff + slot * _messageSize), (uint)_messageSize, _mr.LocalKey));

    private OpStatus Request(RpcOp op, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var kind = op == RpcOp.Delete ? ClientOperation.Delete : ClientOperation.Put;
        long start = Diagnostics.ClientInstruments.MaybeStart(ref _sampleTick);
        var status = Send(op, key, value);
        _counters.Complete(kind, status);
        if (start != 0) Diagnostics.ClientInstruments.RecordDuration(start, kind, status);
        return status;
    }

    private OpStatus Send(RpcOp op, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        _counters.Writes++;
        ulong requestId = ++_nextRequestId;
        int n = RpcFormat.WriteRequest(_mr.Slice(_sendOff, _messageSize), op, requestId, key, value);
        ulong id = NextId();
        _qp.PostSend(WorkRequest.Send(id, _mr.AddressOf(_sendOff), (uint)n, _mr.LocalKey));
        _counters.RoundTrips++;
        _counters.BytesMoved += n;
        Await(id);
        if (!_qp.ReceiveQueue.PollBlocking(out var wc, timeoutMilliseconds: _options.RequestTimeoutMilliseconds))
            return OpStatus.Timeout;
        int slot = (int)wc.Id;
        if (!wc.IsSuccess) return OpStatus.Unavailable;
        var reply = _mr.Slice(_recvOff + slot * _messageSize, (int)wc.ByteLength);
        bool ok = RpcFormat.TryReadReply(reply, out var status, out ulong replyId, out _);
        PostReplyReceive(slot);
        if (!ok || replyId != requestId) ThrowHelper.Fabric("malformed or mismatched reply from the server");
        return status;
    }

    private int NextRandom(int bound)
    {
        uint x = _random;
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        _random = x;
        return (int)(x % (uint)bound);
    }

    /// <summary>Disconnects.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _nvme.Dispose();
        _qp.Dispose();
        _mr.Dispose();
        _domain.Dispose();
    }
}
