using Scalio.Baselines;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Fast.Server;
using Scalio.Verbs;
using Scalio.Nvme;

namespace Scalio.Cli;

/// <summary>
/// The deliberately wrong write paths of <c>scalio check --broken</c>, injected into a server through its commit seam
/// (<see cref="ScalioServer.CommitPath"/>) and into clients through their publish seam (<see cref="IFillPublishPath"/>),
/// so the product's paths carry none of them.
/// </summary>
internal static class BrokenWritePaths
{
    /// <summary>Makes <paramref name="server"/> commit with the broken order <paramref name="mode"/>; the server's own
    /// path stays for <see cref="BrokenWriteMode.None"/> and for <see cref="BrokenWriteMode.UnguardedFill"/> (a client bug).</summary>
    public static void Inject(ScalioServer server, BrokenWriteMode mode)
    {
        ArgumentNullException.ThrowIfNull(server);
        server.CommitPath = mode switch
        {
            BrokenWriteMode.WriteCacheFirst => new CacheFirst(new DittoFill(server)),
            BrokenWriteMode.WriteSsdFirstNoInvalidate => new WithoutInvalidate(),
            _ => null,
        };
    }

    /// <summary>How clients publish their fills under <paramref name="mode"/>: the unguarded publish, or null (the real CAS).</summary>
    public static IFillPublishPath? ClientPublish(BrokenWriteMode mode) => mode == BrokenWriteMode.UnguardedFill ? UnguardedFill.Instance : null;

    /// <summary>
    /// DESIGN.md counterexample 1 ("write-to-cache-first"): every PUT's new value is published VALID in the cache before
    /// the SSD write and the location update. A reader hits the new value; once it is evicted, a reader misses, reads the
    /// still-old location and returns the old value: new, then old. The SSD write takes its full (modelled or real) time
    /// before the location moves, as a synchronous write would. Everything else is the real path (deletes, and the
    /// invalidation after the commit), so this ordering is the only bug a catch can show.
    /// </summary>
    private sealed class CacheFirst(DittoFill fill) : IBatchCommitPath
    {
        public void Commit(ScalioServer server, int device, ScalioServer.PendingBatch b)
        {
            var batch = b.Batch;
            int n = batch.Count;
            for (int i = 0; i < n; i++)
            {
                if (batch.IsRemove(i)) continue;
                var key = batch.Key(i);
                server.Invalidate(in b.Hashes[i], key); // at most one slot per key: drop the old copy first
                long slotOffset = fill.LockFillSlot(in b.Hashes[i], key, out ulong filling);
                if (slotOffset >= 0) fill.PublishFill(slotOffset, filling, publish: true, key, batch.Value(i));
            }
            bool deferring = SsdPerformanceModel.DeferWaits;
            SsdPerformanceModel.DeferWaits = false; // the location moves only once the SSD write is done, as on a real device
            try
            {
                server.CommitAndReply(device, b);
            }
            finally
            {
                SsdPerformanceModel.DeferWaits = deferring;
            }
        }
    }

    /// <summary>"Write-to-SSD-first" without invalidation: the write is durable and published, but the cached copy of
    /// the old value stays VALID, so readers hit the old value after the PUT returned.</summary>
    private sealed class WithoutInvalidate : IBatchCommitPath
    {
        public void Commit(ScalioServer server, int device, ScalioServer.PendingBatch b)
        {
            var batch = b.Batch;
            server.Store.Commit(device, batch);
            long due = SsdPerformanceModel.TakeDeferredCompletion();
            for (int i = 0; i < batch.Count; i++) ScalioServer.Reply(b, i, batch.Status(i), due);
        }
    }

    /// <summary>Publishes with a plain WRITE of the VALID header instead of a CAS from the filler's FILLING header, so a
    /// fill that a write orphaned meanwhile still becomes VALID with the value read before the write.</summary>
    private sealed unsafe class UnguardedFill : IFillPublishPath
    {
        public static readonly UnguardedFill Instance = new();

        public void Publish(ScalioClient client, int bucket, int slot, ulong valid, int valueLength)
        {
            var mr = client.Buffer;
            WorkRequest* chain = client.Chain;
            ulong first = client.ReserveIds(2);
            ProtocolSteps.FillSlot(chain, in client.Steps, first, WorkFlags.None, bucket, slot, valueLength);
            int staging = client.HeaderStagingOffset;
            *(ulong*)(mr.Address + staging) = valid;
            chain[1] = WorkRequest.Write(first + 1, mr.AddressOf(staging), 8, mr.LocalKey, (ulong)client.RemoteSlotOffset(bucket, slot), client.CacheKey);
            client.QueuePair.PostSend(new ReadOnlySpan<WorkRequest>(chain, 2));
            ref var counters = ref client.MutableCounters;
            counters.RoundTrips++;
            counters.BytesMoved += client.Layout.ValueOffset + valueLength - SlotLayout.ChecksumOffset + 8;
            client.AwaitCompletion(first + 1);
        }
    }
}
