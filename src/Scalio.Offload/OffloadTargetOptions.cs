namespace Scalio.Offload;

/// <summary>Options of the emulated offload target.</summary>
public sealed class OffloadTargetOptions
{
    /// <summary>Threads that execute commands (the "NIC engines"). They are never the server's worker threads. 0: no
    /// engine thread; each command executes on the thread whose SEND delivers its capsule, the way the loopback fabric
    /// executes RDMA READ, WRITE and atomics on the posting thread (see <see cref="OffloadTarget"/>).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Null (default): the engines are the NIC, never server CPU. Set: they are a software NVMe-oF target on
    /// the server's cores (no target offload; the paper's Figure 12 middle step): each busy pass's thread CPU, less the
    /// SSDs' and the fabric's own work, is charged here, and the engines wait while it is overdrawn. Needs
    /// <see cref="Threads"/> of at least 1.</summary>
    public IServerCpuAccount? ServerCpu { get; init; }

    /// <summary>Largest data transfer of one command, in bytes.</summary>
    public int MaxTransferSize { get; init; } = 128 * 1024;

    /// <summary>Command capsules a connection may have outstanding.</summary>
    public int QueueDepth { get; init; } = 8;

    /// <summary>Optional delay injection (tests and the checker harness only): slows chosen commands.</summary>
    public OffloadTargetFaults? Faults { get; init; }

    /// <summary>Reads of file namespaces go to the device through an io_uring per engine, many in flight at once
    /// (default). Off, or where io_uring is unavailable, or with the environment variable SCALIO_IO_URING=0, each read
    /// is one synchronous pread in the engine thread.</summary>
    public bool UseIoUring { get; init; } = true;

    /// <summary>Reads one engine keeps in flight on its io_uring at most. Default 256.</summary>
    public int IoUringEntries { get; init; } = 256;
}
