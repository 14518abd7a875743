using Scalio.Nvme;

namespace Scalio.Tests.Nvme;

/// <summary>
/// Generated SQE encoders and CQE decoders, byte for byte against layouts worked out from the specifications
/// (NVM Express Base 2.0, NVM Command Set 1.0; cross-checked with Linux include/linux/nvme.h).
/// </summary>
public sealed class EncoderTests
{
    private static byte[] Sqe(params (int Offset, byte[] Bytes)[] parts)
    {
        var b = new byte[64];
        foreach ((int offset, byte[] bytes) in parts) bytes.CopyTo(b, offset);
        return b;
    }

    private static byte[] Encode(Action<byte[]> write)
    {
        var b = new byte[64];
        Array.Fill(b, (byte)0xEE); // WriteTo must clear what it does not set
        write(b);
        return b;
    }

    [Fact] // NVM Command Set 1.0 §3.2.4 Read, Fig. "Read – Command Dword 10/11/12"; NVMe Base 2.0 §4.2 / Fig. "Common Command Format"
    public void Read_encodes_opcode_cid_nsid_slba_and_zero_based_nlb()
    {
        byte[] actual = Encode(b => new NvmeReadCommand { CommandId = 0x1234, Nsid = 1, StartingLba = 0x0000_0102_0304_0506, BlockCountZeroBased = 7 }.WriteTo(b));
        byte[] expected = Sqe(
            (0, [0x02, 0x00, 0x34, 0x12]),          // CDW0: OPC 02h, FUSE/PSDT 0, CID
            (4, [0x01, 0, 0, 0]),                    // NSID
            (40, [0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0, 0]), // CDW10-11: SLBA
            (48, [0x07, 0x00, 0, 0]));               // CDW12: NLB = 8 blocks - 1
        Assert.Equal(expected, actual);
    }

    [Fact] // NVM Command Set 1.0 §3.2.6 Write, Fig. "Write – Command Dword 12": FUA bit 30, NLB bits 15:0
    public void Write_with_fua_sets_cdw12_bit_30()
    {
        byte[] actual = Encode(b => new NvmeWriteCommand { CommandId = 9, Nsid = 2, StartingLba = 100, BlockCountZeroBased = 0xFFFF, ForceUnitAccess = true }.WriteTo(b));
        byte[] expected = Sqe((0, [0x01, 0x00, 0x09, 0x00]), (4, [2, 0, 0, 0]), (40, [100, 0, 0, 0, 0, 0, 0, 0]), (48, [0xFF, 0xFF, 0x00, 0x40]));
        Assert.Equal(expected, actual);
    }

    [Fact] // The typed commands and the any-opcode SubmissionQueueEntry (used by the executor and the offload target) agree
    public void Typed_read_and_write_match_the_any_opcode_entry()
    {
        byte[] generated = Encode(b => new NvmeWriteCommand { CommandId = 77, Nsid = 3, StartingLba = 0xABCDEF, BlockCountZeroBased = 15, ForceUnitAccess = true }.WriteTo(b));
        var handWritten = new byte[64];
        SubmissionQueueEntry.CreateWrite(77, 3, 0xABCDEF, 16, forceUnitAccess: true).WriteTo(handWritten);
        Assert.Equal(handWritten, generated);

        Assert.True(NvmeReadCommand.TryRead(Encode(b => SubmissionQueueEntry.CreateRead(5, 1, 42, 8).WriteTo(b)), out NvmeReadCommand read));
        Assert.Equal((ushort)5, read.CommandId);
        Assert.Equal(42UL, read.StartingLba);
        Assert.Equal((ushort)7, read.BlockCountZeroBased);
    }

    [Fact] // NVMe Base 2.0 §7.1 Flush: opcode 00h, only NSID
    public void Flush_encodes_only_opcode_cid_and_nsid()
    {
        byte[] actual = Encode(b => new NvmeFlushCommand { CommandId = 0xBEEF, Nsid = 0xFFFF_FFFF }.WriteTo(b));
        Assert.Equal(Sqe((0, [0x00, 0x00, 0xEF, 0xBE]), (4, [0xFF, 0xFF, 0xFF, 0xFF])), actual);
    }

    [Fact] // NVMe Base 2.0 §5.17 Identify, Fig. "Identify – Command Dword 10" (CNS 7:0, CNTID 31:16); SGL Entry 1 in DPTR bytes 39:24 (§4.3.2, Transport SGL Data Block 5Ah)
    public void Identify_controller_with_a_transport_sgl()
    {
        byte[] actual = Encode(b => new NvmeIdentifyCommand
        {
            CommandId = 3, Flags = 0x40, Nsid = 0, SglIdentifier = 0x5A, SglLength = 4096, Cns = IdentifyCns.Controller, ControllerIdentifier = 0x0102,
        }.WriteTo(b));
        byte[] expected = Sqe((0, [0x06, 0x40, 0x03, 0x00]), (32, [0x00, 0x10, 0, 0, 0, 0, 0, 0x5A]), (40, [0x01, 0x00, 0x02, 0x01]));
        Assert.Equal(expected, actual);
    }

    [Fact] // NVMe Base 2.0 §5.25 Keep Alive: opcode 18h, no command-specific fields
    public void Keep_alive_is_opcode_18h()
    {
        Assert.Equal(Sqe((0, [0x18, 0x00, 0x02, 0x00])), Encode(b => new NvmeKeepAliveCommand { CommandId = 2 }.WriteTo(b)));
    }

    [Fact] // NVMe Base 2.0 §6.3 Connect, Fig. "Connect Command – Submission Queue Entry": FCTYPE byte 4, RECFMT 41:40, QID 43:42, SQSIZE 45:44, CATTR 46, KATO 51:48
    public void Connect_encodes_fctype_qid_sqsize_cattr_kato_and_in_capsule_sgl()
    {
        byte[] actual = Encode(b => new NvmeConnectCommand
        {
            CommandId = 1, Flags = 0x40, SglIdentifier = 0x01, SglLength = 1024, QueueId = 1, SubmissionQueueSize = 127, ConnectAttributes = 0x04, KeepAliveTimeout = 5000,
        }.WriteTo(b));
        byte[] expected = Sqe(
            (0, [0x7F, 0x40, 0x01, 0x00, 0x01]),
            (32, [0x00, 0x04, 0, 0, 0, 0, 0, 0x01]),
            (40, [0x00, 0x00, 0x01, 0x00, 0x7F, 0x00, 0x04, 0x00, 0x88, 0x13, 0x00, 0x00]));
        Assert.Equal(expected, actual);
    }

    [Fact] // NVMe Base 2.0 §6.5 Property Get, Fig. "Property Get – Submission Queue Entry": ATTRIB byte 40 (bits 2:0 size), OFST 47:44
    public void Property_get_of_cap_is_an_8_byte_read_at_offset_0()
    {
        byte[] actual = Encode(b => new NvmePropertyGetCommand { CommandId = 4, Size8 = 1, PropertyOffset = NvmeProperty.Cap }.WriteTo(b));
        Assert.Equal(Sqe((0, [0x7F, 0x00, 0x04, 0x00, 0x04]), (40, [0x01])), actual);
        Assert.False(NvmePropertySetCommand.TryRead(actual, out _)); // FCTYPE 04h is not Property Set
        Assert.True(NvmePropertyGetCommand.TryRead(actual, out NvmePropertyGetCommand back));
        Assert.Equal((byte)1, back.Size8);
    }

    [Fact] // NVMe Base 2.0 §6.6 Property Set: OFST 47:44, VALUE 55:48; CC (offset 14h) EN bit 0, IOSQES 19:16, IOCQES 23:20 (§3.1.3.5)
    public void Property_set_of_cc_enable()
    {
        uint cc = NvmeProperty.CcIoSqes64 | NvmeProperty.CcIoCqes16 | NvmeProperty.CcEnable;
        Assert.Equal(0x0046_0001u, cc);
        byte[] actual = Encode(b => new NvmePropertySetCommand { CommandId = 5, PropertyOffset = NvmeProperty.Cc, Value = cc }.WriteTo(b));
        Assert.Equal(Sqe((0, [0x7F, 0x00, 0x05, 0x00, 0x00]), (44, [0x14, 0, 0, 0, 0x01, 0x00, 0x46, 0x00])), actual);
    }

    [Fact] // NVMe Base 2.0 §4.6 / Fig. "Common Completion Queue Entry Layout" and "Status Field"; §6.3 Connect response (CNTLID in DW0 15:0)
    public void Completion_decoders_read_dw0_sqhd_sqid_cid_and_status()
    {
        // DW0 = CNTLID 0x0007; SQHD 1; SQID 0; CID 0x0011; status: SCT 1, SC 82h, DNR, phase 1 => ((0x4000|0x182) << 1) | 1
        byte[] cqe = [0x07, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0x01, 0x00, 0x00, 0x00, 0x11, 0x00, 0x05, 0x83];
        NvmeConnectCompletion c = NvmeConnectCompletion.Read(cqe);
        Assert.Equal((ushort)7, c.ControllerId);
        Assert.Equal((ushort)1, c.SqHead);
        Assert.Equal((ushort)0x11, c.CommandId);
        Assert.True(c.Phase);
        Assert.Equal(NvmeStatus.ConnectInvalidParameters, c.Status);
        Assert.True(c.Status.DoNotRetry);

        byte[] written = new byte[16];
        c.WriteTo(written);
        Assert.Equal(cqe, written);

        // Property Get response: an 8-byte value in DW0..DW1
        byte[] pg = [0x7F, 0x00, 0x01, 0x02, 0x20, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0x02, 0x00, 0x00, 0x00];
        Assert.Equal(0x0000_0020_0201_007FUL, NvmePropertyGetCompletion.Read(pg).Value);
    }

    [Fact]
    public void Decoders_reject_short_input_and_other_opcodes_and_encoders_check_field_widths()
    {
        Assert.False(NvmeReadCommand.TryRead(new byte[63], out _));
        byte[] write = Encode(b => new NvmeWriteCommand().WriteTo(b));
        Assert.False(NvmeReadCommand.TryRead(write, out _));
        Assert.Throws<ArgumentException>(() => NvmeReadCommand.Read(write));
        Assert.Throws<ArgumentException>(() => new NvmeReadCommand().WriteTo(new byte[10]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NvmeReadCommand { ProtectionInformation = 0x10 }.WriteTo(new byte[64]));
    }
}
