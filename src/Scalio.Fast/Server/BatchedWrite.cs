using System.Diagnostics;
using Scalio.Fast.Cache;
using Scalio.Fast.Rpc;
using Scalio.Fast.Storage;

namespace Scalio.Fast.Server;

public sealed unsafe partial class ScalioServer
{
    /// <summary>
    /// Batched write (DESIGN.md "SSD layout and the write path"): PUT/DELETE requests gather per SSD, and a batch is
    /// committed at the first of: it holds <see cref="ScalioServerOptions.BatchSize"/> entries; the worker has drained
    /// its receive queue and the batch has waited <see cref="ScalioServerOptions.BatchDrainGrace"/> (no request is
    /// waiting, so holding longer would only delay the writers already in the batch); every connection that wrote recently already waits in an open batch (group commit: no
    /// further write can arrive before a reply goes out); its first entry has waited
    /// <see cref="ScalioServerOptions.BatchIdleTimeout"/> (a safety net, e.g. for a worker busy elsewhere). Under load
    /// the receive queue is rarely empty, so batches still fill. Committing is one contiguous FUA write of the batch's
    /// value records and bucket blocks, then the locations are published, the cached slots of every written key
    /// invalidated and every writer of the batch answered. A batch size of 1 is the unbatched write path.
    /// </summary>
    private void Enqueue(Connection conn, int slot, ulong requestId, in KeyHash hash, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool remove)
    {
        int bucket = hash.SsdBucket(_options.SsdBuckets);
        int device = _store.DeviceOf(bucket);
        var q = _queues[device];
        long now = Stopwatch.GetTimestamp();
        if (now - conn.LastWriteTimestamp > _writerWindowTicks) Interlocked.Increment(ref _activeWriters); // (re)joined the writers
        conn.LastWriteTimestamp = now;
        while (true)
        {
            bool added, full = true;
            lock (q.Gate)
            {
                var open = q.Open;
                int i = open.Batch.TryAdd(bucket, key, value, remove, Stopwatch.GetTimestamp());
                added = i >= 0;
                if (added)
                {
                    open.Connections[i] = conn;
                    open.Slots[i] = slot;
                    open.RequestIds[i] = requestId;
                    open.Hashes[i] = hash;
                    Interlocked.Increment(ref _pendingWrites);
                    full = open.Batch.IsFull;
                    // Others may still write: the worker commits once it has drained its receive queue (FlushUnheld).
                    if (!full && Volatile.Read(ref _pendingWrites) < Volatile.Read(ref _activeWriters)) return;
                }
            }
            if (!full)
            {
                // Every recent writer is waiting in a batch: commit them all now.
                for (int d = 0; d < _queues.Length; d++) Flush(d, FlushReason.AllWaiting);
                return;
            }
            // Our entry filled the batch, or the batch was already full (another worker has not taken it yet).
            Flush(device, FlushReason.Full);
            if (added) return;
        }
    }

    /// <summary>True when some device has an open batch waiting.</summary>
    private bool AnyPending()
    {
        foreach (var q in _queues) if (q.OpenCount > 0) return true;
        return false;
    }

    /// <summary>Commits every open batch whose first entry has waited the idle timeout; true when one was committed.
    /// Also recounts the connections that wrote within the writer window (every 10 ms).</summary>
    private bool FlushDue(long now)
    {
        if (now - Volatile.Read(ref _writersCountedAt) > Stopwatch.Frequency / 100) CountWriters(now);
        bool any = false;
        for (int d = 0; d < _queues.Length; d++)
        {
            var q = _queues[d];
            if (q.OpenCount == 0) continue;
            if (now - q.OpenFirstTimestamp < _idleTicks) continue;
            any |= Flush(d, FlushReason.Timeout);
        }
        return any;
    }

    /// <summary>After a worker drained its receive queue (no request waiting): commits every open batch whose first
    /// entry has waited <see cref="ScalioServerOptions.BatchDrainGrace"/>, so no write waits long for writes that are
    /// not coming, while writers that are only a few microseconds away (or descheduled briefly) still join.</summary>
    private bool FlushUnheld(long now)
    {
        bool any = false;
        for (int d = 0; d < _queues.Length; d++)
        {
            var q = _queues[d];
            if (q.OpenCount != 0 && now - q.OpenFirstTimestamp >= _drainGraceTicks) any |= Flush(d, FlushReason.Drain);
        }
        return any;
    }

    /// <summary>True when some open batch is still inside its drain grace.</summary>
    private bool HoldingAfterDrain(long now)
    {
        foreach (var q in _queues)
            if (q.OpenCount != 0 && now - q.OpenFirstTimestamp < _drainGraceTicks) return true;
        return false;
    }

    private enum FlushReason : byte
    {
        Full,
        Timeout,
        AllWaiting,
        Drain,
        Shutdown,
    }

    /// <summary>Takes the device's open batch (a timeout flush only when it is still due) and commits it.</summary>
    private bool Flush(int device, FlushReason reason)
    {
        var q = _queues[device];
        lock (q.FlushGate)
        {
            PendingBatch b;
            lock (q.Gate)
            {
                int count = q.Open.Batch.Count;
                if (count == 0) return false;
                if (reason == FlushReason.Timeout && !q.Open.Batch.IsFull && Stopwatch.GetTimestamp() - q.Open.Batch.FirstTimestamp < _idleTicks) return false;
                b = q.Open;
                q.Open = q.Spare!;
                q.Spare = null;
                Interlocked.Add(ref _pendingWrites, -count);
            }
            if (_commitPath is null) CommitAndReply(device, b);
            else _commitPath.Commit(this, device, b); // injected by the checker harness only; one test per batch
            b.Batch.Clear();
            Array.Clear(b.Connections);
            lock (q.Gate) q.Spare = b;
            return true;
        }
    }

    private void CountWriters(long now)
    {
        lock (_workers)
        {
            if (now - _writersCountedAt <= Stopwatch.Frequency / 100) return;
            _writersCountedAt = now;
            int n = 0;
            foreach (var w in _workers) n += w.CountWriters(now, _writerWindowTicks);
            Volatile.Write(ref _activeWriters, n);
        }
    }

    /// <summary>The correct order: durable write and published location, then invalidation, then the reply.</summary>
    internal void CommitAndReply(int device, PendingBatch b)
    {
        var batch = b.Batch;
        int n = batch.Count;
        _store.Commit(device, batch);
        long due = Scalio.Nvme.SsdPerformanceModel.TakeDeferredCompletion();
        for (int i = 0; i < n; i++)
        {
            var status = batch.Status(i);
            if (status == OpStatus.Ok) Invalidate(in b.Hashes[i], batch.Key(i));
            Reply(b, i, status, due);
        }
    }

    /// <summary>Answers entry <paramref name="i"/> of a committed batch once the (modelled) device completed.</summary>
    internal static void Reply(PendingBatch b, int i, OpStatus status, long due)
    {
        var conn = b.Connections[i]!;
        int slot = b.Slots[i];
        int length = RpcFormat.WriteReply(conn.Reply(slot), status, b.RequestIds[i], default);
        conn.PostReceive(slot);
        ReplyWhenDurable(conn, slot, length, due);
    }

    /// <summary>A batch plus who to reply to.</summary>
    internal sealed class PendingBatch : IDisposable
    {
        public readonly WriteBatch Batch;
        public readonly Connection?[] Connections;
        public readonly int[] Slots;
        public readonly ulong[] RequestIds;
        public readonly KeyHash[] Hashes;

        public PendingBatch(int capacity, int maxKey, int maxValue)
        {
            Batch = new WriteBatch(capacity, maxKey, maxValue);
            Connections = new Connection?[capacity];
            Slots = new int[capacity];
            RequestIds = new ulong[capacity];
            Hashes = new KeyHash[capacity];
        }

        public void Dispose() => Batch.Dispose();
    }

    /// <summary>The open batch of one device, a spare to swap in while it is committed, and the flush lock.</summary>
    private sealed class DeviceQueue : IDisposable
    {
        public readonly object Gate = new();
        public readonly object FlushGate = new();
        public PendingBatch Open;
        public PendingBatch? Spare;

        public DeviceQueue(int capacity, int maxKey, int maxValue)
        {
            Open = new PendingBatch(capacity, maxKey, maxValue);
            Spare = new PendingBatch(capacity, maxKey, maxValue);
        }

        public int OpenCount => Volatile.Read(ref Open).Batch.Count;

        public long OpenFirstTimestamp => Volatile.Read(ref Open).Batch.FirstTimestamp;

        public void Dispose()
        {
            Open.Batch.Dispose();
            Spare?.Batch.Dispose();
        }
    }
}
