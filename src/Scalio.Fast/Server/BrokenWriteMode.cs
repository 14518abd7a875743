namespace Scalio.Fast.Server;

/// <summary>
/// Deliberately wrong write paths, reachable only from the checker harness (internal; <c>scalio check --broken</c>)
/// to show that the linearizability checker catches the bugs the real protocol avoids. Never used by the store.
/// </summary>
internal enum BrokenWriteMode
{
    /// <summary>The correct protocol: durable SSD write, publish location, then invalidate the cache slot.</summary>
    None = 0,

    /// <summary>
    /// Invalidate the cache before the SSD write is durable: a reader that misses in between fills the cache
    /// from the old SSD value, and that stale slot stays VALID after the write returns.
    /// </summary>
    WriteCacheFirst = 1,

    /// <summary>
    /// SSD first, but fills publish with an unconditional WRITE of the VALID header instead of a CAS from the
    /// filler's FILLING header: a fill that an invalidation orphaned still becomes VALID with the old value.
    /// </summary>
    UnguardedFill = 2,
}
