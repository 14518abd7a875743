using System.Threading.Tasks.Sources;

namespace Scalio.Fast.Client;

/// <summary>What an <see cref="AsyncOperation"/> asks for.</summary>
internal enum AsyncOperationKind : byte
{
    Get,
    Put,
    Delete,
}

/// <summary>
/// One queued operation of a <see cref="ScalioAsyncClient"/>: the source behind the caller's ValueTask, pooled and reused.
/// Its state word holds a generation (upper bits) and a phase (low bits): the pump takes an op and a cancellation
/// cancels it only by a CAS from the exact queued state, so a stale queue entry of an earlier use never matches.
/// </summary>
internal sealed class AsyncOperation : IValueTaskSource<ScalioGetResult>, IValueTaskSource<OpStatus>
{
    private const int Queued = 0, Taken = 1, Canceled = 2, PhaseMask = 3, GenerationStep = 4;

    // Static, so registering a cancellation allocates no delegate.
    private static readonly Action<object?> s_cancel = static state => ((AsyncOperation)state!).CancelIfQueued();

    private readonly ScalioAsyncClient _owner;
    private ManualResetValueTaskSourceCore<ScalioGetResult> _core;
    private int _state;
    private CancellationTokenRegistration _registration;

    public AsyncOperationKind Kind;
    public ReadOnlyMemory<byte> Key, Value;
    public Memory<byte> Destination;
    public CancellationToken Token;

    public AsyncOperation(ScalioAsyncClient owner)
    {
        _owner = owner;
        _core.RunContinuationsAsynchronously = true; // never run a caller's continuation on the pump thread
    }

    /// <summary>The version the caller's ValueTask carries.</summary>
    public short Version => _core.Version;

    /// <summary>The state a queue entry for this use must find to take the op.</summary>
    public int QueuedState => _state & ~PhaseMask;

    /// <summary>Arms cancellation (after the op's fields are set, before it is queued).</summary>
    public void Arm()
    {
        if (Token.CanBeCanceled) _registration = Token.UnsafeRegister(s_cancel, this);
    }

    /// <summary>The pump or a disposal takes the op from the queue: false when the entry is stale or the op was canceled.</summary>
    public bool TryTake(int queuedState)
    {
        if (Interlocked.CompareExchange(ref _state, queuedState | Taken, queuedState) != queuedState) return false;
        _registration.Unregister(); // from here the op runs to completion; a late cancellation only drops its result
        return true;
    }

    private void CancelIfQueued()
    {
        int queued = QueuedState;
        if (Interlocked.CompareExchange(ref _state, queued | Canceled, queued) != queued) return;
        _core.SetException(new OperationCanceledException(Token));
    }

    /// <summary>Completes a taken op with its result; a GET whose token was cancelled meanwhile completes as canceled.</summary>
    public void Complete(ScalioGetResult result)
    {
        // A write that ran reports what happened: "canceled" would read as "not applied".
        if (Kind == AsyncOperationKind.Get && Token.IsCancellationRequested) _core.SetException(new OperationCanceledException(Token));
        else _core.SetResult(result);
    }

    /// <summary>Completes a taken op with a failure.</summary>
    public void Fail(Exception error) => _core.SetException(error);

    private ScalioGetResult Consume(short token)
    {
        // A stale or second await must not recycle the op another caller may already hold.
        if (token != _core.Version) ThrowHelper.InvalidOperation("the operation's result was already consumed (a ValueTask may be awaited once)");
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            Recycle();
        }
    }

    /// <summary>Back to the pool: a new generation, nothing of the caller's kept.</summary>
    private void Recycle()
    {
        _registration = default;
        Key = default;
        Value = default;
        Destination = default;
        Token = default;
        _state = (_state & ~PhaseMask) + GenerationStep;
        _core.Reset();
        _owner.Return(this);
    }

    ScalioGetResult IValueTaskSource<ScalioGetResult>.GetResult(short token) => Consume(token);

    OpStatus IValueTaskSource<OpStatus>.GetResult(short token) => Consume(token).Status;

    ValueTaskSourceStatus IValueTaskSource<ScalioGetResult>.GetStatus(short token) => _core.GetStatus(token);

    ValueTaskSourceStatus IValueTaskSource<OpStatus>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<ScalioGetResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    void IValueTaskSource<OpStatus>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
