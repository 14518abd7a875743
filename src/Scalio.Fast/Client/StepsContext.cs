using Scalio.Fast.Cache;
using Scalio.Fast.Server;
using Scalio.Fast.Storage;
using Scalio.Verbs;

namespace Scalio.Fast.Client;

/// <summary>
/// Everything the generated work-request builders (<see cref="ProtocolSteps"/>) need besides per-call operands: where
/// the client's buffers are in its registered region and how the server's cache and location index are laid out.
/// Built once per client session.
/// </summary>
internal readonly struct StepContext
{
    /// <summary>Absolute address of the client's registered region.</summary>
    public readonly ulong LocalBase;
    /// <summary>Local key of that region.</summary>
    public readonly uint LocalKey;
    /// <summary>Offset of the bucket image buffer.</summary>
    public readonly int BucketBuffer;
    /// <summary>Offset of the 8-byte atomic result buffer.</summary>
    public readonly int AtomicBuffer;
    /// <summary>Offset of the location-entry buffer.</summary>
    public readonly int LocationBuffer;
    /// <summary>Offset of the slot image buffer.</summary>
    public readonly int SlotBuffer;
    /// <summary>Remote key of the cache region.</summary>
    public readonly uint CacheKey;
    /// <summary>Remote key of the location index.</summary>
    public readonly uint IndexKey;
    /// <summary>Offset of bucket 0 in the cache region.</summary>
    public readonly ulong BucketsOffset;
    /// <summary>Bucket size in bytes.</summary>
    public readonly int BucketSize;
    /// <summary>Slot size in bytes.</summary>
    public readonly int SlotSize;
    /// <summary>Offset of the value in a slot.</summary>
    public readonly int ValueOffset;
    /// <summary>Size of a location index entry.</summary>
    public readonly int LocationEntrySize;

    /// <summary>Creates a context.</summary>
    /// <param name="local">The client's registered region holding the buffers.</param>
    /// <param name="bucketBuffer">Offset of the bucket image buffer (at least <see cref="SlotLayout.BucketSize"/> bytes).</param>
    /// <param name="atomicBuffer">Offset of the 8-byte atomic result buffer (8-aligned).</param>
    /// <param name="locationBuffer">Offset of the location-entry buffer.</param>
    /// <param name="slotBuffer">Offset of the slot image buffer (at least <see cref="SlotLayout.SlotSize"/> bytes).</param>
    /// <param name="server">The server's description.</param>
    public StepContext(MemoryRegion local, int bucketBuffer, int atomicBuffer, int locationBuffer, int slotBuffer, ServerDescriptor server)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(server);
        SlotLayout layout = server.Layout;
        Check(local, bucketBuffer, layout.BucketSize, nameof(bucketBuffer));
        Check(local, atomicBuffer, 8, nameof(atomicBuffer));
        Check(local, locationBuffer, Location.EntrySize, nameof(locationBuffer));
        Check(local, slotBuffer, layout.SlotSize, nameof(slotBuffer));
        if ((atomicBuffer & 7) != 0) throw new ArgumentException("the atomic buffer must be 8-byte aligned", nameof(atomicBuffer));
        LocalBase = local.BaseAddress;
        LocalKey = local.LocalKey;
        BucketBuffer = bucketBuffer;
        AtomicBuffer = atomicBuffer;
        LocationBuffer = locationBuffer;
        SlotBuffer = slotBuffer;
        CacheKey = server.CacheKey;
        IndexKey = server.IndexKey;
        BucketsOffset = (ulong)server.BucketsOffset;
        BucketSize = layout.BucketSize;
        SlotSize = layout.SlotSize;
        ValueOffset = layout.ValueOffset;
        LocationEntrySize = Location.EntrySize;
    }

    private static void Check(MemoryRegion local, int offset, int length, string name)
    {
        if (offset < 0 || (ulong)offset + (ulong)length > (ulong)local.Length)
            throw new ArgumentOutOfRangeException(name, $"a {length}-byte buffer at {offset} does not fit the {local.Length}-byte region");
    }
}
