using System.Buffers.Binary;
using System.Text;
using Scalio.Nvme;

namespace Scalio.Tests.Nvme;

public class IdentifyTests
{
    [Theory]
    [InlineData(512, 9)]
    [InlineData(4096, 12)]
    public void Identify_namespace_fields(int lbaSize, int lbads)
    {
        // NVM Command Set 1.0 Figure "Identify Namespace Data Structure": NSZE 7:0, NCAP 15:8, NUSE 23:16,
        // NLBAF 25, FLBAS 26, LBAF0 131:128 with LBADS in bits 23:16 (byte 130), MS 15:0 = 0.
        var d = new byte[4096];
        d.AsSpan().Fill(0xEE); // every byte not set must be cleared
        NvmeIdentify.WriteNamespace(0x0102_0304, lbaSize, d);
        Assert.Equal(new byte[] { 0x04, 0x03, 0x02, 0x01, 0, 0, 0, 0 }, d[0..8]);
        Assert.Equal(d[0..8], d[8..16]);
        Assert.Equal(d[0..8], d[16..24]);
        Assert.Equal(0, d[25]);
        Assert.Equal(0, d[26]);
        Assert.Equal(new byte[] { 0x00, 0x00, (byte)lbads, 0x00 }, d[128..132]);
        for (int i = 0; i < 4096; i++)
        {
            bool set = i is (>= 0 and < 4) or (>= 8 and < 12) or (>= 16 and < 20) or 130;
            Assert.True(set == (d[i] != 0), $"byte {i} = {d[i]:X2}");
        }
        Assert.Equal(new IdentifyNamespaceSummary(0x0102_0304, 0x0102_0304, 0x0102_0304, lbaSize), NvmeIdentify.ReadNamespace(d));
    }

    [Fact]
    public void Identify_namespace_from_a_namespace()
    {
        using var ns = new RamNamespace(1, 4096, 77);
        var d = new byte[4096];
        NvmeIdentify.WriteNamespace(ns, d);
        Assert.Equal(new IdentifyNamespaceSummary(77, 77, 77, 4096), NvmeIdentify.ReadNamespace(d));
    }

    [Fact]
    public void Read_namespace_follows_flbas()
    {
        var d = new byte[4096];
        NvmeIdentify.WriteNamespace(100, 512, d);
        d[25] = 1;                 // two formats
        d[26] = 1;                 // the second is in use
        d[132 + 2] = 12;           // LBAF1: 4 KiB
        Assert.Equal(4096, NvmeIdentify.ReadNamespace(d).LbaSize);
        d[26] = 2;
        Assert.Throws<InvalidDataException>(() => NvmeIdentify.ReadNamespace(d));
        Assert.Throws<ArgumentException>(() => NvmeIdentify.ReadNamespace(new byte[100]));
    }

    [Fact]
    public void Identify_controller_fields()
    {
        // NVMe Base 2.0 Figure "Identify Controller Data Structure": VID 1:0, SSVID 3:2, SN 23:4, MN 63:24, FR 71:64
        // (ASCII, space padded), MDTS 77, CNTLID 79:78, VER 83:80, CNTRLTYPE 111, KAS 321:320, SQES 512, CQES 513,
        // MAXCMD 515:514, NN 519:516, VWC 525, SGLS 539:536, SUBNQN 1023:768, IOCCSZ 1795:1792, IORCSZ 1799:1796.
        var id = new NvmeControllerIdentity
        {
            VendorId = 0x1B36,
            SubsystemVendorId = 0x1AF4,
            SerialNumber = "SCALIO-0001",
            ModelNumber = "Scalio JBOF",
            FirmwareRevision = "2.1",
            MaxDataTransferSize = 5,
            ControllerId = 0x0102,
            Version = 0x0001_0300,
            MaxOutstandingCommands = 1024,
            NamespaceCount = 4,
            SubsystemNqn = "nqn.2025-07.io.scalio:jbof0",
            InCapsuleDataSize = 16384,
        };
        var d = new byte[4096];
        d.AsSpan().Fill(0xEE);
        NvmeIdentify.WriteController(id, d);
        Assert.Equal(new byte[] { 0x36, 0x1B, 0xF4, 0x1A }, d[0..4]);
        Assert.Equal("SCALIO-0001         ", Encoding.ASCII.GetString(d, 4, 20));
        Assert.Equal("Scalio JBOF".PadRight(40), Encoding.ASCII.GetString(d, 24, 40));
        Assert.Equal("2.1     ", Encoding.ASCII.GetString(d, 64, 8));
        Assert.Equal(5, d[77]);
        Assert.Equal(new byte[] { 0x02, 0x01 }, d[78..80]);
        Assert.Equal(new byte[] { 0x00, 0x03, 0x01, 0x00 }, d[80..84]);
        Assert.Equal(1, d[111]);
        Assert.Equal(10, BinaryPrimitives.ReadUInt16LittleEndian(d.AsSpan(320)));
        Assert.Equal(0x66, d[512]);
        Assert.Equal(0x44, d[513]);
        Assert.Equal(1024, BinaryPrimitives.ReadUInt16LittleEndian(d.AsSpan(514)));
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(516)));
        Assert.Equal(1, d[525]);
        Assert.Equal(0x0010_0005u, BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(536)));
        Assert.Equal("nqn.2025-07.io.scalio:jbof0", Encoding.UTF8.GetString(d, 768, 27));
        Assert.All(d[(768 + 27)..1024], b => Assert.Equal(0, b)); // NUL terminated and padded
        Assert.Equal((64u + 16384) / 16, BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(1792))); // 1028, as Linux nvmet reports
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(1796)));
        Assert.Equal(0, d[4095]);
    }

    [Fact]
    public void Identify_controller_rejects_bad_strings()
    {
        var d = new byte[4096];
        Assert.Throws<ArgumentException>(() => NvmeIdentify.WriteController(new NvmeControllerIdentity { SerialNumber = new string('x', 21) }, d));
        Assert.Throws<ArgumentException>(() => NvmeIdentify.WriteController(new NvmeControllerIdentity { ModelNumber = "caf\u00e9" }, d));
        Assert.Throws<ArgumentException>(() => NvmeIdentify.WriteController(new NvmeControllerIdentity { SubsystemNqn = new string('n', 224) }, d));
        Assert.Throws<ArgumentException>(() => NvmeIdentify.WriteController(new NvmeControllerIdentity(), new byte[4095]));
        Assert.Throws<ArgumentException>(() => NvmeIdentify.WriteController(new NvmeControllerIdentity { InCapsuleDataSize = 10 }, d));
    }
}
