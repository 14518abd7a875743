using System.Runtime.CompilerServices;
using Scalio.Nvme;

namespace Scalio.Tests.Nvme;

/// <summary>Byte-for-byte layout checks against the NVMe specifications (values worked out by hand from the figures).</summary>
public class LayoutTests
{
    private static byte[] Bytes(SubmissionQueueEntry sqe)
    {
        var b = new byte[64];
        sqe.WriteTo(b);
        return b;
    }

    [Fact]
    public void Sizes_match_the_spec()
    {
        // NVMe Base 2.0: SQE 64 bytes (IOSQES 6), CQE 16 bytes (IOCQES 4), SGL descriptor 16 bytes.
        Assert.Equal(64, Unsafe.SizeOf<SubmissionQueueEntry>());
        Assert.Equal(64, SubmissionQueueEntry.WireSize);
        Assert.Equal(16, Unsafe.SizeOf<NvmeCompletion>());
        Assert.Equal(16, NvmeCompletion.WireSize);
        Assert.Equal(16, Unsafe.SizeOf<SglDescriptor>());

        // Every generated entry is its wire form in memory: 64-byte commands, 16-byte completions.
        Assert.Equal(64, Unsafe.SizeOf<NvmeReadCommand>());
        Assert.Equal(64, Unsafe.SizeOf<NvmeWriteCommand>());
        Assert.Equal(64, Unsafe.SizeOf<NvmeFlushCommand>());
        Assert.Equal(64, Unsafe.SizeOf<NvmeIdentifyCommand>());
        Assert.Equal(64, Unsafe.SizeOf<NvmeKeepAliveCommand>());
        Assert.Equal(64, Unsafe.SizeOf<NvmeConnectCommand>());
        Assert.Equal(64, Unsafe.SizeOf<NvmePropertyGetCommand>());
        Assert.Equal(64, Unsafe.SizeOf<NvmePropertySetCommand>());
        Assert.Equal(16, Unsafe.SizeOf<NvmeConnectCompletion>());
        Assert.Equal(16, Unsafe.SizeOf<NvmePropertyGetCompletion>());
    }

    [Fact]
    public void Common_command_format_places_every_field()
    {
        // NVMe Base 2.0 Figure "Common Command Format" + Figure "Command Dword 0":
        // CDW0 = OPC 7:0 | FUSE 9:8 | PSDT 15:14 | CID 31:16; NSID 7:4; CDW2 11:8; CDW3 15:12; MPTR 23:16;
        // DPTR 39:24 (SGL Entry 1: address 31:24, length 34:32, key 38:35, identifier 39); CDW10..CDW15 at 43:40 .. 63:60.
        var sqe = new SubmissionQueueEntry
        {
            Opcode = 0xA5,
            Fuse = FusedOperation.Second,
            Psdt = DataPointerKind.SglMetadataSegment,
            CommandId = 0xBEEF,
            Nsid = 0x04030201,
            Cdw2 = 0x0C0B0A09,
            Cdw3 = 0x100F0E0D,
            MetadataPointer = 0x1817161514131211,
            Sgl = SglDescriptor.KeyedDataBlock(0x2827262524232221, 0x333231, 0x37363534),
            StartingLba = 0x4847464544434241,
            NumberOfBlocksZeroBased = 0x4A49,
            ForceUnitAccess = true,
            LimitedRetry = true,
            Cdw13 = 0x504F4E4D,
            Cdw14 = 0x54535251,
            Cdw15 = 0x58575655,
        };
        byte[] expected =
        [
            0xA5, 0x82, 0xEF, 0xBE, 0x01, 0x02, 0x03, 0x04, // byte1 = FUSE 10b in bits 1:0 | PSDT 10b in bits 7:6
            0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10,
            0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
            0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
            0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x40, // keyed SGL data block: type 4h, subtype 0h
            0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
            0x49, 0x4A, 0x00, 0xC0, 0x4D, 0x4E, 0x4F, 0x50, // CDW12: NLB 4A49h, FUA bit 30, LR bit 31
            0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
        ];
        Assert.Equal(expected, Bytes(sqe));

        // The entry is the wire form in memory (explicit layout), not only after WriteTo.
        var raw = new byte[64];
        System.Runtime.InteropServices.MemoryMarshal.Write(raw, in sqe);
        Assert.Equal(expected, raw);

        SubmissionQueueEntry back = SubmissionQueueEntry.Read(expected);
        Assert.Equal(0xA5, back.Opcode);
        Assert.Equal(FusedOperation.Second, back.Fuse);
        Assert.Equal(DataPointerKind.SglMetadataSegment, back.Psdt);
        Assert.Equal(0xBEEF, back.CommandId);
        Assert.Equal(0x04030201u, back.Nsid);
        Assert.Equal(0x1817161514131211ul, back.MetadataPointer);
        Assert.Equal(0x2827262524232221ul, back.Sgl.Address);
        Assert.Equal(0x37363534u, back.Sgl.Key);
        Assert.Equal(0x4847464544434241ul, back.StartingLba);
        Assert.Equal(0x4A4A, back.BlockCount);
        Assert.True(back.ForceUnitAccess && back.LimitedRetry);
        Assert.Equal(0x58575655u, back.Cdw15);
        Assert.Equal(expected, Bytes(back));
        Assert.Throws<ArgumentException>(() => SubmissionQueueEntry.Read(new byte[63]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SubmissionQueueEntry { Fuse = (FusedOperation)4 });
    }

    [Fact]
    public void Read_command_dwords_10_to_12()
    {
        // NVM Command Set 1.0, Figures "Read – Command Dword 10/11" (SLBA 63:0) and "Read – Command Dword 12"
        // (NLB 15:0 zero-based, FUA bit 30, LR bit 31). CDW0: Read opcode 02h, FUSE 01b, PSDT 01b -> byte 1 = 41h.
        var sqe = SubmissionQueueEntry.CreateRead(0x1234, 1, 0x0000_0012_3456_789A, blocks: 8);
        sqe.ForceUnitAccess = true;
        sqe.Fuse = FusedOperation.First;
        sqe.Psdt = DataPointerKind.SglMetadataBuffer;
        byte[] b = Bytes(sqe);
        Assert.Equal(new byte[] { 0x02, 0x41, 0x34, 0x12, 0x01, 0x00, 0x00, 0x00 }, b[0..8]);
        Assert.Equal(new byte[] { 0x9A, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0x00 }, b[40..48]);
        Assert.Equal(new byte[] { 0x07, 0x00, 0x00, 0x40 }, b[48..52]); // NLB = 7, FUA = bit 30 -> byte 51 = 40h
        Assert.Equal(8, sqe.BlockCount);
        Assert.Equal((ushort)7, sqe.NumberOfBlocksZeroBased);

        sqe.LimitedRetry = true;
        sqe.ForceUnitAccess = false;
        Assert.Equal(0x80, Bytes(sqe)[51]);
        Assert.Equal(65536, SubmissionQueueEntry.CreateWrite(1, 1, 0, 65536).BlockCount);
        Assert.Equal(0xFF, Bytes(SubmissionQueueEntry.CreateWrite(1, 1, 0, 65536))[48]);
        Assert.Equal(0x01, Bytes(SubmissionQueueEntry.CreateWrite(1, 1, 0, 1))[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => SubmissionQueueEntry.CreateRead(1, 1, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SubmissionQueueEntry.CreateRead(1, 1, 0, 65537));
    }

    [Fact]
    public void Opcodes_match_the_spec()
    {
        // NVM Command Set "Opcodes for NVM Commands"; Base 2.0 "Opcodes for Admin Commands" and "Fabrics Command Types".
        Assert.Equal(0x00, NvmOpcode.Flush);
        Assert.Equal(0x01, NvmOpcode.Write);
        Assert.Equal(0x02, NvmOpcode.Read);
        Assert.Equal(0x06, AdminOpcode.Identify);
        Assert.Equal(0x18, AdminOpcode.KeepAlive);
        Assert.Equal(0x7F, AdminOpcode.Fabrics);
        Assert.Equal(0x00, FabricsCommandType.PropertySet);
        Assert.Equal(0x01, FabricsCommandType.Connect);
        Assert.Equal(0x04, FabricsCommandType.PropertyGet);
    }

    [Fact]
    public void Fabrics_command_type_is_byte_4()
    {
        // NVMe Base 2.0 Figure "Fabrics Command" (Linux struct nvmf_common_command: fctype at byte 4).
        var b = new byte[64];
        new NvmePropertyGetCommand { CommandId = 7 }.WriteTo(b);
        Assert.Equal(new byte[] { 0x7F, 0x00, 0x07, 0x00, 0x04, 0x00, 0x00, 0x00 }, b[0..8]);
        Assert.True(NvmePropertyGetCommand.TryRead(b, out _));
        Assert.Equal(AdminOpcode.Fabrics, SubmissionQueueEntry.Read(b).Opcode);
        b[4] = FabricsCommandType.PropertySet;
        Assert.False(NvmePropertyGetCommand.TryRead(b, out _));
    }

    [Fact]
    public void Completion_entry_and_status_field()
    {
        // NVMe Base 2.0 Figure "Common Completion Queue Entry Layout": DW0 3:0, DW1 7:4, SQHD 9:8, SQID 11:10,
        // CID 13:12, Status 15:14. Figure "Completion Queue Entry: Status Field": P bit 0, SC 8:1, SCT 11:9,
        // CRD 13:12, M 14, DNR 15. Unrecovered Read Error = SCT 2h / SC 81h, with DNR and P set:
        // 1 | 81h << 1 | 2 << 9 | 1 << 15 = 8503h.
        var cqe = new NvmeCompletion { Dw0 = 0x11223344, Dw1 = 0x55667788, SqHead = 0x0102, SqId = 0x0304, CommandId = 0x0506 };
        cqe.Status = NvmeStatus.UnrecoveredReadError.WithDoNotRetry(true);
        cqe.Phase = true;
        var b = new byte[16];
        cqe.WriteTo(b);
        Assert.Equal(new byte[] { 0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55, 0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x03, 0x85 }, b);

        NvmeCompletion back = NvmeCompletion.Read(b);
        Assert.True(back.Phase);
        Assert.Equal(NvmeStatusCodeType.MediaAndDataIntegrity, back.Status.StatusCodeType);
        Assert.Equal(0x81, back.Status.StatusCode);
        Assert.True(back.Status.DoNotRetry);

        // Setting the status keeps the phase; clearing the phase keeps the status.
        back.Status = NvmeStatus.Success;
        Assert.Equal(0x0001, back.StatusField);
        back.Status = NvmeStatus.LbaOutOfRange; // SC 80h, DNR: (80h << 1) | (1 << 15) | P
        Assert.Equal(0x8101, back.StatusField);
        back.Phase = false;
        Assert.Equal(0x8100, back.StatusField);
    }

    [Fact]
    public void Status_values_match_the_spec_and_linux()
    {
        // NVMe Base 2.0 Figure "Generic Command Status Values" and "Media and Data Integrity Errors Values";
        // NvmeStatus.Value uses Linux's NVME_SC_* encoding (SCT << 8 | SC, DNR = 4000h).
        Assert.Equal(0x0000, NvmeStatus.Success.Value);
        Assert.Equal(0x4001, NvmeStatus.InvalidOpcode.Value);
        Assert.Equal(0x4002, NvmeStatus.InvalidField.Value);
        Assert.Equal(0x0004, NvmeStatus.DataTransferError.Value);
        Assert.Equal(0x0006, NvmeStatus.InternalError.Value);
        Assert.Equal(0x400B, NvmeStatus.InvalidNamespace.Value);
        Assert.Equal(0x400F, NvmeStatus.DataSglLengthInvalid.Value);
        Assert.Equal(0x4080, NvmeStatus.LbaOutOfRange.Value);
        Assert.Equal(0x4081, NvmeStatus.CapacityExceeded.Value);
        Assert.Equal(0x0280, NvmeStatus.WriteFault.Value);
        Assert.Equal(0x0281, NvmeStatus.UnrecoveredReadError.Value);
        Assert.Equal(0x4182, NvmeStatus.ConnectInvalidParameters.Value);
        Assert.Equal(NvmeStatus.LbaOutOfRange, new NvmeStatus(NvmeStatusCodeType.Generic, 0x80, doNotRetry: true));
        Assert.True(default(NvmeStatus).IsSuccess);
        Assert.False(NvmeStatus.InvalidField.IsSuccess);
        Assert.Contains("LBA Out of Range", NvmeStatus.LbaOutOfRange.ToString());
        Assert.Throws<ArgumentOutOfRangeException>(() => NvmeStatus.FromValue(0x8000));
    }

    [Fact]
    public void Keyed_sgl_data_block_descriptor()
    {
        // NVMe Base 2.0 Figure "Keyed SGL Data Block Descriptor": Address 7:0, Length 10:8 (24 bits), Key 14:11,
        // SGL Identifier 15 = type 4h in bits 7:4, subtype in bits 3:0 (0h Address, Fh Invalidate Key).
        var d = SglDescriptor.KeyedDataBlock(0x1122334455667788, 0x0A0B0C, 0xDEADBEEF);
        byte[] expected = [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x0C, 0x0B, 0x0A, 0xEF, 0xBE, 0xAD, 0xDE, 0x40];
        Assert.Equal(expected, Serialize(d));
        Assert.Equal(SglDescriptorType.KeyedDataBlock, d.Type);
        Assert.Equal(SglSubtype.Address, d.Subtype);
        Assert.Equal(0x0A0B0C, d.KeyedLength);
        Assert.Equal(0xDEADBEEFu, d.Key);
        Assert.Equal(0x0A0B0C, d.DataLength);
        Assert.Equal(0x4F, Serialize(SglDescriptor.KeyedDataBlock(0, 1, 2, invalidateKey: true))[15]);
        Assert.Throws<ArgumentOutOfRangeException>(() => SglDescriptor.KeyedDataBlock(0, 0x100_0000, 1));

        // Changing the key leaves length and identifier alone (the key straddles dwords 2 and 3).
        d.Key = 0x01020304;
        Assert.Equal(new byte[] { 0x0C, 0x0B, 0x0A, 0x04, 0x03, 0x02, 0x01, 0x40 }, Serialize(d)[8..16]);
    }

    [Fact]
    public void Data_block_and_transport_descriptors()
    {
        // NVMe Base 2.0 Figure "SGL Data Block Descriptor": Address 7:0, Length 11:8, reserved 14:12, byte 15 = 0h << 4 | subtype.
        // NVMe/TCP in-capsule data uses subtype Offset (1h); Figure "Transport SGL Data Block Descriptor": type 5h,
        // NVMe/TCP subtype Ah -> identifier 5Ah (Linux nvme_tcp_set_sg_host_data).
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x00, 0, 0, 0, 0x01 },
            Serialize(SglDescriptor.DataBlock(0, 0x1000, SglSubtype.Offset)));
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0x5A },
            Serialize(SglDescriptor.TransportDataBlock(0x2000)));
        var plain = SglDescriptor.DataBlock(0xAABB, 0x01020304);
        Assert.Equal(SglDescriptorType.DataBlock, plain.Type);
        Assert.Equal(0x01020304, plain.DataLength);

        // In a command, the descriptor occupies DPTR, bytes 39:24.
        var sqe = SubmissionQueueEntry.CreateWrite(1, 1, 0, 1);
        sqe.Psdt = DataPointerKind.SglMetadataBuffer;
        sqe.Sgl = SglDescriptor.KeyedDataBlock(0x1122334455667788, 0x0A0B0C, 0xDEADBEEF);
        Assert.Equal(Serialize(sqe.Sgl), Bytes(sqe)[24..40]);
        Assert.Equal(0x40, Bytes(sqe)[1]); // PSDT 01b in bits 7:6 of byte 1
    }

    private static byte[] Serialize(SglDescriptor d)
    {
        var b = new byte[16];
        System.Runtime.InteropServices.MemoryMarshal.Write(b, in d);
        return b;
    }

    [Fact]
    public void Admin_commands_the_target_decodes_place_their_dwords()
    {
        // NVMe Base 2.0 §5.16 Get Log Page: CDW10 = LID 7:0 | NUMDL 31:16, CDW11 = NUMDU 15:0, CDW12-13 = LPO.
        var log = new byte[64];
        log[0] = AdminOpcode.GetLogPage;
        log[1] = 0x40;
        log[2] = 0x34; log[3] = 0x12;
        log[32] = 0x00; log[33] = 0x02; // SGL length 512
        log[39] = 0x5A;
        log[40] = 0x02; log[42] = 0x7F; log[43] = 0x00; // LID 02h (SMART), NUMDL 007Fh
        log[44] = 0x01; // NUMDU 1
        log[48] = 0x10; log[55] = 0x80; // LPO 8000_0000_0000_0010h
        NvmeGetLogPageCommand getLog = NvmeGetLogPageCommand.Read(log);
        Assert.Equal((ushort)0x1234, getLog.CommandId);
        Assert.Equal(0x02, getLog.LogPageId);
        Assert.Equal((ushort)0x007F, getLog.DwordCountLower);
        Assert.Equal((ushort)1, getLog.DwordCountUpper);
        Assert.Equal(0x8000_0000_0000_0010UL, getLog.LogPageOffset);
        Assert.Equal(512u, getLog.SglLength);
        Assert.Equal(0x5A, getLog.SglIdentifier);
        Assert.False(NvmeGetLogPageCommand.TryRead(Bytes(new SubmissionQueueEntry { Opcode = AdminOpcode.Identify }), out _));

        // §5.1 Abort: CDW10 = SQID 15:0 | CID 31:16.
        var abort = new byte[64];
        abort[0] = AdminOpcode.Abort;
        abort[40] = 0x03; abort[42] = 0xCD; abort[43] = 0xAB;
        NvmeAbortCommand a = NvmeAbortCommand.Read(abort);
        Assert.Equal((ushort)3, a.SubmissionQueueId);
        Assert.Equal((ushort)0xABCD, a.AbortedCommandId);

        // §5.27 Set Features: CDW10 = FID 7:0 | SV bit 31; §5.15 Get Features: SEL 10:8; CDW11 the value.
        var set = new byte[64];
        set[0] = AdminOpcode.SetFeatures;
        set[40] = 0x07; set[43] = 0x80;
        set[44] = 0x0F; set[46] = 0x0F;
        NvmeSetFeaturesCommand sf = NvmeSetFeaturesCommand.Read(set);
        Assert.Equal(0x07, sf.FeatureId);
        Assert.True(sf.Save);
        Assert.Equal(0x000F_000Fu, sf.Value);
        var get = new byte[64];
        get[0] = AdminOpcode.GetFeatures;
        get[40] = 0x0B; get[41] = 0x03;
        NvmeGetFeaturesCommand gf = NvmeGetFeaturesCommand.Read(get);
        Assert.Equal(0x0B, gf.FeatureId);
        Assert.Equal(3, gf.Select);

        // §6.1 Fabrics commands: FCTYPE in byte 4.
        var fabrics = new byte[64];
        fabrics[0] = AdminOpcode.Fabrics;
        fabrics[4] = FabricsCommandType.PropertyGet;
        Assert.Equal(FabricsCommandType.PropertyGet, NvmeFabricsCommand.Read(fabrics).FabricsType);

        // A raw admin command: CDW10-13 at bytes 40-55, a transport SGL of the read length.
        var raw = new byte[64];
        new NvmeAdminCommand
        {
            Opcode = 0xC1, Flags = 0x40, CommandId = 0x0102, Nsid = 0xFFFF_FFFF,
            Sgl = SglDescriptor.TransportDataBlock(4096), Cdw10 = 0x0A0B0C0D, Cdw11 = 0x11, Cdw12 = 0x12, Cdw13 = 0x13,
        }.WriteTo(raw);
        byte[] expected = new byte[64];
        expected[0] = 0xC1; expected[1] = 0x40; expected[2] = 0x02; expected[3] = 0x01;
        expected[4] = 0xFF; expected[5] = 0xFF; expected[6] = 0xFF; expected[7] = 0xFF;
        expected[33] = 0x10; expected[39] = 0x5A;
        expected[40] = 0x0D; expected[41] = 0x0C; expected[42] = 0x0B; expected[43] = 0x0A;
        expected[44] = 0x11; expected[48] = 0x12; expected[52] = 0x13;
        Assert.Equal(expected, raw);
    }
}
