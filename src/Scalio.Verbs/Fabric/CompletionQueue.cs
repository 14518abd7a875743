namespace Scalio.Verbs;

/// <summary>
/// A completion queue: a bounded ring that the fabric fills and the owner polls. Polling never allocates.
/// <see cref="PollBlocking"/> waits by the one <see cref="WaitPolicy"/>; <see cref="Wait"/> blocks on a monitor, for
/// cold paths only (a producer then pays a wake-up).
/// </summary>
public sealed class CompletionQueue
{
    private readonly Completion[] _ring;
    private readonly int _mask;
    private readonly object _gate = new();
    private long _head; // next to poll
    private long _tail; // next to fill
    private int _waiters;
    private volatile bool _overrun;

    /// <summary>Set by providers with manual progress (libfabric): a thread waiting on this queue drives the provider
    /// while it spins, so its completion does not wait for a progress thread to be scheduled.</summary>
    internal ICompletionProgress? Progress;

    /// <summary>Creates a queue with room for at least <paramref name="capacity"/> entries.</summary>
    public CompletionQueue(int capacity = 4096)
    {
        if (capacity < 1 || capacity > 1 << 24) ThrowHelper.ArgumentOutOfRange(nameof(capacity), "capacity must be between 1 and 16M");
        int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity);
        _ring = new Completion[size];
        _mask = size - 1;
    }

    /// <summary>Entries waiting to be polled.</summary>
    public int Count { get { lock (_gate) return (int)(_tail - _head); } }

    /// <summary>True once a completion was dropped because the queue was full (a fatal condition, as in verbs).</summary>
    public bool HasOverrun => _overrun;

    internal void Push(in Completion completion)
    {
        lock (_gate)
        {
            if (_tail - _head > _mask)
            {
                _overrun = true;
                return;
            }
            _ring[_tail & _mask] = completion;
            _tail++;
            if (_waiters > 0) Monitor.Pulse(_gate);
        }
    }

    /// <summary>Moves up to <c>destination.Length</c> completions into <paramref name="destination"/>; returns how many.</summary>
    /// <exception cref="InvalidOperationException">The queue overran and completions were lost.</exception>
    public int Poll(Span<Completion> destination)
    {
        if (_overrun) ThrowOverrun();
        if (Volatile.Read(ref _tail) == Volatile.Read(ref _head)) return 0;
        lock (_gate)
        {
            int n = 0;
            while (n < destination.Length && _head < _tail)
            {
                destination[n++] = _ring[_head & _mask];
                _head++;
            }
            return n;
        }
    }

    /// <summary>Polls one completion.</summary>
    public bool TryPoll(out Completion completion)
    {
        if (_overrun) ThrowOverrun();
        if (Volatile.Read(ref _tail) == Volatile.Read(ref _head)) { completion = default; return false; }
        lock (_gate)
        {
            if (_head == _tail) { completion = default; return false; }
            completion = _ring[_head & _mask];
            _head++;
            return true;
        }
    }

    /// <summary>Blocks until at least one completion is queued or the timeout passes; true when one is queued.</summary>
    public bool Wait(int timeoutMilliseconds)
    {
        lock (_gate)
        {
            if (_tail != _head) return true;
            _waiters++;
            try
            {
                Monitor.Wait(_gate, timeoutMilliseconds);
            }
            finally
            {
                _waiters--;
            }
            return _tail != _head;
        }
    }

    /// <summary>Wakes every thread blocked in <see cref="Wait"/> (used at shutdown).</summary>
    public void WakeAll()
    {
        lock (_gate) Monitor.PulseAll(_gate);
    }

    /// <summary>
    /// Waits for one completion by the one <see cref="WaitPolicy"/> (spin, then yield, then sleep in short slices) until
    /// <paramref name="timeoutMilliseconds"/> passes (-1: forever); false on time-out. It never blocks on a wait object,
    /// so whoever completes the request pays no wake-up. On a queue of a provider with manual progress (libfabric,
    /// <c>LibfabricOptions.CallerDrivesProgress</c>) the waiting thread drives the provider at every poll: only spinning or
    /// yielding the core between polls for the provider's time budget, then between the policy's pauses (a completion that needs the provider to move
    /// it never waits for another thread to be scheduled).
    /// </summary>
    public bool PollBlocking(out Completion completion, int timeoutMilliseconds = -1)
    {
        var progress = Progress;
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        long deadline = timeoutMilliseconds < 0 ? long.MaxValue : now + timeoutMilliseconds * System.Diagnostics.Stopwatch.Frequency / 1000;
        long driveEnd = progress is null ? 0 : now + progress.DriveBudget;
        var waiter = new Waiter();
        while (true)
        {
            if (TryPoll(out completion)) return true;
            now = System.Diagnostics.Stopwatch.GetTimestamp();
            if (now >= deadline) return false;
            if (progress is not null && progress.DriveProgress())
            {
                if (TryPoll(out completion)) return true;
                if (now < driveEnd)
                {
                    // Between polls, a thread this core owes (the peer serving us, a receive thread) runs first.
                    waiter.PauseShort();
                    continue;
                }
            }
            waiter.Pause();
        }
    }

    /// <summary>Same as <see cref="PollBlocking"/> (kept for callers written before the one wait policy; the yield
    /// window is the policy's).</summary>
    public bool PollYielding(out Completion completion, int yieldMicroseconds, int timeoutMilliseconds = -1)
        => PollBlocking(out completion, timeoutMilliseconds);

    private static void ThrowOverrun() => ThrowHelper.InvalidOperation("completion queue overrun: completions were lost; size the queue for the requests in flight");
}

/// <summary>A provider whose progress a waiting thread may drive (see <see cref="CompletionQueue.PollBlocking"/>).</summary>
internal interface ICompletionProgress
{
    /// <summary>Polls the provider once if no other thread is doing so; true when it polled.</summary>
    bool DriveProgress();

    /// <summary>How long a waiting thread may drive the provider before it blocks, in Stopwatch ticks.</summary>
    long DriveBudget { get; }
}
