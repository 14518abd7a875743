using System.Diagnostics;
using Scalio.Fast.Cache;

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
        long start = Diagnostics.ClientInstruments.MaybeStart(ref _sampleTick);
        var status = GetCore(key, value, out valueLength);
        _counters.Complete(ClientOperation.Get, status);
        if (start != 0) Diagnostics.ClientInstruments.RecordDuration(start, ClientOperation.Get, status);
        return status;
    }

    /// <summary>
    /// A GET that only takes a hit: one bucket READ, and on a VALID slot of this key the value (counted as a GET). On
    /// anything else it returns false having changed nothing in the store (its READ counts as a round trip), for the
    /// caller to run the whole GET.
    /// </summary>
    internal bool TryGetHit(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength)
    {
        valueLength = 0;
        var hash = new KeyHash(key);
        int bucket = hash.CacheBucket(_server.CacheBuckets);
        ReadBucket(bucket);
        var image = BucketImage;
        int hit = ProbeHit(image, key, hash.Fingerprint);
        if (hit < 0) return false;
        _counters.Gets++;
        valueLength = TakeHitAndTouch(image, bucket, hit, value);
        _counters.Complete(ClientOperation.Get, OpStatus.Ok);
        return true;
    }

    /// <summary>The GET itself, uncounted in <see cref="ClientCounters.Completed"/> (a batch counts its keys once).</summary>
    private OpStatus GetCore(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength)
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
                valueLength = TakeHitAndTouch(image, bucket, scan.Hit, value);
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

    private void Backoff(int attempt)
    {
        if (attempt < 4) { Thread.SpinWait(16 + NextRandom(64)); return; }
        if (attempt < 64) { Thread.Yield(); return; }
        Thread.Sleep(0);
    }
}
