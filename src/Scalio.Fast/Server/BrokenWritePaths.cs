using Scalio.Verbs.Nvme;

namespace Scalio.Fast.Server;

public sealed unsafe partial class ScalioServer
{
    /// <summary>The commit of a deliberately broken write path (<see cref="BrokenWriteMode"/>), or null for the real one.
    /// Chosen once at construction so the real path carries no per-operation test of the mode.</summary>
    private readonly Action<int, PendingBatch>? _brokenCommit;

    private Action<int, PendingBatch>? SelectBrokenCommit()
        => _options.BrokenWriteMode switch
        {
            BrokenWriteMode.WriteCacheFirst => CommitCacheFirst,
            BrokenWriteMode.WriteSsdFirstNoInvalidate => CommitWithoutInvalidate,
            _ => null, // UnguardedFill is a client-side bug; the server's write path stays correct
        };

    /// <summary>
    /// CHECKER HARNESS ONLY, DESIGN.md counterexample 1 ("write-to-cache-first"): every PUT's new value is published
    /// VALID in the cache before the SSD write and the location update. A reader hits the new value; once it is evicted,
    /// a reader misses, reads the still-old location and returns the old value: new, then old. The SSD write takes its
    /// full (modelled or real) time before the location moves, as a synchronous write would. Everything else is the
    /// real path (deletes, and the invalidation after the commit), so this ordering is the only bug a catch can show.
    /// </summary>
    private void CommitCacheFirst(int device, PendingBatch b)
    {
        var batch = b.Batch;
        int n = batch.Count;
        for (int i = 0; i < n; i++)
        {
            if (batch.IsRemove(i)) continue;
            var key = batch.Key(i);
            Invalidate(in b.Hashes[i], key); // at most one slot per key: drop the old copy first
            long slotOffset = LockFillSlot(in b.Hashes[i], key, out ulong filling);
            if (slotOffset >= 0) PublishFill(slotOffset, filling, publish: true, key, batch.Value(i));
        }
        bool deferring = SsdPerformanceModel.DeferWaits;
        SsdPerformanceModel.DeferWaits = false; // the location moves only once the SSD write is done, as on a real device
        try
        {
            CommitAndReply(device, b);
        }
        finally
        {
            SsdPerformanceModel.DeferWaits = deferring;
        }
    }

    /// <summary>
    /// CHECKER HARNESS ONLY ("write-to-SSD-first" without invalidation): the write is durable and published, but the
    /// cached copy of the old value stays VALID, so readers hit the old value after the PUT returned.
    /// </summary>
    private void CommitWithoutInvalidate(int device, PendingBatch b)
    {
        var batch = b.Batch;
        _store.Commit(device, batch);
        long due = Scalio.Verbs.Nvme.SsdPerformanceModel.TakeDeferredCompletion();
        for (int i = 0; i < batch.Count; i++) Reply(b, i, batch.Status(i), due);
    }
}
