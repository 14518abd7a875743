using Scalio.Nvme;
using Scalio.Verbs;

namespace Scalio.Offload;

/// <summary>
/// An offload read path that keeps up to <see cref="Depth"/> reads in flight from one thread, as an NVMe queue pair
/// does: post reads, then take their completions in the order the device finishes them. A batch of misses reaches the
/// SSDs at once instead of one read per round trip. Not thread-safe; posting and completing allocate nothing.
/// </summary>
public interface IOffloadReadQueue : IOffloadReadPath
{
    /// <summary>Reads that may be outstanding at once (the target's queue depth for this connection).</summary>
    int Depth { get; }

    /// <summary>Reads posted and not yet completed.</summary>
    int Outstanding { get; }

    /// <summary>Posts a read like <see cref="IOffloadReadPath.Read"/>; <paramref name="tag"/> comes back with its completion.</summary>
    /// <returns>Success when posted; a transport status when the capsule could not be sent (nothing is outstanding then).</returns>
    /// <exception cref="InvalidOperationException"><see cref="Depth"/> reads are outstanding already.</exception>
    NvmeStatus PostRead(uint nsid, ulong slba, int blocks, int lbaSize, MemoryRegion region, int offset, int tag);

    /// <summary>Waits for one posted read to complete and returns its status and tag. When none completes in time, every
    /// outstanding read is abandoned: the result is a failure status with <paramref name="tag"/> = -1.</summary>
    NvmeStatus WaitCompletion(out int tag);
}
