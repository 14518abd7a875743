using Scalio.Fast.Cache;
using Scalio.Fast.Storage;
using Scalio.Verbs;
using Stage = Scalio.Fast.Client.ScalioGetBatch.Stage;

namespace Scalio.Fast.Client;

public sealed unsafe partial class ScalioClient
{
    /// <summary>Creates a reusable batch of up to <paramref name="capacity"/> GETs for this client (registers its buffers).</summary>
    public ScalioGetBatch CreateGetBatch(int capacity = 16)
        => new(this, _domain, _layout, capacity, _server.PageSize, ValueRecord.MaxPages(_layout.KeyCapacity, _layout.ValueCapacity, _server.PageSize));

    /// <summary>
    /// Runs every GET of <paramref name="batch"/> with its steps in flight together: one doorbell READs every bucket,
    /// one locks every miss's victim (each CAS chained with its bucket re-read), one READs every location entry, then the
    /// SSD reads go out up to the offload queue's depth and each block is filled and published as it arrives. Each key
    /// takes exactly the steps of <see cref="Get(ReadOnlySpan{byte}, Span{byte}, out int)"/>; a key that meets a rare
    /// case (a torn image, another filler, a lost lock, a large record) is finished alone afterwards.
    /// Statuses, values and hits are read from the batch.
    /// </summary>
    public void Get(ScalioGetBatch batch) => Get(batch, null);

    /// <summary>
    /// As <see cref="Get(ScalioGetBatch)"/>, and tells <paramref name="observer"/> of each GET the moment its answer is
    /// final: hits right after the one bucket doorbell, each miss as its block arrives from the SSD, while the rest of
    /// the batch is still in flight. Every GET is told of exactly once, on this thread, before this call returns; if the
    /// fabric fails meanwhile, the GETs already told of keep their answers.
    /// </summary>
    public void Get(ScalioGetBatch batch, IGetBatchObserver? observer)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Owner != this) ThrowHelper.Argument(nameof(batch), "the batch belongs to another client");
        int n = batch.Count;
        if (n == 0) return;
        batch.Observer = observer;
        try
        {
            RunBatch(batch, n);
        }
        finally
        {
            batch.Observer = null;
        }
        _counters.Batches++;
        _counters.BatchedGets += n;
        if (batch.HitCount == n) _counters.Complete(ClientOperation.Get, OpStatus.Ok, n);
        else for (int i = 0; i < n; i++) _counters.Complete(ClientOperation.Get, batch.Statuses[i]);
        Diagnostics.ClientInstruments.RecordBatch(n);
    }

    private void RunBatch(ScalioGetBatch batch, int n)
    {
        var lanes = batch.Lanes;
        ReadBuckets(batch, n);
        int misses = 0;
        int hits = AnswerHits(batch, n, ref misses);
        if (hits == n)
        {
            batch.HitCount = n; // nothing else to do: every GET is answered
            return;
        }

        if (misses > 0)
        {
            LockVictims(batch);
            ReadLocations(batch);
            ReadBlocksAndFill(batch);
        }

        // 3. The rare cases, one at a time, after every lock of this batch is given back or published.
        for (int i = 0; i < n; i++)
        {
            if (lanes[i].Stage != Stage.Alone) continue;
            _counters.Gets--; // counted once above
            long hitsBefore = _counters.Hits;
            batch.Statuses[i] = GetCore(batch.KeyAt(i), batch.ValueBuffer(i), out batch.ValueLengths[i]);
            batch.Hits[i] = _counters.Hits != hitsBefore;
            if (batch.Hits[i]) hits++;
            lanes[i].Stage = Stage.Done;
            batch.Answered(i);
        }
        for (int i = 0; i < n; i++)
        {
            if (lanes[i].Stage != Stage.Follow) continue;
            batch.CopyAnswer(lanes[i].Leader, i); // an earlier lane: Done by now, after the rare cases too
            lanes[i].Stage = Stage.Done;
            batch.Answered(i);
        }
        batch.HitCount = hits;
    }

    /// <summary>Step 1 for every key: its hash and bucket, and one doorbell that READs every bucket.</summary>
    private void ReadBuckets(ScalioGetBatch batch, int n)
    {
        var lanes = batch.Lanes;
        var steps = batch.Steps;
        var chain = batch.Chain;
        ulong first = NextIds(n);
        int buckets = _server.CacheBuckets;
        for (int i = 0; i < n; i++)
        {
            ref var lane = ref lanes[i];
            lane = default;
            lane.Hash = new KeyHash(batch.KeyOf(i));
            lane.Bucket = lane.Hash.CacheBucket(buckets);
            ProtocolSteps.ReadBucket(chain + i, in steps[i], first + (ulong)i, WorkFlags.Signaled, lane.Bucket);
        }
        _counters.Gets += n;
        _counters.RoundTrips += n;
        _counters.BytesMoved += (long)n * _layout.BucketSize;
        PostReadsAndAwait(chain, n, first);
    }

    /// <summary>Step 2 for every key: a hit answers at once (stale stamps go out unsignaled, one doorbell); anything
    /// else goes to <see cref="PrepareMiss"/>. Returns the hits. The clock is read once a batch.</summary>
    private int AnswerHits(ScalioGetBatch batch, int n, ref int misses)
    {
        var lanes = batch.Lanes;
        var chain = batch.Chain;
        var statuses = batch.Statuses;
        var lengths = batch.ValueLengths;
        var hitFlags = batch.Hits;
        var observer = batch.Observer;
        int touches = 0, hits = 0;
        uint stamp = Stamp;
        var steps = batch.Steps;
        byte* region = batch.Region.Address;
        var layout = _layout;
        for (int i = 0; i < n; i++)
        {
            byte* image = region + steps[i].BucketBuffer;
            ref var lane = ref lanes[i];
            int hit = ProbeHit(image, batch.KeyOf(i), lane.Hash.Fingerprint);
            if (hit < 0)
            {
                PrepareMiss(batch, i, new ReadOnlySpan<byte>(image, layout.BucketSize), ref misses);
                continue;
            }
            var bucket = new ReadOnlySpan<byte>(image, layout.BucketSize);
            lengths[i] = TakeHit(bucket, hit, batch.ValueBuffer(i)); // counts the hit before the observer hears of it
            statuses[i] = OpStatus.Ok;
            hitFlags[i] = true;
            hits++;
            observer?.Answered(batch, i);
            if (!StampIsStale(layout.SlotAt(bucket, hit), stamp)) continue;
            *(uint*)(region + steps[i].SlotBuffer + SlotLayout.StampOffset) = stamp;
            ProtocolSteps.Touch(chain + touches++, in steps[i], NextId(), WorkFlags.Unordered, lane.Bucket, hit);
            _counters.BytesMoved += 4;
        }
        if (touches > 0) _qp.PostSend(new ReadOnlySpan<WorkRequest>(chain, touches));
        return hits;
    }

    /// <summary>Step 2 for a key its bucket image does not hold: the rare cases go alone, a repeat follows the earlier
    /// miss of its key, and any other picks its victim.</summary>
    private void PrepareMiss(ScalioGetBatch batch, int i, ReadOnlySpan<byte> image, ref int misses)
    {
        ref var lane = ref batch.Lanes[i];
        var key = batch.KeyOf(i);
        var scan = Scan(image, key, lane.Hash.Fingerprint); // no hit: the probe found none in this same image
        if (scan.TornSlot >= 0 || scan.Pending >= 0) { lane.Stage = Stage.Alone; return; }
        ulong taken = 0;
        int leader = misses > 0 ? EarlierMisses(batch, i, out taken) : -1;
        if (leader >= 0) { lane.Leader = leader; lane.Stage = Stage.Follow; return; }
        int victim = PickVictim(image, in scan, taken);
        if (victim < 0) { lane.Stage = Stage.Alone; return; }
        lane.SsdBucket = lane.Hash.SsdBucket(_server.SsdBuckets);
        lane.Victim = victim;
        lane.VictimHeader = _layout.HeaderAt(image, victim);
        lane.Locked = SlotHeader.Next(lane.VictimHeader, SlotState.Filling, lane.Hash.Fingerprint, ClockMs16);
        lane.Stage = Stage.Miss;
        misses++;
    }

    /// <summary>CAS every victim to FILLING, each chained with a re-read of its bucket, on one doorbell. On a queue pair
    /// that does not order atomics (tcp;ofi_rxm), such a chain would run one request at a time: there every CAS goes out
    /// at once (unordered: they touch different slots), and once all completed every re-read goes out at once.</summary>
    private void LockVictims(ScalioGetBatch batch)
    {
        var lanes = batch.Lanes;
        var chain = batch.Chain;
        int k = 0;
        ulong first = _nextWrId + 1;
        bool inOrder = _qp.CompletesInOrder;
        for (int i = 0; i < batch.Count; i++)
        {
            ref var lane = ref lanes[i];
            if (lane.Stage != Stage.Miss) continue;
            if (inOrder)
                ProtocolSteps.LockAndReread(chain + k * ProtocolSteps.LockAndRereadLength, in batch.Steps[i], NextIds(ProtocolSteps.LockAndRereadLength),
                    lane.Bucket, lane.Victim, lane.VictimHeader, lane.Locked);
            else
                ProtocolSteps.LockVictim(chain + k, in batch.Steps[i], NextId(), WorkFlags.Signaled | WorkFlags.Unordered, lane.Bucket, lane.Victim, lane.VictimHeader, lane.Locked);
            k++;
        }
        _counters.RoundTrips += k;
        _counters.BytesMoved += (long)k * (8 + _layout.BucketSize);
        if (inOrder)
        {
            _qp.PostSend(new ReadOnlySpan<WorkRequest>(chain, k * ProtocolSteps.LockAndRereadLength));
            AwaitCount(first, k);
        }
        else
        {
            _qp.PostSend(new ReadOnlySpan<WorkRequest>(chain, k));
            AwaitCount(first, k);
            // The re-reads and, for every lock that took, the location READ (it only has to follow the CAS) on one doorbell.
            ulong firstRead = _nextWrId + 1;
            int r = 0;
            for (int i = 0; i < batch.Count; i++)
            {
                ref var lane = ref lanes[i];
                if (lane.Stage != Stage.Miss) continue;
                ProtocolSteps.ReadBucket(chain + r++, in batch.Steps[i], NextId(), WorkFlags.Signaled, lane.Bucket);
                if (batch.Atomic(i) == lane.VictimHeader)
                    ProtocolSteps.ReadLocation(chain + r++, in batch.Steps[i], NextId(), WorkFlags.Signaled, lane.SsdBucket);
            }
            PostReadsAndAwait(chain, r, firstRead);
        }
        for (int i = 0; i < batch.Count; i++)
        {
            ref var lane = ref lanes[i];
            if (lane.Stage != Stage.Miss) continue;
            if (batch.Atomic(i) != lane.VictimHeader)
            {
                _counters.LockConflicts++;
                lane.Stage = Stage.Alone;
            }
            else if (AnotherSlotHasKey(batch.BucketImage(i), lane.Victim, lane.Hash.Fingerprint, batch.KeyAt(i)))
                GiveBack(ref lane, Stage.Alone);
            else lane.Stage = Stage.Locked;
        }
        ReleaseGivenBack(batch);
    }

    /// <summary>READ every locked key's location entry on one doorbell (where the lock was not an in-order chain, they
    /// were read beside the re-reads already), and decode them.</summary>
    private void ReadLocations(ScalioGetBatch batch)
    {
        var lanes = batch.Lanes;
        var chain = batch.Chain;
        int k = 0;
        ulong first = _nextWrId + 1;
        bool posted = !_qp.CompletesInOrder; // read with the re-reads (LockVictims)
        for (int i = 0; i < batch.Count; i++)
        {
            if (lanes[i].Stage != Stage.Locked) continue;
            if (!posted) ProtocolSteps.ReadLocation(chain + k, in batch.Steps[i], NextId(), WorkFlags.Signaled, lanes[i].SsdBucket);
            k++;
        }
        if (k == 0) return;
        _counters.RoundTrips += k;
        _counters.BytesMoved += (long)k * Location.EntrySize;
        if (!posted) PostReadsAndAwait(chain, k, first);
        int pageBytes = batch.DataBytes;
        for (int i = 0; i < batch.Count; i++)
        {
            ref var lane = ref lanes[i];
            if (lane.Stage != Stage.Locked) continue;
            var loc = Location.Decode(batch.LocationWord(i, 0), batch.LocationWord(i, 1));
            if (!loc.Exists)
            {
                batch.Statuses[i] = OpStatus.NotFound;
                GiveBack(ref lane, Stage.Done);
                batch.Answered(i);
            }
            else if ((uint)loc.Device >= (uint)_server.DeviceLbaSizes.Length || loc.Pages < 1 || (long)loc.Pages * _server.PageSize > pageBytes)
                GiveBack(ref lane, Stage.Alone); // torn entry: the single path re-reads it
            else lane.Location = loc;
        }
        ReleaseGivenBack(batch);
    }

    private static void GiveBack(ref ScalioGetBatch.Lane lane, Stage after)
    {
        lane.Stage = Stage.Release;
        lane.After = after;
    }

    /// <summary>Gives back every lock marked so (nothing else of the batch is in flight when this runs).</summary>
    private void ReleaseGivenBack(ScalioGetBatch batch)
    {
        var lanes = batch.Lanes;
        for (int i = 0; i < batch.Count; i++)
        {
            ref var lane = ref lanes[i];
            if (lane.Stage != Stage.Release) continue;
            Release(lane.Bucket, lane.Victim, lane.Locked);
            lane.Stage = lane.After;
        }
    }

    /// <summary>Posts <paramref name="count"/> signaled READs (ids from <paramref name="firstId"/>) on one doorbell and
    /// waits for them. On a queue that completes in order only the last stays signaled: one completion per doorbell,
    /// as RC verbs applications do (a failed unsignaled READ still reports its completion).</summary>
    private void PostReadsAndAwait(WorkRequest* chain, int count, ulong firstId)
    {
        bool inOrder = _qp.CompletesInOrder;
        if (inOrder)
            for (int i = 0; i < count - 1; i++) chain[i].Flags &= ~WorkFlags.Signaled;
        _qp.PostSend(new ReadOnlySpan<WorkRequest>(chain, count));
        if (inOrder) AwaitCount(firstId + (ulong)(count - 1), 1);
        else AwaitCount(firstId, count);
    }

    /// <summary>Waits for <paramref name="count"/> signaled completions with ids from <paramref name="firstId"/> on (in any order).</summary>
    private void AwaitCount(ulong firstId, int count)
    {
        var cq = _qp.SendQueue;
        while (count > 0)
        {
            if (!cq.TryPoll(out var wc) && !cq.PollBlocking(out wc, timeoutMilliseconds: _options.RequestTimeoutMilliseconds))
                ThrowHelper.Fabric("no completion from the fabric in time");
            if (!wc.IsSuccess) ThrowFabric(wc);
            if (wc.Id >= firstId) count--;
        }
    }
}
