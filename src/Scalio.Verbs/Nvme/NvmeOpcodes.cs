namespace Scalio.Verbs.Nvme;

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
}

/// <summary>Controller or Namespace Structure (CNS) values of the Identify command (CDW10 bits 7:0).</summary>
public static class IdentifyCns
{
    /// <summary>Identify Namespace data structure for the NSID (00h).</summary>
    public const byte Namespace = 0x00;

    /// <summary>Identify Controller data structure (01h).</summary>
    public const byte Controller = 0x01;
}
