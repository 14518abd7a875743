namespace Scalio.Cli;

/// <summary>
/// Deliberately wrong write paths, of the checker harness (<c>scalio check --broken</c>), injected through internal seams of the server and client
/// to show that the linearizability checker catches the bugs the real protocol avoids. Never used by the store.
/// </summary>
internal enum BrokenWriteMode
{
    /// <summary>The correct protocol: durable SSD write, publish location, then invalidate the cache slot.</summary>
    None = 0,

    /// <summary>
    /// DESIGN.md counterexample 1: the server publishes the new value VALID in the cache before the SSD write and the
    /// location update, and does not invalidate afterwards. A reader hits the new value; after an eviction a reader
    /// misses, reads the old location and sees (and fills) the old value.
    /// </summary>
    WriteCacheFirst = 1,

    /// <summary>
    /// SSD first, but fills publish with an unconditional WRITE of the VALID header instead of a CAS from the
    /// filler's FILLING header: a fill that an invalidation orphaned still becomes VALID with the old value.
    /// </summary>
    UnguardedFill = 2,

    /// <summary>SSD first and the location published, but no invalidation: a cached copy of the old value stays VALID
    /// and serves reads after the PUT returned.</summary>
    WriteSsdFirstNoInvalidate = 3,
}
