using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Tasks.Sources;
using Scalio.Fast.Cache;

namespace Scalio.Fast.Client;

/// <summary>Options of a <see cref="ScalioAsyncClient"/>. Timeouts are the session's: <see cref="ScalioClientOptions.RequestTimeoutMilliseconds"/>
/// and <see cref="ScalioClientOptions.MaxAttempts"/> of the store's client options end an operation with <see cref="OpStatus.Timeout"/>.</summary>
public sealed class ScalioAsyncClientOptions
{
    /// <summary>Most queued GETs the pump runs as one batch (each protocol step of all of them on one doorbell); 1 .. <see cref="ScalioGetBatch.MaxCapacity"/>.</summary>
    public int BatchCapacity { get; init; } = ScalioGetBatch.MaxCapacity;

    /// <summary>How long the pump thread spins for new operations after its queue runs dry before it sleeps, in
    /// microseconds (default 0: sleep at once). Spinning saves a wake-up per batch but holds a core: worth trying only
    /// when the pump has a core of its own (on a shared 2-vCPU machine, 50 µs measured 9x slower than 0 at load 7-10,
    /// and 1.3x faster at load 4). 0 .. 100000.</summary>
    public int IdleSpinMicroseconds { get; init; }

    /// <summary>
    /// Whether a GET tries the cache on the calling thread first (default true): when no operation is queued or running,
    /// the caller READs the key's bucket itself, and on a hit the GET completes before <see cref="ScalioAsyncClient.GetAsync"/>
    /// returns, with no hand-off to the pump and back (as FASTER completes in-memory reads synchronously). Anything else
    /// goes to the pump, which READs the bucket again: a miss costs one more round trip. On a remote store that READ
    /// holds the calling thread for one network round trip; set false where callers must never wait on the fabric.
    /// </summary>
    public bool HitsOnCaller { get; init; } = true;

    /// <summary>Completed operation objects kept for reuse: more operations in flight at once than this allocate. 1 .. 1048576.</summary>
    public int MaxPooledOperations { get; init; } = 1024;

    /// <summary>Throws a clear error when the options do not make sense.</summary>
    public void Validate()
    {
        if (BatchCapacity is < 1 or > ScalioGetBatch.MaxCapacity)
            throw new ArgumentOutOfRangeException(nameof(BatchCapacity), $"BatchCapacity must be 1..{ScalioGetBatch.MaxCapacity}");
        if (IdleSpinMicroseconds is < 0 or > 100_000) throw new ArgumentOutOfRangeException(nameof(IdleSpinMicroseconds), "IdleSpinMicroseconds must be 0..100000");
        if (MaxPooledOperations is < 1 or > 1 << 20) throw new ArgumentOutOfRangeException(nameof(MaxPooledOperations), "MaxPooledOperations must be 1..1048576");
    }
}

/// <summary>The outcome of a <see cref="ScalioAsyncClient.GetAsync"/>.</summary>
/// <param name="Status"><see cref="OpStatus.Ok"/> (the value is in the caller's buffer), <see cref="OpStatus.NotFound"/>, or an error.</param>
/// <param name="ValueLength">Bytes of the value written to the caller's buffer (0 unless <see cref="OpStatus.Ok"/>).</param>
/// <param name="Hit">True when the cache served the GET (no SSD read).</param>
public readonly record struct ScalioGetResult(OpStatus Status, int ValueLength, bool Hit);

/// <summary>
/// A thread-safe asynchronous client: any number of callers on any threads start GETs, PUTs and DELETEs and await
/// them. One pump thread owns the client session; GETs queued together run as one batch (each protocol step of all
/// of them on one doorbell, <see cref="ScalioClient.Get(ScalioGetBatch, IGetBatchObserver)"/>) and each completes as
/// soon as its answer arrives (a hit does not wait for the batch's SSD reads), PUTs and DELETEs run one at a time, and
/// everything runs in the order it was queued. Operations are pooled <see cref="IValueTaskSource{TResult}"/> objects:
/// in steady state, starting and awaiting one allocates nothing. Open one with <see cref="ScalioStore.OpenAsyncClient"/>
/// or <see cref="Remote.RemoteScalioStore.OpenAsyncClient"/>; dispose it when done.
/// </summary>
/// <remarks>
/// <para>The memory given to an operation (key, value, destination) must stay untouched until it completes.</para>
/// <para>Cancellation: an operation cancelled before the pump takes it completes as canceled and never reaches the
/// store. Once taken it runs to the end of the slot protocol (a lock or fill is never abandoned midway); a GET whose
/// token was cancelled meanwhile then completes as canceled (its buffer is unspecified), and a PUT or DELETE completes
/// with its real status (it ran, so "canceled" would misreport it). Timeouts are the session's options
/// (<see cref="ScalioClientOptions.RequestTimeoutMilliseconds"/>, <see cref="ScalioClientOptions.MaxAttempts"/>): they
/// end an operation with <see cref="OpStatus.Timeout"/>.</para>
/// <para>A failure of the session itself (a fabric error) completes the affected operations with its exception.</para>
/// </remarks>
public sealed partial class ScalioAsyncClient : IDisposable
{
    private readonly IAsyncClientBackend _backend;
    private readonly SlotLayout _layout;
    private readonly ConcurrentQueue<Entry> _queue = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Thread _pump;
    private readonly AsyncOperation[] _gets; // the pump's batch being formed
    private readonly Answers _answers;
    private readonly bool _hitsOnCaller;
    // Held by whoever drives the session: the pump from dequeuing an op until it completed, or a caller trying a hit.
    private readonly Lock _session = new();
    private readonly long _spinTicks;
    private readonly Lock _poolGate = new();
    private readonly AsyncOperation[] _pool;
    private int _pooled;
    private int _sleeping, _disposed;

    /// <summary>A queue entry: the op and the state it must be in for this entry to take it.</summary>
    private readonly struct Entry(AsyncOperation op, int queuedState)
    {
        public readonly AsyncOperation Op = op;
        public readonly int QueuedState = queuedState;
    }

    internal ScalioAsyncClient(IAsyncClientBackend backend, ScalioAsyncClientOptions options)
    {
        _backend = backend;
        _layout = backend.Layout;
        _gets = new AsyncOperation[Math.Min(options.BatchCapacity, backend.BatchCapacity)];
        _answers = new Answers(_gets);
        _hitsOnCaller = options.HitsOnCaller;
        _pool = new AsyncOperation[options.MaxPooledOperations];
        _spinTicks = options.IdleSpinMicroseconds * Stopwatch.Frequency / 1_000_000;
        _pump = new Thread(Pump) { IsBackground = true, Name = "Scalio async pump" };
        _pump.Start();
    }

    /// <summary>The schema layout: keys up to <see cref="SlotLayout.KeyCapacity"/> bytes, values up to <see cref="SlotLayout.ValueCapacity"/>.</summary>
    public SlotLayout Layout => _layout;

    /// <summary>
    /// Reads <paramref name="key"/> into <paramref name="value"/>. GETs queued together run as one batch.
    /// </summary>
    /// <param name="key">The key (1 .. <see cref="SlotLayout.KeyCapacity"/> bytes), read when the pump takes the GET.</param>
    /// <param name="value">Receives the value: at least <see cref="SlotLayout.ValueCapacity"/> bytes.</param>
    /// <param name="cancellationToken">Cancels the GET (see the class remarks for what that leaves behind).</param>
    /// <returns>The status, the value's length and whether the cache served it.</returns>
    /// <exception cref="ArgumentException">The key does not fit the schema or the buffer is too small (nothing was queued).</exception>
    /// <exception cref="ObjectDisposedException">The client is disposed (also the outcome of a GET still queued at disposal).</exception>
    /// <exception cref="OperationCanceledException">Through the ValueTask, when the GET was canceled.</exception>
    public ValueTask<ScalioGetResult> GetAsync(ReadOnlyMemory<byte> key, Memory<byte> value, CancellationToken cancellationToken = default)
    {
        _layout.ValidateKey(key.Span);
        if (value.Length < _layout.ValueCapacity) ThrowHelper.Argument(nameof(value), $"the value buffer must hold {_layout.ValueCapacity} bytes");
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<ScalioGetResult>(cancellationToken);
        if (_hitsOnCaller && _queue.IsEmpty && TryHitOnCaller(key.Span, value.Span, out int length))
            return new ValueTask<ScalioGetResult>(new ScalioGetResult(OpStatus.Ok, length, true));
        var op = Queue(AsyncOperationKind.Get, key, default, value, cancellationToken, out short version);
        return new ValueTask<ScalioGetResult>(op, version);
    }

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>; durable when it completes with <see cref="OpStatus.Ok"/>.</summary>
    /// <param name="key">The key (1 .. <see cref="SlotLayout.KeyCapacity"/> bytes).</param>
    /// <param name="value">The value (up to <see cref="SlotLayout.ValueCapacity"/> bytes).</param>
    /// <param name="cancellationToken">Cancels the PUT (see the class remarks for what that leaves behind).</param>
    /// <returns>The PUT's status.</returns>
    /// <exception cref="ArgumentException">The key or value does not fit the schema (nothing was queued).</exception>
    /// <exception cref="ObjectDisposedException">The client is disposed (also the outcome of a PUT still queued at disposal).</exception>
    /// <exception cref="OperationCanceledException">Through the ValueTask, when the PUT was canceled before the pump took it.</exception>
    public ValueTask<OpStatus> PutAsync(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default)
    {
        _layout.ValidateKey(key.Span);
        _layout.ValidateValue(value.Span);
        return EnqueueWrite(AsyncOperationKind.Put, key, value, cancellationToken);
    }

    /// <summary>Removes <paramref name="key"/>; durable when it completes with <see cref="OpStatus.Ok"/>.</summary>
    /// <param name="key">The key (1 .. <see cref="SlotLayout.KeyCapacity"/> bytes).</param>
    /// <param name="cancellationToken">Cancels the DELETE (see the class remarks for what that leaves behind).</param>
    /// <returns>The DELETE's status.</returns>
    /// <exception cref="ArgumentException">The key does not fit the schema (nothing was queued).</exception>
    /// <exception cref="ObjectDisposedException">The client is disposed (also the outcome of a DELETE still queued at disposal).</exception>
    /// <exception cref="OperationCanceledException">Through the ValueTask, when the DELETE was canceled before the pump took it.</exception>
    public ValueTask<OpStatus> DeleteAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default)
    {
        _layout.ValidateKey(key.Span);
        return EnqueueWrite(AsyncOperationKind.Delete, key, default, cancellationToken);
    }

    /// <summary>A hit on the calling thread, only when the session is free and nothing is queued: every op queued before
    /// this call has then completed (the pump holds the session from taking an op until completing it), so the GET still
    /// runs after them.</summary>
    private bool TryHitOnCaller(ReadOnlySpan<byte> key, Span<byte> value, out int length)
    {
        length = 0;
        if (!_session.TryEnter()) return false;
        try
        {
            return _queue.IsEmpty && Volatile.Read(ref _disposed) == 0 && _backend.TryGetHit(key, value, out length);
        }
        catch (Exception)
        {
            return false; // the pump runs it and reports what failed
        }
        finally
        {
            _session.Exit();
        }
    }

    private ValueTask<OpStatus> EnqueueWrite(AsyncOperationKind kind, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<OpStatus>(cancellationToken);
        var op = Queue(kind, key, value, default, cancellationToken, out short version);
        return new ValueTask<OpStatus>(op, version);
    }

    /// <summary>Rents an op, fills it and queues it; <paramref name="version"/> is the one its ValueTask must carry.</summary>
    private AsyncOperation Queue(AsyncOperationKind kind, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, Memory<byte> destination,
        CancellationToken cancellationToken, out short version)
    {
        var op = Rent();
        op.Kind = kind;
        op.Key = key;
        op.Value = value;
        op.Destination = destination;
        op.Token = cancellationToken;
        version = op.Version;
        op.Arm();
        _queue.Enqueue(new Entry(op, op.QueuedState));
        // The CAS is a full fence: either the pump's last look at the queue saw this entry, or we see it asleep.
        if (Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1) _wake.Set();
        if (Volatile.Read(ref _disposed) != 0) FailQueued(); // disposal may have drained the queue before this entry
        return op;
    }

    private AsyncOperation Rent()
    {
        lock (_poolGate)
        {
            if (_pooled > 0)
            {
                var op = _pool[--_pooled];
                _pool[_pooled] = null!;
                return op;
            }
        }
        return new AsyncOperation(this);
    }

    /// <summary>Takes back an op whose result its caller consumed.</summary>
    internal void Return(AsyncOperation op)
    {
        lock (_poolGate)
        {
            if (_pooled < _pool.Length) _pool[_pooled++] = op;
        }
    }

    /// <summary>Fails every op still queued (disposal).</summary>
    private void FailQueued()
    {
        while (_queue.TryDequeue(out var e))
        {
            if (e.Op.TryTake(e.QueuedState))
                e.Op.Fail(new ObjectDisposedException(nameof(ScalioAsyncClient), "the async client was disposed before the operation ran"));
        }
    }

    /// <summary>
    /// Stops the pump after the batch or write it is running (which completes normally), fails every operation still
    /// queued with <see cref="ObjectDisposedException"/>, and closes the session.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _wake.Set();
        if (Thread.CurrentThread != _pump) _pump.Join();
        FailQueued();
        lock (_session) _backend.Dispose(); // after any caller's hit in progress
        // _wake is not disposed: a caller racing this disposal may still Set it.
    }
}
