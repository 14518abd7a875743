using Scalio.Nvme;
using Scalio.Verbs;

namespace Scalio.Offload;

/// <summary>
/// A client's path to the SSDs for the miss path: NVMe reads served without the server CPU. Implemented by
/// <see cref="OffloadInitiator"/> (NVMe over the Verbs fabric to the in-process, emulated offload target) and by the
/// NVMe/TCP path to an offload target in its own process. One per client thread; not thread-safe; a read allocates nothing.
/// </summary>
public interface IOffloadReadPath : IDisposable
{
    /// <summary>Reads <paramref name="blocks"/> LBAs of <paramref name="lbaSize"/> bytes starting at
    /// <paramref name="slba"/> of namespace <paramref name="nsid"/> into <paramref name="region"/> at <paramref name="offset"/>.</summary>
    /// <returns>The NVMe status of the command (success, an NVMe error, or a transport failure mapped to a status).</returns>
    NvmeStatus Read(uint nsid, ulong slba, int blocks, int lbaSize, MemoryRegion region, int offset);

    /// <summary>Commands sent so far.</summary>
    long Commands { get; }
}
