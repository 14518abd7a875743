using System.Runtime.CompilerServices;
using Scalio.Nvme.Generation;

namespace Scalio.Nvme;

// Declarative descriptions of the NVMe commands and completions Scalio speaks. Scalio.Generators (NvmeGenerator)
// emits each struct's properties, WriteTo (64-byte SQE / 16-byte CQE, little-endian) and TryRead/Read.
// Offsets: NVM Express Base Specification 2.0 (Figure "Common Command Format" for bytes 0-39, the per-command
// figures for CDW10-15), NVM Command Set Specification 1.0 (Read/Write), cross-checked with Linux
// include/linux/nvme.h (struct nvme_rw_command, nvme_identify, nvmf_connect_command, nvmf_property_*).
// The data pointer is described as SGL Entry 1 (bytes 39:24), as NVMe over Fabrics requires
// (Address 31:24, Length 35:32, SGL Identifier byte 39).

/// <summary>
/// A submission queue entry of any opcode, in the Common Command Format (NVM Express Base Specification 2.0, Figure
/// "Common Command Format"; Linux <c>struct nvme_common_command</c>), with the Read/Write dwords of the NVM Command
/// Set 1.0 (Figures "Read – Command Dword 10/11/12"). The entry the executor, the offload engine and the NVMe/TCP
/// target dispatch on; the data pointer is SGL Entry 1 (NVMe over Fabrics).
/// </summary>
[NvmeCommand]
[NvmeField("Nsid", 4, 4, Description = "Namespace Identifier (NSID)")]
[NvmeField("Cdw2", 8, 4, Description = "Command Dword 2")]
[NvmeField("Cdw3", 12, 4, Description = "Command Dword 3")]
[NvmeField("MetadataPointer", 16, 8, Description = "Metadata Pointer (MPTR)")]
[NvmeField("Sgl", 24, SglDescriptor.Size, Type = typeof(SglDescriptor), Description = "Data Pointer (DPTR) as SGL Entry 1, used when PSDT is not PRP")]
[NvmeField("StartingLba", 40, 8, Description = "Starting LBA (SLBA) of a Read/Write, CDW10-11")]
[NvmeField("NumberOfBlocksZeroBased", 48, 4, Bit = 0, Bits = 16, Description = "Number of Logical Blocks (NLB) of a Read/Write, zero-based, CDW12")]
[NvmeField("ForceUnitAccess", 48, 4, Bit = 30, Bits = 1, Description = "Force Unit Access (FUA) of a Read/Write, CDW12")]
[NvmeField("LimitedRetry", 48, 4, Bit = 31, Bits = 1, Description = "Limited Retry (LR) of a Read/Write, CDW12")]
[NvmeField("Cdw13", 52, 4, Description = "Command Dword 13")]
[NvmeField("Cdw14", 56, 4, Description = "Command Dword 14")]
[NvmeField("Cdw15", 60, 4, Description = "Command Dword 15")]
public partial struct SubmissionQueueEntry
{
    /// <summary>Blocks transferred by a Read/Write: NLB + 1 (1..65536).</summary>
    public readonly int BlockCount
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => NumberOfBlocksZeroBased + 1;
    }

    /// <summary>Builds a Read command.</summary>
    /// <param name="commandId">CID.</param>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="startingLba">First LBA.</param>
    /// <param name="blocks">Number of blocks, 1..65536.</param>
    public static SubmissionQueueEntry CreateRead(ushort commandId, uint nsid, ulong startingLba, int blocks) =>
        CreateReadWrite(NvmOpcode.Read, commandId, nsid, startingLba, blocks, false);

    /// <summary>Builds a Write command.</summary>
    /// <param name="commandId">CID.</param>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="startingLba">First LBA.</param>
    /// <param name="blocks">Number of blocks, 1..65536.</param>
    /// <param name="forceUnitAccess">Set FUA: the write is durable when it completes.</param>
    public static SubmissionQueueEntry CreateWrite(ushort commandId, uint nsid, ulong startingLba, int blocks, bool forceUnitAccess = false) =>
        CreateReadWrite(NvmOpcode.Write, commandId, nsid, startingLba, blocks, forceUnitAccess);

    /// <summary>Builds a Flush command.</summary>
    /// <param name="commandId">CID.</param>
    /// <param name="nsid">Namespace identifier, or FFFFFFFFh for all namespaces.</param>
    public static SubmissionQueueEntry CreateFlush(ushort commandId, uint nsid) =>
        new() { Opcode = NvmOpcode.Flush, CommandId = commandId, Nsid = nsid };

    private static SubmissionQueueEntry CreateReadWrite(byte opcode, ushort commandId, uint nsid, ulong startingLba, int blocks, bool fua)
    {
        if (blocks is < 1 or > 65536)
        {
            NvmeThrow.ArgumentOutOfRange(nameof(blocks), "An NVMe Read/Write moves 1..65536 blocks (NLB is a zero-based 16-bit field).");
        }

        return new SubmissionQueueEntry
        {
            Opcode = opcode,
            CommandId = commandId,
            Nsid = nsid,
            StartingLba = startingLba,
            NumberOfBlocksZeroBased = (ushort)(blocks - 1),
            ForceUnitAccess = fua,
        };
    }
}

/// <summary>Read (NVM opcode 02h): NVM Command Set 1.0 §3.2.4; SLBA in CDW10-11, NLB (zero-based) in CDW12 bits 15:0.</summary>
[NvmeCommand(NvmOpcode.Read)]
[NvmeField("Nsid", 4, 4, Description = "Namespace Identifier (NSID)")]
[NvmeField("MetadataPointer", 16, 8, Description = "Metadata Pointer (MPTR)")]
[NvmeField("SglAddress", 24, 8, Description = "SGL Entry 1 Address (or PRP Entry 1)")]
[NvmeField("SglLength", 32, 4, Description = "SGL Entry 1 Length")]
[NvmeField("SglIdentifier", 39, 1, Description = "SGL Entry 1 Identifier: type in bits 7:4, subtype in bits 3:0")]
[NvmeField("StartingLba", 40, 8, Description = "Starting LBA (SLBA), CDW10-11")]
[NvmeField("BlockCountZeroBased", 48, 4, Bit = 0, Bits = 16, Description = "Number of Logical Blocks (NLB), zero-based, CDW12")]
[NvmeField("ProtectionInformation", 48, 4, Bit = 26, Bits = 4, Description = "Protection Information field (PRINFO), CDW12")]
[NvmeField("ForceUnitAccess", 48, 4, Bit = 30, Bits = 1, Description = "Force Unit Access (FUA), CDW12")]
[NvmeField("LimitedRetry", 48, 4, Bit = 31, Bits = 1, Description = "Limited Retry (LR), CDW12")]
[NvmeField("DatasetManagement", 52, 4, Bit = 0, Bits = 8, Description = "Dataset Management (DSM), CDW13")]
public partial struct NvmeReadCommand
{
}

/// <summary>Write (NVM opcode 01h): NVM Command Set 1.0 §3.2.6; same SLBA/NLB layout as Read.</summary>
[NvmeCommand(NvmOpcode.Write)]
[NvmeField("Nsid", 4, 4, Description = "Namespace Identifier (NSID)")]
[NvmeField("MetadataPointer", 16, 8, Description = "Metadata Pointer (MPTR)")]
[NvmeField("SglAddress", 24, 8, Description = "SGL Entry 1 Address (or PRP Entry 1)")]
[NvmeField("SglLength", 32, 4, Description = "SGL Entry 1 Length")]
[NvmeField("SglIdentifier", 39, 1, Description = "SGL Entry 1 Identifier: type in bits 7:4, subtype in bits 3:0")]
[NvmeField("StartingLba", 40, 8, Description = "Starting LBA (SLBA), CDW10-11")]
[NvmeField("BlockCountZeroBased", 48, 4, Bit = 0, Bits = 16, Description = "Number of Logical Blocks (NLB), zero-based, CDW12")]
[NvmeField("DirectiveType", 48, 4, Bit = 20, Bits = 4, Description = "Directive Type (DTYPE), CDW12")]
[NvmeField("ProtectionInformation", 48, 4, Bit = 26, Bits = 4, Description = "Protection Information field (PRINFO), CDW12")]
[NvmeField("ForceUnitAccess", 48, 4, Bit = 30, Bits = 1, Description = "Force Unit Access (FUA), CDW12")]
[NvmeField("LimitedRetry", 48, 4, Bit = 31, Bits = 1, Description = "Limited Retry (LR), CDW12")]
[NvmeField("DatasetManagement", 52, 4, Bit = 0, Bits = 8, Description = "Dataset Management (DSM), CDW13")]
[NvmeField("DirectiveSpecific", 52, 4, Bit = 16, Bits = 16, Description = "Directive Specific (DSPEC), CDW13")]
public partial struct NvmeWriteCommand
{
}

/// <summary>Flush (NVM opcode 00h): NVM Express Base 2.0 §7.1; only the NSID (FFFFFFFFh = all namespaces).</summary>
[NvmeCommand(NvmOpcode.Flush)]
[NvmeField("Nsid", 4, 4, Description = "Namespace Identifier (NSID)")]
public partial struct NvmeFlushCommand
{
}

/// <summary>Identify (admin opcode 06h): NVM Express Base 2.0 §5.17; CNS in CDW10 bits 7:0, CNTID in bits 31:16.</summary>
[NvmeCommand(AdminOpcode.Identify, Admin = true)]
[NvmeField("Nsid", 4, 4, Description = "Namespace Identifier (NSID)")]
[NvmeField("SglAddress", 24, 8, Description = "SGL Entry 1 Address (or PRP Entry 1)")]
[NvmeField("SglLength", 32, 4, Description = "SGL Entry 1 Length")]
[NvmeField("SglIdentifier", 39, 1, Description = "SGL Entry 1 Identifier: type in bits 7:4, subtype in bits 3:0")]
[NvmeField("Cns", 40, 4, Bit = 0, Bits = 8, Description = "Controller or Namespace Structure (CNS), CDW10")]
[NvmeField("ControllerIdentifier", 40, 4, Bit = 16, Bits = 16, Description = "Controller Identifier (CNTID), CDW10")]
[NvmeField("CnsSpecificIdentifier", 44, 4, Bit = 0, Bits = 16, Description = "CNS Specific Identifier, CDW11")]
[NvmeField("CommandSetIdentifier", 44, 4, Bit = 24, Bits = 8, Description = "Command Set Identifier (CSI), CDW11")]
[NvmeField("UuidIndex", 56, 4, Bit = 0, Bits = 7, Description = "UUID Index, CDW14")]
public partial struct NvmeIdentifyCommand
{
}

/// <summary>Get Log Page (admin opcode 02h): NVM Express Base 2.0 §5.16; LID and NUMDL in CDW10, NUMDU in CDW11, the log page offset in CDW12-13.</summary>
[NvmeCommand(AdminOpcode.GetLogPage, Admin = true)]
[NvmeField("Nsid", 4, 4, Description = "Namespace Identifier (NSID)")]
[NvmeField("SglAddress", 24, 8, Description = "SGL Entry 1 Address (or PRP Entry 1)")]
[NvmeField("SglLength", 32, 4, Description = "SGL Entry 1 Length")]
[NvmeField("SglIdentifier", 39, 1, Description = "SGL Entry 1 Identifier: type in bits 7:4, subtype in bits 3:0")]
[NvmeField("LogPageId", 40, 4, Bit = 0, Bits = 8, Description = "Log Page Identifier (LID), CDW10")]
[NvmeField("DwordCountLower", 40, 4, Bit = 16, Bits = 16, Description = "Number of Dwords Lower (NUMDL), zero-based with NUMDU, CDW10")]
[NvmeField("DwordCountUpper", 44, 4, Bit = 0, Bits = 16, Description = "Number of Dwords Upper (NUMDU), CDW11")]
[NvmeField("LogPageOffset", 48, 8, Description = "Log Page Offset (LPOL, LPOU) in bytes, CDW12-13")]
public partial struct NvmeGetLogPageCommand
{
}

/// <summary>Abort (admin opcode 08h): NVM Express Base 2.0 §5.1; SQID in CDW10 bits 15:0, the CID to abort in bits 31:16.</summary>
[NvmeCommand(AdminOpcode.Abort, Admin = true)]
[NvmeField("SubmissionQueueId", 40, 2, Description = "Submission Queue Identifier (SQID) of the command to abort")]
[NvmeField("AbortedCommandId", 42, 2, Description = "Command Identifier (CID) of the command to abort")]
public partial struct NvmeAbortCommand
{
}

/// <summary>Set Features (admin opcode 09h): NVM Express Base 2.0 §5.27; FID in CDW10 bits 7:0, SV in bit 31, the value in CDW11.</summary>
[NvmeCommand(AdminOpcode.SetFeatures, Admin = true)]
[NvmeField("FeatureId", 40, 4, Bit = 0, Bits = 8, Description = "Feature Identifier (FID), CDW10")]
[NvmeField("Save", 40, 4, Bit = 31, Bits = 1, Description = "Save (SV), CDW10")]
[NvmeField("Value", 44, 4, Description = "Feature-specific value, CDW11")]
public partial struct NvmeSetFeaturesCommand
{
}

/// <summary>Get Features (admin opcode 0Ah): NVM Express Base 2.0 §5.15; FID in CDW10 bits 7:0, SEL in bits 10:8.</summary>
[NvmeCommand(AdminOpcode.GetFeatures, Admin = true)]
[NvmeField("FeatureId", 40, 4, Bit = 0, Bits = 8, Description = "Feature Identifier (FID), CDW10")]
[NvmeField("Select", 40, 4, Bit = 8, Bits = 3, Description = "Select (SEL): 0 current, 1 default, 2 saved, 3 supported capabilities, CDW10")]
[NvmeField("Value", 44, 4, Description = "Feature-specific value, CDW11")]
public partial struct NvmeGetFeaturesCommand
{
}

/// <summary>
/// An admin command given by its raw dwords (any opcode), for callers that build commands this file does not describe
/// (NvmeTcpInitiator.AdminCommandAsync): NVM Express Base 2.0, Figure "Common Command Format".
/// </summary>
[NvmeCommand]
[NvmeField("Nsid", 4, 4, Description = "Namespace Identifier (NSID)")]
[NvmeField("Sgl", 24, SglDescriptor.Size, Type = typeof(SglDescriptor), Description = "Data Pointer (DPTR) as SGL Entry 1")]
[NvmeField("Cdw10", 40, 4, Description = "Command Dword 10")]
[NvmeField("Cdw11", 44, 4, Description = "Command Dword 11")]
[NvmeField("Cdw12", 48, 4, Description = "Command Dword 12")]
[NvmeField("Cdw13", 52, 4, Description = "Command Dword 13")]
public partial struct NvmeAdminCommand
{
}

/// <summary>Keep Alive (admin opcode 18h): NVM Express Base 2.0 §5.25; no command-specific fields.</summary>
[NvmeCommand(AdminOpcode.KeepAlive, Admin = true)]
public partial struct NvmeKeepAliveCommand
{
}

/// <summary>
/// Fabrics Connect (opcode 7Fh, FCTYPE 01h): NVM Express Base 2.0 §6.3, Figure "Connect Command – Submission
/// Queue Entry"; the 1024-byte Connect data (host identifier, CNTLID, SUBNQN, HOSTNQN) travels in-capsule.
/// </summary>
[NvmeCommand(AdminOpcode.Fabrics, FabricsType = FabricsCommandType.Connect)]
[NvmeField("SglAddress", 24, 8, Description = "SGL Entry 1 Address")]
[NvmeField("SglLength", 32, 4, Description = "SGL Entry 1 Length")]
[NvmeField("SglIdentifier", 39, 1, Description = "SGL Entry 1 Identifier: type in bits 7:4, subtype in bits 3:0")]
[NvmeField("RecordFormat", 40, 2, Description = "Record Format (RECFMT), 0")]
[NvmeField("QueueId", 42, 2, Description = "Queue ID (QID): 0 for the admin queue")]
[NvmeField("SubmissionQueueSize", 44, 2, Description = "Submission Queue Size (SQSIZE), zero-based")]
[NvmeField("ConnectAttributes", 46, 1, Description = "Connect Attributes (CATTR): bit 2 disables SQ flow control")]
[NvmeField("KeepAliveTimeout", 48, 4, Description = "Keep Alive Timeout (KATO) in milliseconds")]
public partial struct NvmeConnectCommand
{
}

/// <summary>Any Fabrics command (opcode 7Fh) before its type is known: NVM Express Base 2.0 §6.1, Figure "Fabrics Command"; FCTYPE in byte 4.</summary>
[NvmeCommand(AdminOpcode.Fabrics)]
[NvmeField("FabricsType", 4, 1, Description = "Fabrics Command Type (FCTYPE)")]
public partial struct NvmeFabricsCommand
{
}

/// <summary>Fabrics Property Get (opcode 7Fh, FCTYPE 04h): NVM Express Base 2.0 §6.5; ATTRIB bits 2:0 give the size (0 = 4 B, 1 = 8 B).</summary>
[NvmeCommand(AdminOpcode.Fabrics, FabricsType = FabricsCommandType.PropertyGet)]
[NvmeField("Size8", 40, 1, Bit = 0, Bits = 3, Description = "Attributes (ATTRIB) size: 0 = 4 bytes, 1 = 8 bytes")]
[NvmeField("PropertyOffset", 44, 4, Description = "Offset (OFST) of the property")]
public partial struct NvmePropertyGetCommand
{
}

/// <summary>Fabrics Property Set (opcode 7Fh, FCTYPE 00h): NVM Express Base 2.0 §6.6; VALUE in bytes 55:48.</summary>
[NvmeCommand(AdminOpcode.Fabrics, FabricsType = FabricsCommandType.PropertySet)]
[NvmeField("Size8", 40, 1, Bit = 0, Bits = 3, Description = "Attributes (ATTRIB) size: 0 = 4 bytes, 1 = 8 bytes")]
[NvmeField("PropertyOffset", 44, 4, Description = "Offset (OFST) of the property")]
[NvmeField("Value", 48, 8, Description = "Value (VALUE); only the low 4 bytes for a 4-byte property")]
public partial struct NvmePropertySetCommand
{
}

/// <summary>
/// A completion with its command-specific dwords raw: NVM Express Base 2.0 §4.6, Figure "Common Completion Queue Entry
/// Layout" (Linux <c>struct nvme_completion</c>); the status field (bytes 15:14) holds the Phase Tag in bit 0 and the
/// <see cref="NvmeStatus"/> in bits 15:1. The completion the executor, the offload engine and NVMe/TCP produce.
/// </summary>
[NvmeCompletion]
[NvmeField("Dw0", 0, 4, Description = "Dword 0, command specific")]
[NvmeField("Dw1", 4, 4, Description = "Dword 1, command specific")]
public partial struct NvmeCompletion
{
}

/// <summary>Connect response: NVM Express Base 2.0 §6.3, Figure "Connect Response"; CNTLID in DW0 bits 15:0.</summary>
[NvmeCompletion]
[NvmeField("ControllerId", 0, 2, Description = "Controller ID (CNTLID) allocated to the host")]
[NvmeField("AuthenticationRequired", 2, 2, Description = "Authentication requirements (AUTHREQ), DW0 bits 31:16")]
public partial struct NvmeConnectCompletion
{
}

/// <summary>Property Get response: NVM Express Base 2.0 §6.5; the value in DW0 (and DW1 for 8-byte properties).</summary>
[NvmeCompletion]
[NvmeField("Value", 0, 8, Description = "Property value")]
public partial struct NvmePropertyGetCompletion
{
}

/// <summary>Controller property offsets and bits (NVM Express Base 2.0 §3.1.3, "Controller Properties").</summary>
public static class NvmeProperty
{
    /// <summary>Controller Capabilities (CAP), 8 bytes.</summary>
    public const uint Cap = 0x00;

    /// <summary>Version (VS), 4 bytes.</summary>
    public const uint Vs = 0x08;

    /// <summary>Controller Configuration (CC), 4 bytes.</summary>
    public const uint Cc = 0x14;

    /// <summary>Controller Status (CSTS), 4 bytes.</summary>
    public const uint Csts = 0x1C;

    /// <summary>CC.EN, bit 0.</summary>
    public const uint CcEnable = 1u << 0;

    /// <summary>CC.IOSQES = 6 (64-byte SQEs), bits 19:16.</summary>
    public const uint CcIoSqes64 = 6u << 16;

    /// <summary>CC.IOCQES = 4 (16-byte CQEs), bits 23:20.</summary>
    public const uint CcIoCqes16 = 4u << 20;

    /// <summary>CC.SHN mask, bits 15:14 (shutdown notification).</summary>
    public const uint CcShutdownMask = 3u << 14;

    /// <summary>CSTS.RDY, bit 0.</summary>
    public const uint CstsReady = 1u << 0;

    /// <summary>CSTS.CFS (controller fatal status), bit 1.</summary>
    public const uint CstsFatal = 1u << 1;

    /// <summary>CSTS.SHST = 10b (shutdown complete), bits 3:2.</summary>
    public const uint CstsShutdownComplete = 2u << 2;
}
