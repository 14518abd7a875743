using System.Diagnostics;
using Scalio.Fast.Cache;
using Scalio.Fast.Rpc;

namespace Scalio.Fast.Client;

public sealed unsafe partial class ScalioClient
{
    /// <summary>
    /// Reads <paramref name="key"/> into <paramref name="value"/> (at least <see cref="SlotLayout.ValueCapacity"/> bytes).
    /// A hit costs one RDMA READ; a miss locks a slot (CAS), reads the location index (READ) and the SSD through
    /// NVMe-oF target offload, fills the slot (WRITE) and publishes it (CAS). The server CPU is never involved.
    /// </summary>
    /// <returns><see cref="OpStatus.Ok"/> with the value, <see cref="OpStatus.NotFound"/>, or an error status.</returns>
    public OpStatus Get(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength)
    {
        _layout.ValidateKey(key);
        if (value.Length < _layout.ValueCapacity) ThrowHelper.Argument(nameof(value), $"the value buffer must hold {_layout.ValueCapacity} bytes");
        valueLength = 0;
        _counters.Gets++;
        var hash = new KeyHash(key);
        int bucket = hash.CacheBucket(_server.CacheBuckets);
        ushort fp = hash.Fingerprint;
        long waitStart = 0;
        ulong lastTornHeader = 0;
        int tornRepeats = 0;

        for (int attempt = 0; attempt < _options.MaxAttempts; attempt++)
        {
            ReadBucket(bucket);
            var image = BucketImage;
            var scan = Scan(image, key, fp);
            if (scan.Hit >= 0)
            {
                valueLength = TakeHit(image, scan.Hit, value);
                WriteStampUnsignaled(bucket, scan.Hit);
                return OpStatus.Ok;
            }
            int pending = scan.Pending, expired = scan.Expired, tornSlot = scan.TornSlot;
            if (tornSlot >= 0)
            {
                // A slot of this key was caught mid-change: re-read. A VALID header that stays put while its body never
                // verifies was overwritten by the late body WRITE of a filler whose slot was reclaimed: free it.
                _counters.TornRetries++;
                ulong th = _layout.HeaderAt(image, tornSlot);
                tornRepeats = th == lastTornHeader ? tornRepeats + 1 : 1;
                lastTornHeader = th;
                if (tornRepeats >= StaleBodyRereads && TryFree(bucket, tornSlot, th))
                {
                    _counters.StaleBodiesFreed++;
                    tornRepeats = 0;
                }
                continue;
            }

            if (pending >= 0)
            {
                ulong ph = _layout.HeaderAt(image, pending);
                if (LeaseExpired(ph))
                {
                    if (TryFree(bucket, pending, ph)) _counters.Reclaims++;
                    continue;
                }
                long now = Stopwatch.GetTimestamp();
                if (waitStart == 0) { waitStart = now; _counters.FillWaits++; }
                if (now - waitStart < _fillWaitTicks)
                {
                    Backoff(attempt);
                    continue;
                }
                // The filler is slow (descheduled, or dead but its lease not yet expired). Orphan it, so that it can
                // never publish what it read, then read the SSD ourselves.
                if (!TryOrphan(bucket, pending, ph)) continue;
                waitStart = 0;
                var st = DirectRead(in hash, key, bucket, value, out valueLength);
                if (st == OpStatus.Timeout) continue;
                return st;
            }

            int victim = PickVictim(image, in scan);
            if (victim < 0)
            {
                if (expired >= 0)
                {
                    ulong eh = _layout.HeaderAt(image, expired);
                    if (TryFree(bucket, expired, eh)) _counters.Reclaims++;
                    continue;
                }
                // Every slot is being filled by someone else: serve this read from the SSD without caching it.
                var st = DirectRead(in hash, key, bucket, value, out valueLength);
                if (st == OpStatus.Timeout) continue;
                return st;
            }

            var result = MissFill(in hash, key, bucket, victim, _layout.HeaderAt(image, victim), value, out valueLength);
            if (result != FillResult.Retry) return (OpStatus)result;
            _counters.LockConflicts++;
            Backoff(attempt);
        }
        return OpStatus.Timeout;
    }

    /// <summary>What one read of a bucket says about a key: the slot that holds it, or where a miss may go.</summary>
    private struct BucketScan
    {
        /// <summary>Slot holding the key (VALID, verified), or -1.</summary>
        public int Hit;
        /// <summary>First FREE slot, the VALID slot with the oldest stamp, a slot filling this fingerprint, a slot whose
        /// lease expired, and a slot of this fingerprint whose image is torn (each -1 when none).</summary>
        public int Free, Oldest, Pending, Expired, TornSlot;
    }

    /// <summary>Steps 1-2 of a GET on a bucket image: find the key, else the candidates for the miss path.</summary>
    private BucketScan Scan(ReadOnlySpan<byte> image, ReadOnlySpan<byte> key, ushort fp)
    {
        var r = new BucketScan { Hit = -1, Free = -1, Oldest = -1, Pending = -1, Expired = -1, TornSlot = -1 };
        uint oldestStamp = uint.MaxValue;
        int slots = _layout.SlotsPerBucket;
        for (int i = 0; i < slots; i++)
        {
            ulong h = _layout.HeaderAt(image, i);
            switch (SlotHeader.State(h))
            {
                case SlotState.Valid:
                {
                    var slot = _layout.SlotAt(image, i);
                    if (SlotHeader.Fingerprint(h) == fp)
                    {
                        if (_layout.Matches(slot, key, h, out bool t))
                        {
                            r.Hit = i;
                            return r;
                        }
                        if (t) r.TornSlot = i;
                    }
                    uint stamp = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(slot[SlotLayout.StampOffset..]);
                    if (stamp < oldestStamp || r.Oldest < 0) { oldestStamp = stamp; r.Oldest = i; }
                    break;
                }
                case SlotState.Free:
                    if (r.Free < 0) r.Free = i;
                    break;
                case SlotState.Filling:
                    if (SlotHeader.Fingerprint(h) == fp && r.Pending < 0) r.Pending = i;
                    else if (r.Expired < 0 && LeaseExpired(h)) r.Expired = i;
                    break;
                case SlotState.Orphan:
                    if (r.Expired < 0 && LeaseExpired(h)) r.Expired = i;
                    break;
            }
        }
        return r;
    }

    /// <summary>Copies the value of the VALID slot <paramref name="slot"/> of a bucket image and counts the hit.</summary>
    private int TakeHit(ReadOnlySpan<byte> image, int slot, Span<byte> value)
    {
        var body = _layout.SlotAt(image, slot);
        int length = SlotLayout.ValueLength(body);
        body.Slice(_layout.ValueOffset, length).CopyTo(value);
        _counters.Hits++;
        return length;
    }

    /// <summary>The slot to evict for a miss, or -1 when the bucket has none (every slot is being filled).</summary>
    private int PickVictim(ReadOnlySpan<byte> image, in BucketScan scan)
        => scan.Free >= 0 ? scan.Free : _options.Eviction == EvictionPolicy.Sampled ? SampledVictim(image, scan.Oldest) : scan.Oldest;

    private void Backoff(int attempt)
    {
        if (attempt < 4) { Thread.SpinWait(16 + NextRandom(64)); return; }
        if (attempt < 64) { Thread.Yield(); return; }
        Thread.Sleep(0);
    }
}
