using Scalio.Fast.Cache;
using Scalio.Fast.Server;
using Scalio.Verbs;

namespace Scalio.Fast.Client;

// RDMA fill (GET step 6): WRITE of the slot body chained with the publishing CAS FILLING -> VALID.
public sealed unsafe partial class ScalioClient
{
    /// <summary>Fills the locked <paramref name="victim"/> with <paramref name="key"/> and <paramref name="value"/> and
    /// publishes it (one doorbell); a slot that a write orphaned meanwhile is freed instead of published.</summary>
    private void FillAndPublish(int bucket, int victim, ulong locked, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        // Fill: body (checksum seeded with the version VALID will carry), then publish, chained on one doorbell.
        ulong valid = SlotHeader.Next(locked, SlotState.Valid);
        var slotImage = _mr.Slice(_slotOff, _layout.SlotSize);
        _layout.WriteBody(slotImage, key, value, SlotHeader.Version(valid), Stamp);
        if (_fillPublish is { } publish)
        {
            publish.Publish(this, bucket, victim, valid, value.Length); // injected by the checker harness only
            return;
        }
        int bodyLength = _layout.ValueOffset + value.Length - SlotLayout.ChecksumOffset;
        ulong id = ProtocolSteps.PostFillAndPublish(_qp, _chain, in _steps, NextIds(ProtocolSteps.FillAndPublishLength), bucket, victim, value.Length, locked, valid);
        _counters.RoundTrips++;
        _counters.BytesMoved += bodyLength + 8;
        Await(id);
        ulong seen = *(ulong*)(_mr.Address + _atomicOff);
        if (seen != locked && SlotHeader.State(seen) == SlotState.Orphan)
        {
            // A write invalidated the key while we filled: the value we read is still a correct answer for this
            // GET (it was current when we read it, after we locked), but it must not be cached.
            TryFree(bucket, victim, seen);
        }
    }
}
