using Scalio.Fast.Cache;

namespace Scalio.Fast.Server;

/// <summary>
/// What a client learns from the server when it connects: where the cache and the location index are and how they
/// are laid out. On one machine the server clock is the shared monotonic clock, counted from <see cref="ClockBase"/>.
/// </summary>
/// <param name="Layout">Slot and bucket layout.</param>
/// <param name="CacheKey">Remote key of the cache region.</param>
/// <param name="BucketsOffset">Offset of bucket 0 in the cache region.</param>
/// <param name="CacheBuckets">Number of cache buckets.</param>
/// <param name="IndexKey">Remote key of the location index region.</param>
/// <param name="SsdBuckets">Number of SSD buckets.</param>
/// <param name="PageSize">Bytes per SSD page (one bucket block).</param>
/// <param name="DeviceLbaSizes">LBA size of each device (NSID = index + 1 at the offload target).</param>
/// <param name="ClockBase">Stopwatch timestamp at which the server clock reads 0.</param>
/// <param name="LeaseMilliseconds">Age after which a FILLING or ORPHAN slot may be reclaimed.</param>
public sealed record ServerDescriptor(
    SlotLayout Layout,
    uint CacheKey,
    int BucketsOffset,
    int CacheBuckets,
    uint IndexKey,
    int SsdBuckets,
    int PageSize,
    int[] DeviceLbaSizes,
    long ClockBase,
    int LeaseMilliseconds);
