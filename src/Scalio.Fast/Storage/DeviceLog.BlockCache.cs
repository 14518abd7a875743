using Scalio.Nvme;

namespace Scalio.Fast.Storage;

// The cache of recently written bucket blocks, which spares a batch its read-modify-write read.
internal sealed unsafe partial class DeviceLog
{
    private int CacheSlot(int bucket) => (bucket / _deviceCount) % CachedBlocks;

    /// <summary>True when the block cache holds the block <paramref name="location"/> names for <paramref name="bucket"/>.</summary>
    private bool CacheHolds(int bucket, in Location location)
    {
        int slot = CacheSlot(bucket);
        return _cacheBucket[slot] == bucket && _cacheSequence[slot] == location.Sequence;
    }

    /// <summary>Reads the current block of <paramref name="bucket"/> (named by <paramref name="location"/>): from the
    /// cache of recently written blocks when it holds exactly that block (same sequence), else from the SSD.</summary>
    private NvmeStatus ReadBlock(int bucket, in Location location, Span<byte> destination)
    {
        int slot = CacheSlot(bucket);
        if (CacheHolds(bucket, in location))
        {
            new ReadOnlySpan<byte>(_cache + (long)slot * _pageSize, _pageSize).CopyTo(destination);
            Interlocked.Increment(ref _cacheHits);
            return NvmeStatus.Success;
        }
        return ReadPages(location.Page, 1, destination);
    }
}
