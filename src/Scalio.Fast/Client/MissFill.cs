using Scalio.Fast.Cache;

namespace Scalio.Fast.Client;

public sealed unsafe partial class ScalioClient
{
    private enum FillResult : byte
    {
        Ok = OpStatus.Ok,
        NotFound = OpStatus.NotFound,
        Corrupt = OpStatus.Corrupt,
        IoError = OpStatus.IoError,
        Timeout = OpStatus.Timeout,
        Retry = 255,
    }

    /// <summary>
    /// The miss path (DESIGN.md steps 4-6): CAS the victim to FILLING (chained with a re-read of the bucket), make
    /// sure no other slot of the bucket holds or fills this key, only then read the location index and the SSD,
    /// WRITE the slot body and CAS FILLING -> VALID; if a write orphaned the slot meanwhile, turn it FREE instead.
    /// </summary>
    private FillResult MissFill(in KeyHash hash, ReadOnlySpan<byte> key, int bucket, int victim, ulong victimHeader, Span<byte> value, out int valueLength)
    {
        valueLength = 0;
        ushort fp = hash.Fingerprint;
        ulong locked = SlotHeader.Next(victimHeader, SlotState.Filling, fp, ClockMs16);
        if (LockAndReread(bucket, victim, victimHeader, locked) != victimHeader) return FillResult.Retry;

        if (AnotherSlotHasKey(BucketImage, victim, fp, key))
        {
            Release(bucket, victim, locked);
            return FillResult.Retry;
        }

        var status = ReadFromSsd(in hash, key, value, out valueLength);
        if (status != OpStatus.Ok)
        {
            Release(bucket, victim, locked);
            return (FillResult)status;
        }

        FillAndPublish(bucket, victim, locked, key, value[..valueLength]);
        _counters.Fills++;
        return FillResult.Ok;
    }
}
