namespace Scalio.Nvme;

/// <summary>
/// Opcodes of the NVM Command Set I/O commands (NVM Command Set Specification, "Opcodes for NVM Commands").
/// </summary>
public static class NvmOpcode
{
    /// <summary>Flush (00h): commit volatile data of the namespace to non-volatile media.</summary>
    public const byte Flush = 0x00;

    /// <summary>Write (01h).</summary>
    public const byte Write = 0x01;

    /// <summary>Read (02h).</summary>
    public const byte Read = 0x02;
}

/// <summary>
/// Admin command opcodes used by Scalio (NVM Express Base Specification 2.0, "Opcodes for Admin Commands").
/// </summary>
public static class AdminOpcode
{
    /// <summary>Get Log Page (02h); CDW10 bits 7:0 carry the Log Page Identifier.</summary>
    public const byte GetLogPage = 0x02;

    /// <summary>Abort (08h); CDW10 carries the SQID (bits 15:0) and CID (bits 31:16) of the command to abort.</summary>
    public const byte Abort = 0x08;

    /// <summary>Set Features (09h); CDW10 bits 7:0 carry the Feature Identifier, bit 31 Save.</summary>
    public const byte SetFeatures = 0x09;

    /// <summary>Get Features (0Ah); CDW10 bits 7:0 carry the Feature Identifier, bits 10:8 Select.</summary>
    public const byte GetFeatures = 0x0A;

    /// <summary>Asynchronous Event Request (0Ch): completes only when the controller has an event to report.</summary>
    public const byte AsyncEventRequest = 0x0C;

    /// <summary>Identify (06h); CDW10 bits 7:0 carry the CNS value.</summary>
    public const byte Identify = 0x06;

    /// <summary>Keep Alive (18h).</summary>
    public const byte KeepAlive = 0x18;

    /// <summary>Fabrics command (7Fh); the command type is in byte 4 (FCTYPE).</summary>
    public const byte Fabrics = 0x7F;
}

/// <summary>
/// Fabrics command types, carried in byte 4 (FCTYPE) of a Fabrics command (opcode 7Fh)
/// (NVM Express Base Specification 2.0, "Fabrics Command Types").
/// </summary>
public static class FabricsCommandType
{
    /// <summary>Property Set (00h).</summary>
    public const byte PropertySet = 0x00;

    /// <summary>Connect (01h).</summary>
    public const byte Connect = 0x01;

    /// <summary>Property Get (04h).</summary>
    public const byte PropertyGet = 0x04;

    /// <summary>Disconnect (08h): deletes the I/O queue it is sent on.</summary>
    public const byte Disconnect = 0x08;
}

/// <summary>Controller or Namespace Structure (CNS) values of the Identify command (CDW10 bits 7:0).</summary>
public static class IdentifyCns
{
    /// <summary>Identify Namespace data structure for the NSID (00h).</summary>
    public const byte Namespace = 0x00;

    /// <summary>Identify Controller data structure (01h).</summary>
    public const byte Controller = 0x01;

    /// <summary>Active Namespace ID list (02h): NSIDs greater than CDW1.NSID, ascending, up to 1024.</summary>
    public const byte ActiveNamespaceList = 0x02;

    /// <summary>Namespace Identification Descriptor list (03h) for CDW1.NSID (EUI-64, NGUID, UUID, CSI).</summary>
    public const byte NamespaceDescriptors = 0x03;

    /// <summary>I/O Command Set specific Identify Namespace (05h), command set in CDW11 bits 31:24 (CSI).</summary>
    public const byte CommandSetNamespace = 0x05;

    /// <summary>I/O Command Set specific Identify Controller (06h), command set in CDW11 bits 31:24 (CSI).</summary>
    public const byte CommandSetController = 0x06;
}

/// <summary>Log Page Identifiers (Get Log Page CDW10 bits 7:0; NVM Express Base Specification 2.0, "Log Page Identifiers").</summary>
public static class LogPageId
{
    /// <summary>Error Information (01h): 64-byte entries, (ELPE + 1) of them.</summary>
    public const byte ErrorInformation = 0x01;

    /// <summary>SMART / Health Information (02h): 512 bytes.</summary>
    public const byte SmartHealth = 0x02;

    /// <summary>Firmware Slot Information (03h): 512 bytes.</summary>
    public const byte FirmwareSlot = 0x03;

    /// <summary>Changed Namespace List (04h): 1024 NSIDs, 4096 bytes.</summary>
    public const byte ChangedNamespaceList = 0x04;
}

/// <summary>Feature Identifiers (Set/Get Features CDW10 bits 7:0; NVM Express Base Specification 2.0, "Feature Identifiers").</summary>
public static class FeatureId
{
    /// <summary>Arbitration (01h).</summary>
    public const byte Arbitration = 0x01;

    /// <summary>Power Management (02h).</summary>
    public const byte PowerManagement = 0x02;

    /// <summary>Temperature Threshold (04h).</summary>
    public const byte TemperatureThreshold = 0x04;

    /// <summary>Error Recovery (05h).</summary>
    public const byte ErrorRecovery = 0x05;

    /// <summary>Volatile Write Cache (06h).</summary>
    public const byte VolatileWriteCache = 0x06;

    /// <summary>Number of Queues (07h): NSQR/NCQR in, NSQA/NCQA out (zero-based).</summary>
    public const byte NumberOfQueues = 0x07;

    /// <summary>Interrupt Coalescing (08h).</summary>
    public const byte InterruptCoalescing = 0x08;

    /// <summary>Interrupt Vector Configuration (09h).</summary>
    public const byte InterruptVectorConfiguration = 0x09;

    /// <summary>Write Atomicity Normal (0Ah).</summary>
    public const byte WriteAtomicity = 0x0A;

    /// <summary>Asynchronous Event Configuration (0Bh).</summary>
    public const byte AsyncEventConfiguration = 0x0B;

    /// <summary>Keep Alive Timer (0Fh): KATO in milliseconds.</summary>
    public const byte KeepAliveTimer = 0x0F;
}
