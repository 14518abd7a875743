using Scalio.Fast.Cache;

namespace Scalio.Fast.Client;

// Bypass (rare path): a GET answered from the SSD without the cache when no slot can be filled.
public sealed unsafe partial class ScalioClient
{
    /// <summary>
    /// A GET that reads the SSD without holding a slot. Afterwards it orphans any slot of the bucket still filling
    /// this fingerprint and frees any VALID copy of the key with a different value: such a filler may have read an
    /// older location than we did, and must not publish it after this GET returned the newer value.
    /// </summary>
    private OpStatus DirectRead(in KeyHash hash, ReadOnlySpan<byte> key, int bucket, Span<byte> value, out int valueLength)
    {
        var status = ReadFromSsd(in hash, key, value, out valueLength);
        if (status is not (OpStatus.Ok or OpStatus.NotFound)) return status;
        _counters.DirectReads++;
        ushort fp = hash.Fingerprint;
        for (int pass = 0; pass < 64; pass++)
        {
            ReadBucket(bucket);
            var image = BucketImage;
            bool clean = true;
            for (int j = 0; j < _layout.SlotsPerBucket; j++)
            {
                ulong h = _layout.HeaderAt(image, j);
                if (SlotHeader.Fingerprint(h) != fp) continue;
                var st = SlotHeader.State(h);
                if (st == SlotState.Filling)
                {
                    if (!TryOrphan(bucket, j, h)) clean = false;
                }
                else if (st == SlotState.Valid)
                {
                    var slot = _layout.SlotAt(image, j);
                    if (!_layout.Matches(slot, key, h, out bool torn))
                    {
                        if (torn) clean = false;
                        continue;
                    }
                    bool same = status == OpStatus.Ok && SlotLayout.ValueLength(slot) == valueLength
                        && slot.Slice(_layout.ValueOffset, valueLength).SequenceEqual(value[..valueLength]);
                    if (!same && !TryFree(bucket, j, h)) clean = false;
                }
            }
            if (clean) return status;
        }
        return OpStatus.Timeout;
    }
}
