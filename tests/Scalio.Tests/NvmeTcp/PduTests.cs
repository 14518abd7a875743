using Scalio.Nvme.Tcp;

namespace Scalio.Tests.NvmeTcp;

/// <summary>NVMe/TCP PDU headers from the generated encoders/decoders, against NVMe/TCP Transport 1.0 §3.6.2 (and Linux include/linux/nvme-tcp.h).</summary>
public sealed class PduTests
{
    [Fact] // NVMe/TCP 1.0 §3.6.2.2 ICReq: type 00h, HLEN 128, PDO 0, PLEN 128; PFV 9:8, HPDA 10, DGST 11 (bit 0 HDGST, bit 1 DDGST), MAXR2T 15:12
    public void ICReq_header()
    {
        var b = new byte[128];
        new ICReqPdu { PduLength = 128, Hpda = 0, HeaderDigestEnable = true, DataDigestEnable = true, MaxR2T = 3 }.WriteHeader(b);
        var expected = new byte[128];
        new byte[] { 0x00, 0x00, 0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0x00, 0x00, 0x00 }.CopyTo(expected, 0);
        Assert.Equal(expected, b);
        Assert.Equal(NvmeTcpHeaderError.None, ICReqPdu.TryReadHeader(b, false, false, out ICReqPdu back, out _));
        Assert.True(back.HeaderDigestEnable && back.DataDigestEnable);
        Assert.Equal(3u, back.MaxR2T);
    }

    [Fact] // NVMe/TCP 1.0 §3.6.2.3 ICResp: type 01h; CPDA 10, DGST 11, MAXH2CDATA 15:12
    public void ICResp_header()
    {
        var b = new byte[128];
        new ICRespPdu { PduLength = 128, Cpda = 1, DataDigestEnable = true, MaxH2CData = 0x0040_0000 }.WriteHeader(b);
        Assert.Equal(new byte[] { 0x01, 0x00, 0x80, 0x00, 0x80, 0, 0, 0, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x40, 0x00 }, b[..16]);
        Assert.All(b[16..], x => Assert.Equal(0, x));
    }

    [Fact] // NVMe/TCP 1.0 §3.6.2.6 CapsuleCmd: type 04h, HLEN 72, HDGSTF/DDGSTF, PDO after the header digest, PLEN covers data and data digest
    public void CapsuleCmd_with_digests_and_in_capsule_data()
    {
        var b = new byte[72];
        new CapsuleCmdPdu { Flags = 0x03, PduDataOffset = 76, PduLength = 76 + 4096 + 4 }.WriteHeader(b);
        Assert.Equal(new byte[] { 0x04, 0x03, 0x48, 0x4C, 0x50, 0x10, 0x00, 0x00 }, b[..8]);
        Assert.Equal(NvmeTcpHeaderError.None, CapsuleCmdPdu.TryReadHeader(b, true, true, out CapsuleCmdPdu pdu, out _));
        Assert.Equal(4096, pdu.PayloadLength);
        Assert.Equal(76, pdu.PayloadOffset);
    }

    [Fact] // NVMe/TCP 1.0 §3.6.2.7 CapsuleResp: type 05h, HLEN 24 (8 + 16-byte CQE), PLEN 24 without header digest
    public void CapsuleResp_header()
    {
        var b = new byte[24];
        new CapsuleRespPdu { PduLength = 24 }.WriteHeader(b);
        Assert.Equal(new byte[] { 0x05, 0x00, 0x18, 0x00, 0x18, 0x00, 0x00, 0x00 }, b[..8]);
        Assert.Equal(NvmeTcpHeaderError.None, CapsuleRespPdu.TryReadHeader(b, false, false, out _, out _));
    }

    [Fact] // NVMe/TCP 1.0 §3.6.2.8 H2CData: CCCID 9:8, TTAG 11:10, DATAO 15:12, DATAL 19:16, LAST_PDU flag 04h
    public void H2CData_header()
    {
        var b = new byte[24];
        new H2CDataPdu { Flags = 0x04, PduDataOffset = 24, PduLength = 24 + 8192, CommandCid = 0x0A0B, TransferTag = 0x0C0D, DataOffset = 0x1000, DataLength = 8192 }.WriteHeader(b);
        Assert.Equal(new byte[] { 0x06, 0x04, 0x18, 0x18, 0x18, 0x20, 0x00, 0x00, 0x0B, 0x0A, 0x0D, 0x0C, 0x00, 0x10, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0 }, b);
    }

    [Fact] // NVMe/TCP 1.0 §3.6.2.9 C2HData: SUCCESS flag 08h is allowed (with LAST_PDU)
    public void C2HData_success_flag()
    {
        var b = new byte[24];
        new C2HDataPdu { Flags = 0x0C, PduDataOffset = 24, PduLength = 24 + 512, CommandCid = 1, DataOffset = 0, DataLength = 512 }.WriteHeader(b);
        Assert.Equal(new byte[] { 0x07, 0x0C, 0x18, 0x18, 0x18, 0x02, 0x00, 0x00, 0x01, 0x00 }, b[..10]);
        Assert.Equal(NvmeTcpHeaderError.None, C2HDataPdu.TryReadHeader(b, false, false, out C2HDataPdu pdu, out _));
        Assert.Equal(512, pdu.PayloadLength);
        b[1] = 0x08 | 0x10; // an undefined flag
        Assert.Equal(NvmeTcpHeaderError.Flags, C2HDataPdu.TryReadHeader(b, false, false, out _, out int offset));
        Assert.Equal(1, offset);
    }

    [Fact] // NVMe/TCP 1.0 §3.6.2.10 R2T: CCCID, TTAG, R2TO 15:12, R2TL 19:16; PLEN 24 (+4 with header digest)
    public void R2T_header_and_header_digest_length()
    {
        var b = new byte[24];
        new R2TPdu { Flags = 0x01, PduLength = 28, CommandCid = 2, TransferTag = 7, R2TOffset = 0, R2TLength = 65536 }.WriteHeader(b);
        Assert.Equal(new byte[] { 0x09, 0x01, 0x18, 0x00, 0x1C, 0, 0, 0, 0x02, 0x00, 0x07, 0x00, 0, 0, 0, 0, 0x00, 0x00, 0x01, 0x00, 0, 0, 0, 0 }, b);
        Assert.Equal(NvmeTcpHeaderError.None, R2TPdu.TryReadHeader(b, true, false, out _, out _));
        Assert.Equal(NvmeTcpHeaderError.Flags, R2TPdu.TryReadHeader(b, false, false, out _, out _)); // HDGSTF without negotiated header digest
    }

    [Fact] // NVMe/TCP 1.0 §3.6.2.5 C2HTermReq: FES 9:8, FEI 13:10 (not 4-byte aligned), data = the header in error
    public void C2HTermReq_header()
    {
        var b = new byte[24];
        new C2HTermReqPdu { PduLength = 24 + 8, Fes = NvmeTcpFatalError.InvalidHeaderField, Fei = 2 }.WriteHeader(b);
        Assert.Equal(new byte[] { 0x03, 0x00, 0x18, 0x00, 0x20, 0, 0, 0, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00 }, b[..14]);
        Assert.Equal(NvmeTcpHeaderError.None, C2HTermReqPdu.TryReadHeader(b, false, false, out C2HTermReqPdu t, out _));
        Assert.Equal(8, t.PayloadLength);
    }

    [Theory] // NVMe/TCP 1.0 §3.6.2.1 common header rules: type, HLEN, FLAGS, PDO, PLEN
    [InlineData(0, 0x05, NvmeTcpHeaderError.PduType, 0)]
    [InlineData(2, 0x30, NvmeTcpHeaderError.HeaderLength, 2)]
    [InlineData(1, 0x10, NvmeTcpHeaderError.Flags, 1)]
    [InlineData(3, 0x10, NvmeTcpHeaderError.DataOffset, 3)]   // PDO inside the header
    [InlineData(4, 0x20, NvmeTcpHeaderError.PduLength, 4)]    // PLEN shorter than the header
    public void Capsule_validation_names_the_bad_field(int offset, byte value, NvmeTcpHeaderError expected, int expectedOffset)
    {
        var b = new byte[72];
        new CapsuleCmdPdu { PduDataOffset = 72, PduLength = 72 + 512 }.WriteHeader(b);
        Assert.Equal(NvmeTcpHeaderError.None, CapsuleCmdPdu.TryReadHeader(b, false, false, out _, out _));
        if (offset == 4) System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), value);
        else b[offset] = value;
        Assert.Equal(expected, CapsuleCmdPdu.TryReadHeader(b, false, false, out _, out int at));
        Assert.Equal(expectedOffset, at);
        Assert.Equal(NvmeTcpHeaderError.Truncated, CapsuleCmdPdu.TryReadHeader(b.AsSpan(0, 40), false, false, out _, out _));
    }

    [Fact]
    public void Data_digest_flag_must_match_negotiation_and_pdo_must_be_zero_without_data()
    {
        var b = new byte[72];
        new CapsuleCmdPdu { PduDataOffset = 72, PduLength = 72 + 64 }.WriteHeader(b);
        Assert.Equal(NvmeTcpHeaderError.Flags, CapsuleCmdPdu.TryReadHeader(b, false, true, out _, out _)); // data digest negotiated, DDGSTF missing
        new CapsuleCmdPdu { PduDataOffset = 72, PduLength = 72 }.WriteHeader(b);
        Assert.Equal(NvmeTcpHeaderError.DataOffset, CapsuleCmdPdu.TryReadHeader(b, false, false, out _, out _));
        new CapsuleRespPdu { PduLength = 24, PduDataOffset = 8 }.WriteHeader(b);
        Assert.Equal(NvmeTcpHeaderError.DataOffset, CapsuleRespPdu.TryReadHeader(b, false, false, out _, out _));
    }
}
