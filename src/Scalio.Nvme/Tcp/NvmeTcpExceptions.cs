
namespace Scalio.Nvme.Tcp;

/// <summary>An NVMe command completed with an error status.</summary>
public sealed class NvmeCommandException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="command">What was attempted, e.g. "Read nsid 1 slba 0".</param>
    /// <param name="status">The completion status.</param>
    /// <param name="dw0">Completion Dword 0 (command specific).</param>
    public NvmeCommandException(string command, NvmeStatus status, uint dw0)
        : base($"{command} failed: {status} (DW0 0x{dw0:X8})")
    {
        Status = status;
        Dw0 = dw0;
    }

    /// <summary>The completion status.</summary>
    public NvmeStatus Status { get; }

    /// <summary>Completion Dword 0.</summary>
    public uint Dw0 { get; }
}

/// <summary>An NVMe/TCP transport failure: malformed or unexpected PDU, digest error, termination request, closed connection or timeout. The connection is unusable afterwards.</summary>
public sealed class NvmeTcpException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    public NvmeTcpException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="inner">The cause.</param>
    public NvmeTcpException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
