using System.Diagnostics;
using Scalio.Fast.Client;

namespace Scalio.Fast.Remote;

/// <summary>
/// A client session of a <see cref="RemoteScalioStore"/>: one per thread, not thread-safe. Operations run on a
/// <see cref="ScalioClient"/> connected to the server; when the connection fails (server process gone, fabric error,
/// request timeout) the operation returns <see cref="OpStatus.Unavailable"/> (or <see cref="OpStatus.Timeout"/>) and
/// its outcome is unknown (a PUT may or may not have been applied); the session is dropped, and the next operation
/// reconnects, retrying with exponential backoff for at most <see cref="RemoteStoreOptions.ReconnectTimeout"/>.
/// While connected, operations allocate nothing.
/// </summary>
public sealed class RemoteScalioClient : IDisposable
{
    private readonly RemoteScalioStore _store;
    private RemoteSession? _session;
    private ClientCounters _retired;
    private readonly Lock _countersGate = new();
    private bool _disposed;

    internal RemoteScalioClient(RemoteScalioStore store, RemoteSession session)
    {
        _store = store;
        _session = session;
    }

    /// <summary>True while the session holds a connection to the server.</summary>
    public bool IsConnected => _session is not null;

    /// <summary>Connections this session lost (each one ended an operation with Unavailable or Timeout).</summary>
    public long ConnectionsLost { get; private set; }

    /// <summary>The last failure that dropped the connection or stopped a reconnection, for diagnostics.</summary>
    public Exception? LastFailure { get; private set; }

    /// <summary>Reads <paramref name="key"/> into <paramref name="value"/>.</summary>
    public OpStatus Get(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength)
    {
        valueLength = 0;
        var s = _session ?? Reconnect();
        if (s is null) return NotSent(ClientOperation.Get, OpStatus.Unavailable);
        OpStatus st;
        try
        {
            st = s.Client.Get(key, value, out valueLength);
        }
        catch (Exception e) when (RemoteScalioStore.IsTransient(e))
        {
            return NotSent(ClientOperation.Get, Drop(e, OpStatus.Unavailable));
        }
        if (st is OpStatus.Timeout or OpStatus.Unavailable || (st == OpStatus.IoError && !s.Link.IsPeerConnected)) return Drop(null, Failure(s, st));
        return st;
    }

    /// <summary>
    /// Starts a batch of GETs on the current connection (connecting first if needed): an empty batch to fill with
    /// <see cref="ScalioGetBatch.Add"/> (up to <see cref="ScalioGetBatch.MaxCapacity"/> keys) and run with
    /// <see cref="Get(ScalioGetBatch)"/>. Null when no connection could be made (the GETs are unavailable). The batch
    /// belongs to the connection: it is reused by the next call, and gone once the connection is dropped.
    /// </summary>
    public ScalioGetBatch? BeginBatch()
    {
        var s = _session ?? Reconnect();
        if (s is null) return null;
        var batch = s.Batch ??= s.Client.CreateGetBatch(ScalioGetBatch.MaxCapacity);
        batch.Clear();
        return batch;
    }

    /// <summary>
    /// Runs every GET of <paramref name="batch"/> (from <see cref="BeginBatch"/>) together, each protocol step of all
    /// keys on one doorbell (<see cref="ScalioClient.Get(ScalioGetBatch)"/>). <see cref="OpStatus.Ok"/>: the batch ran
    /// and holds each key's status, value and hit. <see cref="OpStatus.Unavailable"/> or <see cref="OpStatus.Timeout"/>:
    /// the connection failed, no result of the batch holds and the connection is dropped (the next call reconnects).
    /// </summary>
    /// <exception cref="ArgumentException">The batch is not this client's current one.</exception>
    public OpStatus Get(ScalioGetBatch batch) => Get(batch, null);

    /// <summary>
    /// As <see cref="Get(ScalioGetBatch)"/>, and tells <paramref name="observer"/> of each GET as soon as its answer is
    /// final (<see cref="ScalioClient.Get(ScalioGetBatch, IGetBatchObserver)"/>). A GET told of with
    /// <see cref="OpStatus.Ok"/> or <see cref="OpStatus.NotFound"/> keeps that answer even if the call then fails.
    /// </summary>
    /// <exception cref="ArgumentException">The batch is not this client's current one.</exception>
    public OpStatus Get(ScalioGetBatch batch, IGetBatchObserver? observer)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var s = _session;
        if (s is null || !ReferenceEquals(s.Batch, batch))
            throw new ArgumentException("the batch is not this client's current one (start one with BeginBatch after each failure)", nameof(batch));
        try
        {
            s.Client.Get(batch, observer);
        }
        catch (Exception e) when (RemoteScalioStore.IsTransient(e))
        {
            return Drop(e, OpStatus.Unavailable);
        }
        for (int i = 0; i < batch.Count; i++)
        {
            var st = batch.StatusAt(i);
            if (st is OpStatus.Timeout or OpStatus.Unavailable || (st == OpStatus.IoError && !s.Link.IsPeerConnected)) return Drop(null, Failure(s, st));
        }
        return OpStatus.Ok;
    }

    /// <summary>A hit-only GET on the current connection (<see cref="ScalioClient.TryGetHit"/>): false on a miss, with no
    /// connection, or on a failure (which drops the connection; the next call reconnects).</summary>
    internal bool TryGetHit(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength)
    {
        valueLength = 0;
        var s = _session;
        if (s is null) return false;
        try
        {
            return s.Client.TryGetHit(key, value, out valueLength);
        }
        catch (Exception e) when (RemoteScalioStore.IsTransient(e))
        {
            Drop(e, OpStatus.Unavailable);
            return false;
        }
    }

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>; durable when it returns <see cref="OpStatus.Ok"/>.</summary>
    public OpStatus Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var s = _session ?? Reconnect();
        if (s is null) return NotSent(ClientOperation.Put, OpStatus.Unavailable);
        OpStatus st;
        try
        {
            st = s.Client.Put(key, value);
        }
        catch (Exception e) when (RemoteScalioStore.IsTransient(e))
        {
            return NotSent(ClientOperation.Put, Drop(e, OpStatus.Unavailable));
        }
        return st is OpStatus.Timeout or OpStatus.Unavailable ? Drop(null, Failure(s, st)) : st;
    }

    /// <summary>Removes <paramref name="key"/>; durable when it returns <see cref="OpStatus.Ok"/>.</summary>
    public OpStatus Delete(ReadOnlySpan<byte> key)
    {
        var s = _session ?? Reconnect();
        if (s is null) return NotSent(ClientOperation.Delete, OpStatus.Unavailable);
        OpStatus st;
        try
        {
            st = s.Client.Delete(key);
        }
        catch (Exception e) when (RemoteScalioStore.IsTransient(e))
        {
            return NotSent(ClientOperation.Delete, Drop(e, OpStatus.Unavailable));
        }
        return st is OpStatus.Timeout or OpStatus.Unavailable ? Drop(null, Failure(s, st)) : st;
    }

    /// <summary>A failed operation's status: <see cref="OpStatus.Unavailable"/> when the server's side channel closed (its
    /// process is gone), else what the client saw (<see cref="OpStatus.Timeout"/>: no answer in time).</summary>
    private static OpStatus Failure(RemoteSession s, OpStatus seen) => s.Link.IsPeerConnected ? seen : OpStatus.Unavailable;

    /// <summary>Drops the connection now (the next operation reconnects).</summary>
    public void Disconnect() => Drop(null, OpStatus.Unavailable);

    private OpStatus Drop(Exception? e, OpStatus status)
    {
        var s = _session;
        if (s is null) return status;
        _session = null;
        ConnectionsLost++;
        LastFailure = e ?? LastFailure;
        lock (_countersGate) _retired.Add(in s.Client.Counters);
        s.Dispose();
        return status;
    }

    private RemoteSession? Reconnect()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var o = _store.Options;
        long deadline = Stopwatch.GetTimestamp() + (long)(o.ReconnectTimeout.TotalSeconds * Stopwatch.Frequency);
        var backoff = o.InitialBackoff;
        while (true)
        {
            try
            {
                var s = _store.OpenSession();
                _session = s;
                _store.NoteReconnect();
                return s;
            }
            catch (Exception e) when (RemoteScalioStore.IsTransient(e) || e is InvalidOperationException)
            {
                LastFailure = e;
            }
            if (Stopwatch.GetTimestamp() + (long)(backoff.TotalSeconds * Stopwatch.Frequency) > deadline) return null;
            Thread.Sleep(backoff);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, o.MaxBackoff.Ticks));
        }
    }

    /// <summary>Counts an operation the connection failed before the client could (no session, or it threw).</summary>
    private OpStatus NotSent(ClientOperation operation, OpStatus status)
    {
        lock (_countersGate) _retired.Complete(operation, status);
        return status;
    }

    internal void AddCounters(ref ClientCounters total)
    {
        lock (_countersGate)
        {
            total.Add(in _retired);
            if (_session is { } s) total.Add(in s.Client.Counters);
        }
    }

    /// <summary>Closes the connection.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        var s = _session;
        _session = null;
        if (s is null) return;
        lock (_countersGate) _retired.Add(in s.Client.Counters);
        s.Dispose();
    }
}
