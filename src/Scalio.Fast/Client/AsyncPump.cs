using System.Diagnostics;

namespace Scalio.Fast.Client;

public sealed partial class ScalioAsyncClient
{
    /// <summary>
    /// The pump thread: takes queued ops in order, gathers consecutive GETs into one batch (up to its capacity), runs a
    /// PUT or DELETE after the GETs queued before it, completes each op, and sleeps when the queue stays empty.
    /// </summary>
    private void Pump()
    {
        while (Volatile.Read(ref _disposed) == 0)
        {
            bool ran;
            lock (_session) ran = RunQueued();
            if (!ran) Idle();
        }
    }

    /// <summary>One round under the session lock: the GETs at the queue's head as one batch, then a write if one ended
    /// it. False when the queue held nothing to run.</summary>
    private bool RunQueued()
    {
        var gets = _gets;
        int n = 0;
        AsyncOperation? write = null;
        while (n < gets.Length && _queue.TryDequeue(out var e))
        {
            if (!e.Op.TryTake(e.QueuedState)) continue; // canceled before pickup (or an earlier use's entry)
            if (e.Op.Kind == AsyncOperationKind.Get) gets[n++] = e.Op;
            else
            {
                write = e.Op;
                break;
            }
        }
        if (n > 0) RunGets(n);
        if (write is not null) RunWrite(write);
        return n > 0 || write is not null;
    }

    private void RunGets(int n)
    {
        var gets = _gets;
        try
        {
            var batch = _backend.BeginBatch();
            var status = OpStatus.Unavailable;
            if (batch is not null)
            {
                for (int i = 0; i < n; i++) batch.Add(gets[i].Key.Span);
                status = _backend.Get(batch, _answers); // completes each answered GET as it arrives
            }
            for (int i = 0; i < n; i++)
            {
                if (gets[i] is not { } op) continue;
                gets[i] = null!;
                op.Complete(status == OpStatus.Ok ? Result(batch!, i, op) : new ScalioGetResult(status, 0, false));
            }
        }
        catch (Exception e)
        {
            for (int i = 0; i < n; i++)
            {
                if (gets[i] is not { } op) continue;
                gets[i] = null!;
                op.Fail(e);
            }
        }
    }

    /// <summary>GET <paramref name="i"/>'s answer, its value copied out unless the caller canceled meanwhile.</summary>
    private static ScalioGetResult Result(ScalioGetBatch batch, int i, AsyncOperation op)
    {
        var st = batch.StatusAt(i);
        int length = 0;
        if (st == OpStatus.Ok && !op.Token.IsCancellationRequested) // a canceled GET's result is dropped
        {
            var v = batch.ValueAt(i);
            v.CopyTo(op.Destination.Span);
            length = v.Length;
        }
        return new ScalioGetResult(st, length, batch.HitAt(i));
    }

    /// <summary>Completes each GET of the running batch once its answer is final (Ok or NotFound; a failure waits for the
    /// batch, whose status says whether the session failed).</summary>
    private sealed class Answers(AsyncOperation[] gets) : IGetBatchObserver
    {
        public void Answered(ScalioGetBatch batch, int index)
        {
            var st = batch.StatusAt(index);
            if (st != OpStatus.Ok && st != OpStatus.NotFound) return;
            var op = gets[index];
            gets[index] = null!;
            op.Complete(Result(batch, index, op)); // the op may be reused from here: not touched again
        }
    }

    private void RunWrite(AsyncOperation op)
    {
        OpStatus st;
        try
        {
            st = op.Kind == AsyncOperationKind.Put ? _backend.Put(op.Key.Span, op.Value.Span) : _backend.Delete(op.Key.Span);
        }
        catch (Exception e)
        {
            op.Fail(e);
            return;
        }
        op.Complete(new ScalioGetResult(st, 0, false));
    }

    /// <summary>Spins for new ops a little, then sleeps until an enqueuer or disposal wakes the pump.</summary>
    private void Idle()
    {
        long until = Stopwatch.GetTimestamp() + _spinTicks;
        do
        {
            if (!_queue.IsEmpty || Volatile.Read(ref _disposed) != 0) return;
            Thread.SpinWait(20);
        }
        while (Stopwatch.GetTimestamp() < until);
        _wake.Reset();
        Interlocked.Exchange(ref _sleeping, 1); // full fence: an enqueuer after this sees us asleep and wakes us
        if (_queue.IsEmpty && Volatile.Read(ref _disposed) == 0) _wake.Wait();
        Volatile.Write(ref _sleeping, 0);
    }
}
