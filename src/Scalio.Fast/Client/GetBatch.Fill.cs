using Scalio.Fast.Cache;
using Scalio.Fast.Storage;
using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Offload;
using Stage = Scalio.Fast.Client.ScalioGetBatch.Stage;

namespace Scalio.Fast.Client;

// The batch's SSD step: every locked miss's block read through the offload target, filled and published as it arrives.
public sealed unsafe partial class ScalioClient
{
    /// <summary>The SSD reads through the offload target, up to its queue depth in flight; each block found is filled
    /// and published as it arrives. Then every publish is awaited and every lock given back.</summary>
    private void ReadBlocksAndFill(ScalioGetBatch batch)
    {
        var lanes = batch.Lanes;
        int fills = 0;
        ulong firstFill = _nextWrId + 1;
        if (_nvme is IOffloadReadQueue queue)
        {
            int next = 0;
            while (true)
            {
                for (; next < batch.Count && queue.Outstanding < queue.Depth; next++)
                {
                    if (lanes[next].Stage != Stage.Locked) continue;
                    var posted = PostBlockRead(batch, next, queue);
                    if (!posted.IsSuccess) fills += BlockArrived(batch, next, posted);
                }
                if (queue.Outstanding == 0) break;
                var st = queue.WaitCompletion(out int tag);
                if (tag >= 0)
                {
                    fills += BlockArrived(batch, tag, st);
                    continue;
                }
                for (int i = 0; i < batch.Count; i++) // the queue abandoned every read in flight
                    if (lanes[i].Stage == Stage.Reading) fills += BlockArrived(batch, i, st);
            }
        }
        else
        {
            for (int i = 0; i < batch.Count; i++)
            {
                if (lanes[i].Stage != Stage.Locked) continue;
                ref var loc = ref lanes[i].Location;
                int lba = _server.DeviceLbaSizes[loc.Device];
                int lbasPerPage = _server.PageSize / lba;
                lanes[i].Stage = Stage.Reading;
                var st = _nvme.Read((uint)loc.Device + 1, loc.Page * (ulong)lbasPerPage, lbasPerPage * loc.Pages, lba, batch.Region, batch.DataOffsets[i]);
                fills += BlockArrived(batch, i, st);
            }
        }
        if (fills > 0) AwaitCount(firstFill, fills);
        if (fills > 0 && !_qp.CompletesInOrder) PublishFills(batch);
        for (int i = 0; i < batch.Count; i++)
        {
            ref var lane = ref lanes[i];
            if (lane.Stage != Stage.Filling) continue;
            ulong seen = batch.Atomic(i);
            // Orphaned by a write while we filled: the value still answers this GET but must not stay cached.
            if (seen != lane.Locked && SlotHeader.State(seen) == SlotState.Orphan) TryFree(lane.Bucket, lane.Victim, seen);
            lane.Stage = Stage.Done;
        }
        ReleaseGivenBack(batch);
    }

    /// <summary>Publishes every written fill on one doorbell: CAS FILLING to VALID, unordered (different slots, each
    /// WRITE already complete).</summary>
    private void PublishFills(ScalioGetBatch batch)
    {
        var lanes = batch.Lanes;
        ulong first = _nextWrId + 1;
        int k = 0;
        for (int i = 0; i < batch.Count; i++)
        {
            ref var lane = ref lanes[i];
            if (lane.Stage != Stage.Filling) continue;
            ProtocolSteps.Publish(batch.Chain + k++, in batch.Steps[i], NextId(), WorkFlags.Signaled | WorkFlags.Unordered,
                lane.Bucket, lane.Victim, lane.Locked, SlotHeader.Next(lane.Locked, SlotState.Valid));
        }
        _qp.PostSend(new ReadOnlySpan<WorkRequest>(batch.Chain, k));
        AwaitCount(first, k);
    }

    private NvmeStatus PostBlockRead(ScalioGetBatch batch, int i, IOffloadReadQueue queue)
    {
        ref var lane = ref batch.Lanes[i];
        ref var loc = ref lane.Location;
        int lba = _server.DeviceLbaSizes[loc.Device];
        int lbasPerPage = _server.PageSize / lba;
        lane.Stage = Stage.Reading;
        return queue.PostRead((uint)loc.Device + 1, loc.Page * (ulong)lbasPerPage, lbasPerPage * loc.Pages, lba, batch.Region, batch.DataOffsets[i], i);
    }

    /// <summary>Handles one key's SSD read; posts its fill and publish (one doorbell) and returns 1 when the block
    /// held the key, else marks the lock to be given back and returns 0.</summary>
    private int BlockArrived(ScalioGetBatch batch, int i, NvmeStatus st)
    {
        ref var lane = ref batch.Lanes[i];
        _counters.RoundTrips++;
        _counters.OffloadedReads++;
        _counters.BytesMoved += _server.PageSize;
        if (!st.IsSuccess)
        {
            if (st.StatusCode == NvmeStatus.LbaOutOfRange.StatusCode) { GiveBack(ref lane, Stage.Alone); return 0; } // torn entry
            // A transport failure of a queued read: the single path reconnects and reads again (reads are idempotent).
            if (st == NvmeStatus.HostPathingError || st == NvmeStatus.CommandAbortedByHost) { GiveBack(ref lane, Stage.Alone); return 0; }
            batch.Statuses[i] = OpStatus.IoError;
            GiveBack(ref lane, Stage.Done);
            batch.Answered(i);
            return 0;
        }
        var key = batch.KeyAt(i);
        var page = batch.Region.Slice(batch.DataOffsets[i], _server.PageSize * lane.Location.Pages);
        switch (BucketBlock.Find(page, (uint)lane.SsdBucket, lane.Location.Sequence, key, out var found))
        {
            case BlockLookup.Found when found.Length <= _layout.ValueCapacity:
            {
                var value = batch.ValueBuffer(i);
                found.CopyTo(value);
                int length = found.Length;
                batch.ValueLengths[i] = length;
                batch.Statuses[i] = OpStatus.Ok;
                ulong valid = SlotHeader.Next(lane.Locked, SlotState.Valid);
                _layout.WriteBody(batch.SlotImage(i), key, value[..length], SlotHeader.Version(valid), Stamp);
                if (_qp.CompletesInOrder)
                    ProtocolSteps.PostFillAndPublish(_qp, batch.Chain, in batch.Steps[i], NextIds(ProtocolSteps.FillAndPublishLength),
                        lane.Bucket, lane.Victim, length, lane.Locked, valid);
                else
                {
                    // The publish CAS would wait for this WRITE, and the next key's WRITE for that CAS: the publishes go
                    // out together once every fill is written (PublishFills).
                    ProtocolSteps.FillSlot(batch.Chain, in batch.Steps[i], NextId(), WorkFlags.Signaled, lane.Bucket, lane.Victim, length);
                    _qp.PostSend(in *batch.Chain);
                }
                _counters.RoundTrips++;
                _counters.BytesMoved += _layout.ValueOffset + length - SlotLayout.ChecksumOffset + 8;
                lane.Stage = Stage.Filling;
                _counters.Fills++; // before the observer hears of it, as a hit is counted
                batch.Answered(i); // the value is read under the lock; publishing the fill only caches it
                return 1;
            }
            case BlockLookup.NotFound:
                batch.Statuses[i] = OpStatus.NotFound;
                GiveBack(ref lane, Stage.Done);
                batch.Answered(i);
                return 0;
            default:
                GiveBack(ref lane, Stage.Alone); // a large record, a rewritten block or damage: the single path decides
                return 0;
        }
    }
}
