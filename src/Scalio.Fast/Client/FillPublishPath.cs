using Scalio.Verbs;

namespace Scalio.Fast.Client;

/// <summary>
/// Publishes a filled slot in place of the client's chained WRITE + CAS FILLING -> VALID: the seam through which the
/// checker harness injects a deliberately wrong publish (<c>scalio check --broken unguarded-fill</c>) to show the checker
/// catches it. Never set by the store.
/// </summary>
internal interface IFillPublishPath
{
    /// <summary>Writes the slot body staged in the client's buffer to (<paramref name="bucket"/>, <paramref name="slot"/>)
    /// and publishes it with header <paramref name="valid"/>; returns when done.</summary>
    void Publish(ScalioClient client, int bucket, int slot, ulong valid, int valueLength);
}

// What an IFillPublishPath may use of the client: its queue pair, buffer, chain and step context.
public sealed unsafe partial class ScalioClient
{
    internal QueuePair QueuePair => _qp;

    internal MemoryRegion Buffer => _mr;

    /// <summary>Offset in <see cref="Buffer"/> of 8 bytes a publish path may stage a header word in.</summary>
    internal int HeaderStagingOffset => _atomicOff + 8;

    internal WorkRequest* Chain => _chain;

    internal ref readonly StepContext Steps => ref _steps;

    internal ref ClientCounters MutableCounters => ref _counters;

    internal ulong ReserveIds(int count) => NextIds(count);

    internal long RemoteSlotOffset(int bucket, int slot) => SlotOffset(bucket, slot);

    internal uint CacheKey => _server.CacheKey;

    internal void AwaitCompletion(ulong id) => Await(id);
}
