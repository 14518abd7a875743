using System.Diagnostics;
using System.Runtime.InteropServices;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Fast.Rpc;
using Scalio.Fast.Server;
using Scalio.Fast;
using Scalio.Verbs;

namespace Scalio.Baselines;

/// <summary>Which baseline a <see cref="LeedClient"/> plays.</summary>
public enum LeedMode
{
    /// <summary>LEED (SIGCOMM 2023): every GET and PUT is a two-sided request; the server CPU reads and writes the
    /// SSD; no cache.</summary>
    Leed,
    /// <summary>LEED+Ditto: GETs first READ the cache bucket one-sided (a hit ends there, Ditto-style, SOSP 2023);
    /// a miss is a two-sided request after which the server CPU fills its cache; writes go through the server CPU,
    /// which invalidates the key's cached slots. The store's server must fill its cache
    /// (<see cref="DittoServerFill.Enable"/>).</summary>
    LeedDitto,
}

/// <summary>
/// A baseline client on the same loopback fabric, server, namespaces and SSD store as Scalio (DESIGN.md, "Baselines"):
/// what differs is only who does the work. One per thread (not thread-safe); the hot path allocates nothing.
/// Differences from the published systems, by construction of this harness: the SSD layout is Scalio's log of bucket
/// blocks (one SSD read per GET, not LEED's two), the cache slot holds the value inline so a Ditto hit is one READ
/// (Ditto's separate index and object reads are two), and eviction samples two slots by last access (clients stamp hits with an unsignaled WRITE).
/// </summary>
public sealed unsafe class LeedClient : IDisposable
{
    private readonly ServerDescriptor _server;
    private readonly SlotLayout _layout;
    private readonly ProtectionDomain _domain;
    private readonly QueuePair _qp;
    private readonly MemoryRegion _mr;
    private readonly int _messageSize, _sendOff, _recvOff, _stampOff;
    private readonly int _timeoutMs;
    private readonly uint _touchIntervalMs; // the store's client rule, as Scalio's clients apply it
    private ulong _nextWrId, _nextRequestId;
    private ClientCounters _counters;
    private long _oneSidedReads, _serverRequests;
    private bool _disposed;

    /// <summary>Connects a baseline client to the server of <paramref name="store"/>.</summary>
    /// <exception cref="ArgumentException">LEED+Ditto on a store whose server does not fill its cache.</exception>
    public LeedClient(ScalioStore store, LeedMode mode, int requestTimeoutMilliseconds = 10_000)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (mode == LeedMode.LeedDitto && !DittoServerFill.IsEnabled(store))
            throw new ArgumentException("LEED+Ditto needs a store whose server fills its cache on a miss: call DittoServerFill.Enable(store) first", nameof(mode));
        if (mode is not (LeedMode.Leed or LeedMode.LeedDitto)) throw new ArgumentOutOfRangeException(nameof(mode));
        ArgumentOutOfRangeException.ThrowIfLessThan(requestTimeoutMilliseconds, 1);
        Mode = mode;
        _timeoutMs = requestTimeoutMilliseconds;
        _touchIntervalMs = (uint)(store.Options.Client ?? new ScalioClientOptions()).TouchIntervalMilliseconds;
        _server = store.Server.Describe();
        _layout = _server.Layout;
        _messageSize = (RpcFormat.RequestHeaderSize + _layout.KeyCapacity + _layout.ValueCapacity + 63) & ~63;
        int bucketBytes = (_layout.BucketSize + 63) & ~63;
        _sendOff = bucketBytes;
        _recvOff = _sendOff + _messageSize;
        _stampOff = _recvOff + 2 * _messageSize;
        _domain = store.Fabric.CreateDomain();
        try
        {
            _mr = _domain.Allocate((nuint)(_stampOff + 64), MemoryAccess.All, 64);
            _qp = _domain.CreateQueuePair(_domain.CreateCompletionQueue(64), _domain.CreateCompletionQueue(16), new QueuePairOptions { MaxReceives = 2 });
            store.Server.Accept(_qp);
            for (int i = 0; i < 2; i++) PostReplyReceive(i);
        }
        catch
        {
            _domain.Dispose();
            throw;
        }
    }

    /// <summary>The baseline this client plays.</summary>
    public LeedMode Mode { get; }

    /// <summary>This client's counters (Gets, Hits, Writes, RoundTrips, BytesMoved are kept).</summary>
    public ref readonly ClientCounters Counters => ref _counters;

    /// <summary>One-sided cache reads issued (0 for plain LEED).</summary>
    public long OneSidedReads => _oneSidedReads;

    /// <summary>Two-sided requests sent to the server CPU.</summary>
    public long ServerRequests => _serverRequests;

    /// <summary>Reads <paramref name="key"/> into <paramref name="value"/> (at least the schema's value capacity).</summary>
    public OpStatus Get(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength)
    {
        _layout.ValidateKey(key);
        if (value.Length < _layout.ValueCapacity) throw new ArgumentException($"the value buffer must hold {_layout.ValueCapacity} bytes", nameof(value));
        valueLength = 0;
        _counters.Gets++;
        if (Mode == LeedMode.LeedDitto && TryCacheHit(key, value, out valueLength))
        {
            _counters.Hits++;
            return OpStatus.Ok;
        }
        return Request(RpcOp.Get, key, default, value, out valueLength);
    }

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/> through the server CPU.</summary>
    public OpStatus Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        _layout.ValidateKey(key);
        _layout.ValidateValue(value);
        _counters.Writes++;
        return Request(RpcOp.Put, key, value, default, out _);
    }

    /// <summary>Removes <paramref name="key"/> through the server CPU.</summary>
    public OpStatus Delete(ReadOnlySpan<byte> key)
    {
        _layout.ValidateKey(key);
        _counters.Writes++;
        return Request(RpcOp.Delete, key, default, default, out _);
    }

    /// <summary>One RDMA READ of the key's cache bucket; a VALID slot holding the key whose checksum verifies is a hit
    /// (a torn or absent one is a miss and goes to the server).</summary>
    private bool TryCacheHit(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength)
    {
        valueLength = 0;
        var hash = new KeyHash(key);
        int bucket = hash.CacheBucket(_server.CacheBuckets);
        ushort fp = hash.Fingerprint;
        ulong id = ++_nextWrId;
        _qp.PostSend(WorkRequest.Read(id, _mr.AddressOf(0), (uint)_layout.BucketSize, _mr.LocalKey,
            (ulong)(_server.BucketsOffset + (long)bucket * _layout.BucketSize), _server.CacheKey));
        _oneSidedReads++;
        _counters.RoundTrips++;
        _counters.BytesMoved += _layout.BucketSize;
        Await(id);
        ReadOnlySpan<byte> image = _mr.Slice(0, _layout.BucketSize);
        for (int i = 0; i < _layout.SlotsPerBucket; i++)
        {
            ulong h = _layout.HeaderAt(image, i);
            if (SlotHeader.State(h) != SlotState.Valid || SlotHeader.Fingerprint(h) != fp) continue;
            var slot = _layout.SlotAt(image, i);
            if (!_layout.Matches(slot, key, h, out _)) continue;
            valueLength = SlotLayout.ValueLength(slot);
            slot.Slice(_layout.ValueOffset, valueLength).CopyTo(value);
            // Ditto records the access one-sided so the server's sampled eviction keeps hot keys: an unsignaled WRITE
            // of the server-clock millisecond to the slot's access stamp (outside the checksum; no round trip), under
            // the same touch interval as Scalio's clients (ScalioClientOptions.TouchIntervalMilliseconds).
            uint now = (uint)((Stopwatch.GetTimestamp() - _server.ClockBase) * 1000 / Stopwatch.Frequency);
            if (!SlotLayout.StampIsStale(slot, now, _touchIntervalMs)) return true;
            *(uint*)(_mr.Address + _stampOff) = now;
            _qp.PostSend(WorkRequest.Write(++_nextWrId, _mr.AddressOf(_stampOff), 4, _mr.LocalKey,
                (ulong)(_server.BucketsOffset + (long)bucket * _layout.BucketSize + (long)i * _layout.SlotSize + SlotLayout.StampOffset),
                _server.CacheKey, WorkFlags.None));
            _counters.BytesMoved += 4;
            return true;
        }
        return false;
    }

    private void PostReplyReceive(int slot)
        => _qp.PostReceive(new ReceiveRequest((ulong)slot, _mr.AddressOf(_recvOff + slot * _messageSize), (uint)_messageSize, _mr.LocalKey));

    private OpStatus Request(RpcOp op, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, Span<byte> output, out int outputLength)
    {
        outputLength = 0;
        ulong requestId = ++_nextRequestId;
        int n = RpcFormat.WriteRequest(_mr.Slice(_sendOff, _messageSize), op, requestId, key, value);
        ulong id = ++_nextWrId;
        _qp.PostSend(WorkRequest.Send(id, _mr.AddressOf(_sendOff), (uint)n, _mr.LocalKey));
        _serverRequests++;
        _counters.RoundTrips++;
        _counters.BytesMoved += n;
        Await(id);
        if (!_qp.ReceiveQueue.PollBlocking(out var wc, timeoutMilliseconds: _timeoutMs)) return OpStatus.Timeout;
        int slot = (int)wc.Id;
        if (!wc.IsSuccess) return OpStatus.Unavailable;
        var reply = _mr.Slice(_recvOff + slot * _messageSize, (int)wc.ByteLength);
        bool ok = RpcFormat.TryReadReply(reply, out var status, out ulong replyId, out var replyValue);
        if (ok && status == OpStatus.Ok && replyValue.Length <= output.Length)
        {
            replyValue.CopyTo(output);
            outputLength = replyValue.Length;
            _counters.BytesMoved += replyValue.Length;
        }
        PostReplyReceive(slot);
        if (!ok || replyId != requestId) throw new ScalioException("malformed or mismatched reply from the server");
        return status;
    }

    private void Await(ulong id)
    {
        var cq = _qp.SendQueue;
        while (true)
        {
            if (!cq.TryPoll(out var wc)
                && !cq.PollBlocking(out wc, timeoutMilliseconds: _timeoutMs))
                throw new ScalioException("no completion from the fabric in time");
            if (!wc.IsSuccess) throw new ScalioException($"fabric request {wc.Opcode} failed: {wc.Status}");
            if (wc.Id == id) return;
        }
    }

    /// <summary>Disconnects.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _qp.Dispose();
        _mr.Dispose();
        _domain.Dispose();
    }
}
