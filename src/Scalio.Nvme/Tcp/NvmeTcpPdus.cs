using Scalio.Nvme.Generation;

namespace Scalio.Nvme.Tcp;

// Declarative descriptions of the NVMe/TCP PDU headers (NVMe/TCP Transport Specification 1.0, §3.6.2 "PDU
// Formats"; cross-checked with Linux include/linux/nvme-tcp.h). Scalio.Generators (NvmeGenerator) emits
// WriteHeader and a validating TryReadHeader for each. All integers are little-endian.

/// <summary>PDU-Type values (NVMe/TCP 1.0, Figure "PDU Type").</summary>
public static class NvmeTcpPduType
{
    /// <summary>ICReq (00h).</summary>
    public const byte ICReq = 0x00;

    /// <summary>ICResp (01h).</summary>
    public const byte ICResp = 0x01;

    /// <summary>H2CTermReq (02h).</summary>
    public const byte H2CTermReq = 0x02;

    /// <summary>C2HTermReq (03h).</summary>
    public const byte C2HTermReq = 0x03;

    /// <summary>CapsuleCmd (04h).</summary>
    public const byte CapsuleCmd = 0x04;

    /// <summary>CapsuleResp (05h).</summary>
    public const byte CapsuleResp = 0x05;

    /// <summary>H2CData (06h).</summary>
    public const byte H2CData = 0x06;

    /// <summary>C2HData (07h).</summary>
    public const byte C2HData = 0x07;

    /// <summary>R2T (09h).</summary>
    public const byte R2T = 0x09;
}

/// <summary>FLAGS bits of the common header (NVMe/TCP 1.0 §3.6.2.1).</summary>
public static class NvmeTcpFlags
{
    /// <summary>HDGSTF: a header digest follows the header.</summary>
    public const byte HeaderDigest = 0x01;

    /// <summary>DDGSTF: a data digest follows the data.</summary>
    public const byte DataDigest = 0x02;

    /// <summary>LAST_PDU: last data PDU of a transfer (H2CData, C2HData).</summary>
    public const byte LastPdu = 0x04;

    /// <summary>SUCCESS: the command completed successfully and no CapsuleResp follows (C2HData only).</summary>
    public const byte Success = 0x08;
}

/// <summary>Fatal Error Status (FES) values of a termination request (NVMe/TCP 1.0, H2CTermReq/C2HTermReq figures).</summary>
public static class NvmeTcpFatalError
{
    /// <summary>Invalid PDU Header Field (01h); FEI is the byte offset of the field.</summary>
    public const ushort InvalidHeaderField = 0x01;

    /// <summary>PDU Sequence Error (02h).</summary>
    public const ushort PduSequenceError = 0x02;

    /// <summary>Header Digest Error (03h).</summary>
    public const ushort HeaderDigestError = 0x03;

    /// <summary>Data Transfer Out of Range (04h).</summary>
    public const ushort DataOutOfRange = 0x04;

    /// <summary>Data Transfer Limit Exceeded (05h).</summary>
    public const ushort DataLimitExceeded = 0x05;

    /// <summary>Unsupported Parameter (06h).</summary>
    public const ushort UnsupportedParameter = 0x06;
}

/// <summary>Why a generated <c>TryReadHeader</c> rejected a PDU header.</summary>
public enum NvmeTcpHeaderError
{
    /// <summary>The header is valid.</summary>
    None = 0,

    /// <summary>Fewer bytes than HLEN.</summary>
    Truncated,

    /// <summary>Byte 0 is not this PDU's type.</summary>
    PduType,

    /// <summary>HLEN does not match the PDU type.</summary>
    HeaderLength,

    /// <summary>A flag is not allowed, or a digest flag disagrees with the negotiated digests.</summary>
    Flags,

    /// <summary>PDO is not 0 without data, or points into the header.</summary>
    DataOffset,

    /// <summary>PLEN is inconsistent with HLEN, PDO and the digests, or over the PDU's limit.</summary>
    PduLength,
}

/// <summary>ICReq: NVMe/TCP 1.0 §3.6.2.2; HLEN = PLEN = 128, no digests.</summary>
[NvmeTcpPdu(NvmeTcpPduType.ICReq, 128, NeverDigested = true)]
[NvmeField("Pfv", 8, 2, Description = "PDU Format Version (PFV), 0")]
[NvmeField("Hpda", 10, 1, Description = "Host PDU Data Alignment (HPDA), in dwords, zero-based")]
[NvmeField("HeaderDigestEnable", 11, 1, Bit = 0, Bits = 1, Description = "Digest: HDGST_ENABLE")]
[NvmeField("DataDigestEnable", 11, 1, Bit = 1, Bits = 1, Description = "Digest: DDGST_ENABLE")]
[NvmeField("MaxR2T", 12, 4, Description = "Maximum number of outstanding R2Ts per command (MAXR2T), zero-based")]
public partial struct ICReqPdu
{
}

/// <summary>ICResp: NVMe/TCP 1.0 §3.6.2.3; HLEN = PLEN = 128, no digests.</summary>
[NvmeTcpPdu(NvmeTcpPduType.ICResp, 128, NeverDigested = true)]
[NvmeField("Pfv", 8, 2, Description = "PDU Format Version (PFV), 0")]
[NvmeField("Cpda", 10, 1, Description = "Controller PDU Data Alignment (CPDA), in dwords, zero-based")]
[NvmeField("HeaderDigestEnable", 11, 1, Bit = 0, Bits = 1, Description = "Digest: HDGST_ENABLE")]
[NvmeField("DataDigestEnable", 11, 1, Bit = 1, Bits = 1, Description = "Digest: DDGST_ENABLE")]
[NvmeField("MaxH2CData", 12, 4, Description = "Maximum data bytes in one H2CData PDU (MAXH2CDATA)")]
public partial struct ICRespPdu
{
}

/// <summary>H2CTermReq: NVMe/TCP 1.0 §3.6.2.4; HLEN 24, the data is the header in error (at most 128 bytes here).</summary>
[NvmeTcpPdu(NvmeTcpPduType.H2CTermReq, 24, NeverDigested = true, CarriesData = true, MaxDataLength = 152)]
[NvmeField("Fes", 8, 2, Description = "Fatal Error Status (FES)")]
[NvmeField("Fei", 10, 4, Description = "Fatal Error Information (FEI)")]
public partial struct H2CTermReqPdu
{
}

/// <summary>C2HTermReq: NVMe/TCP 1.0 §3.6.2.5; same layout as H2CTermReq.</summary>
[NvmeTcpPdu(NvmeTcpPduType.C2HTermReq, 24, NeverDigested = true, CarriesData = true, MaxDataLength = 152)]
[NvmeField("Fes", 8, 2, Description = "Fatal Error Status (FES)")]
[NvmeField("Fei", 10, 4, Description = "Fatal Error Information (FEI)")]
public partial struct C2HTermReqPdu
{
}

/// <summary>CapsuleCmd: NVMe/TCP 1.0 §3.6.2.6; HLEN 72 = 8 + the 64-byte SQE (bytes 71:8), then optional in-capsule data at PDO.</summary>
[NvmeTcpPdu(NvmeTcpPduType.CapsuleCmd, 72, AllowedFlags = NvmeTcpFlags.HeaderDigest | NvmeTcpFlags.DataDigest, CarriesData = true)]
public partial struct CapsuleCmdPdu
{
}

/// <summary>CapsuleResp: NVMe/TCP 1.0 §3.6.2.7; HLEN 24 = 8 + the 16-byte CQE (bytes 23:8).</summary>
[NvmeTcpPdu(NvmeTcpPduType.CapsuleResp, 24, AllowedFlags = NvmeTcpFlags.HeaderDigest)]
public partial struct CapsuleRespPdu
{
}

/// <summary>H2CData: NVMe/TCP 1.0 §3.6.2.8; HLEN 24.</summary>
[NvmeTcpPdu(NvmeTcpPduType.H2CData, 24, AllowedFlags = NvmeTcpFlags.HeaderDigest | NvmeTcpFlags.DataDigest | NvmeTcpFlags.LastPdu, CarriesData = true)]
[NvmeField("CommandCid", 8, 2, Description = "Command Capsule CID (CCCID)")]
[NvmeField("TransferTag", 10, 2, Description = "Transfer Tag (TTAG) from the R2T")]
[NvmeField("DataOffset", 12, 4, Description = "Data Offset (DATAO) within the command's data")]
[NvmeField("DataLength", 16, 4, Description = "Data Length (DATAL)")]
public partial struct H2CDataPdu
{
}

/// <summary>C2HData: NVMe/TCP 1.0 §3.6.2.9; HLEN 24.</summary>
[NvmeTcpPdu(NvmeTcpPduType.C2HData, 24, AllowedFlags = NvmeTcpFlags.HeaderDigest | NvmeTcpFlags.DataDigest | NvmeTcpFlags.LastPdu | NvmeTcpFlags.Success, CarriesData = true)]
[NvmeField("CommandCid", 8, 2, Description = "Command Capsule CID (CCCID)")]
[NvmeField("DataOffset", 12, 4, Description = "Data Offset (DATAO) within the command's data")]
[NvmeField("DataLength", 16, 4, Description = "Data Length (DATAL)")]
public partial struct C2HDataPdu
{
}

/// <summary>R2T: NVMe/TCP 1.0 §3.6.2.10; HLEN 24.</summary>
[NvmeTcpPdu(NvmeTcpPduType.R2T, 24, AllowedFlags = NvmeTcpFlags.HeaderDigest)]
[NvmeField("CommandCid", 8, 2, Description = "Command Capsule CID (CCCID)")]
[NvmeField("TransferTag", 10, 2, Description = "Transfer Tag (TTAG)")]
[NvmeField("R2TOffset", 12, 4, Description = "Requested Data Offset (R2TO)")]
[NvmeField("R2TLength", 16, 4, Description = "Requested Data Length (R2TL)")]
public partial struct R2TPdu
{
}
