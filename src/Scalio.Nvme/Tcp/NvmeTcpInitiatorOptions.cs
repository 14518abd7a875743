namespace Scalio.Nvme.Tcp;

/// <summary>Options of <see cref="NvmeTcpInitiator"/>.</summary>
public sealed class NvmeTcpInitiatorOptions
{
    /// <summary>Host NQN; null gives <c>nqn.2014-08.org.nvmexpress:uuid:&lt;HostId&gt;</c>.</summary>
    public string? HostNqn { get; init; }

    /// <summary>Host identifier sent in the Connect data; default a random UUID.</summary>
    public Guid HostId { get; init; } = Guid.NewGuid();

    /// <summary>Ask for header digests (CRC32C).</summary>
    public bool HeaderDigest { get; init; }

    /// <summary>Ask for data digests (CRC32C).</summary>
    public bool DataDigest { get; init; }

    /// <summary>Keep Alive Timeout sent in the admin Connect (KATO); Keep Alive is sent every half of it. Zero disables.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A command without a response for this long fails and closes its connection.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Time allowed for TCP connect and ICReq/ICResp of each connection.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time allowed for CSTS.RDY after enabling the controller (capped by CAP.TO).</summary>
    public TimeSpan EnableTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Commands outstanding at once on the I/O queue (1..1024; limited by CAP.MQES).</summary>
    public int QueueDepth { get; init; } = 32;

    /// <summary>Ask the controller to disable SQ flow control (Connect CATTR bit 2), which lets it complete reads with the C2HData SUCCESS flag.</summary>
    public bool DisableSqFlowControl { get; init; }
}

/// <summary>What <see cref="NvmeTcpInitiator.IdentifyControllerAsync"/> reports (Identify Controller, NVMe Base 2.0 §5.17.2.1).</summary>
public sealed class NvmeTcpControllerInfo
{
    /// <summary>PCI Vendor ID (VID).</summary>
    public ushort VendorId { get; init; }

    /// <summary>Serial Number (SN).</summary>
    public string SerialNumber { get; init; } = "";

    /// <summary>Model Number (MN).</summary>
    public string ModelNumber { get; init; } = "";

    /// <summary>Firmware Revision (FR).</summary>
    public string FirmwareRevision { get; init; } = "";

    /// <summary>Maximum Data Transfer Size (MDTS) as reported, 0 = no limit.</summary>
    public byte Mdts { get; init; }

    /// <summary>Controller ID (CNTLID).</summary>
    public ushort ControllerId { get; init; }

    /// <summary>Version (VER).</summary>
    public uint Version { get; init; }

    /// <summary>Number of Namespaces (NN).</summary>
    public uint NamespaceCount { get; init; }

    /// <summary>Subsystem NQN (SUBNQN).</summary>
    public string SubsystemNqn { get; init; } = "";

    /// <summary>I/O Queue Command Capsule Supported Size (IOCCSZ) in 16-byte units.</summary>
    public uint Ioccsz { get; init; }

    /// <summary>In-capsule data an I/O command may carry: IOCCSZ * 16 - 64.</summary>
    public int InCapsuleDataSize => (int)Math.Max(0, ((long)Ioccsz * 16) - 64);

    /// <summary>The raw 4096-byte Identify Controller data.</summary>
    public ReadOnlyMemory<byte> Raw { get; init; }
}
