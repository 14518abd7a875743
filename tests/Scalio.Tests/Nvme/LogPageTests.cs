using System.Buffers.Binary;
using System.Text;
using Scalio.Nvme;

namespace Scalio.Tests.Nvme;

/// <summary>Byte layouts of the log pages, the namespace identification descriptors and the new Identify Controller fields (NVMe Base 2.0).</summary>
public class LogPageTests
{
    [Fact]
    public void Smart_health_page_layout()
    {
        // Figure "SMART / Health Information Log Page": Critical Warning 0, Composite Temperature 2:1, Available Spare 3,
        // Threshold 4, Percentage Used 5, Data Units Read 47:32, Written 63:48, Host Read Commands 79:64, Host Write
        // Commands 95:80, Power Cycles 127:112, Power On Hours 143:128, Media and Data Integrity Errors 175:160.
        var d = new byte[512];
        d.AsSpan().Fill(0xEE);
        NvmeLogPages.WriteSmartHealth(new SmartHealthCounters
        {
            BytesRead = 512_000 * 3 + 1, BytesWritten = 4096, ReadCommands = 7, WriteCommands = 9, PowerOnHours = 2, MediaErrors = 5,
        }, d);
        Assert.Equal(0, d[0]);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(d.AsSpan(1)));
        Assert.Equal(100, d[3]);
        Assert.Equal(10, d[4]);
        Assert.Equal(0, d[5]);
        Assert.Equal(4ul, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(32)));  // rounded up
        Assert.Equal(1ul, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(48)));
        Assert.Equal(7ul, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(64)));
        Assert.Equal(9ul, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(80)));
        Assert.Equal(1ul, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(112)));
        Assert.Equal(2ul, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(128)));
        Assert.Equal(5ul, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(160)));
        for (int i = 0; i < 512; i++)
        {
            bool set = i is 3 or 4 or 32 or 48 or 64 or 80 or 112 or 128 or 160;
            Assert.True(set == (d[i] != 0), $"byte {i} = {d[i]:X2}");
        }

        NvmeLogPages.WriteSmartHealth(new SmartHealthCounters { ReadOnly = true }, d);
        Assert.Equal(0x08, d[0]); // media placed in read-only mode
        Assert.Throws<ArgumentException>(() => NvmeLogPages.WriteSmartHealth(default, new byte[511]));
    }

    [Theory]
    [InlineData(0L, 0ul)]
    [InlineData(1L, 1ul)]
    [InlineData(512_000L, 1ul)]
    [InlineData(512_001L, 2ul)]
    public void Data_units_are_thousands_of_512_byte_units_rounded_up(long bytes, ulong units) =>
        Assert.Equal(units, NvmeLogPages.DataUnits(bytes));

    [Fact]
    public void Firmware_slot_page_layout()
    {
        // Figure "Firmware Slot Information Log Page": AFI byte 0 (active slot in bits 2:0), FRS1 15:8, FRS2..7 after.
        var d = new byte[512];
        d.AsSpan().Fill(0xEE);
        NvmeLogPages.WriteFirmwareSlot("1.0", d);
        Assert.Equal(1, d[0]);
        Assert.All(d[1..8], b => Assert.Equal(0, b));
        Assert.Equal("1.0     ", Encoding.ASCII.GetString(d, 8, 8));
        Assert.All(d[16..], b => Assert.Equal(0, b));
        Assert.Throws<ArgumentException>(() => NvmeLogPages.WriteFirmwareSlot("123456789", d));
    }

    [Fact]
    public void Error_information_entries_are_all_invalid_zeros()
    {
        var d = new byte[200];
        d.AsSpan().Fill(0xEE);
        NvmeLogPages.WriteErrorInformation(2, d);
        Assert.All(d[..128], b => Assert.Equal(0, b)); // Error Count 0: entry not valid
        Assert.All(d[128..], b => Assert.Equal(0xEE, b));
        Assert.Throws<ArgumentException>(() => NvmeLogPages.WriteErrorInformation(4, d));
    }

    [Fact]
    public void Changed_namespace_list_layout()
    {
        var d = new byte[4096];
        d.AsSpan().Fill(0xEE);
        NvmeLogPages.WriteChangedNamespaceList([3, 9], d);
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32LittleEndian(d));
        Assert.Equal(9u, BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(4)));
        Assert.All(d[8..], b => Assert.Equal(0, b));
        NvmeLogPages.WriteChangedNamespaceList(new uint[1025], d);
        Assert.Equal(0xFFFF_FFFFu, BinaryPrimitives.ReadUInt32LittleEndian(d)); // more than 1024 changed
        Assert.All(d[4..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Namespace_identification_descriptors_layout()
    {
        // Figure "Namespace Identification Descriptor": NIDT 0, NIDL 1, reserved 3:2, NID from 4; packed, zeros end the list.
        byte[] nguid = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();
        var uuid = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff");
        var d = new byte[4096];
        d.AsSpan().Fill(0xEE);
        int length = NvmeIdentify.WriteNamespaceDescriptors(nguid, uuid, 0, d);
        Assert.Equal(45, length);
        Assert.Equal(new byte[] { 2, 16, 0, 0 }, d[0..4]);
        Assert.Equal(nguid, d[4..20]);
        Assert.Equal(new byte[] { 3, 16, 0, 0 }, d[20..24]);
        Assert.Equal(Convert.FromHexString("00112233445566778899aabbccddeeff"), d[24..40]); // RFC 4122 (big-endian) order
        Assert.Equal(new byte[] { 4, 1, 0, 0, 0 }, d[40..45]);
        Assert.All(d[45..], b => Assert.Equal(0, b));
        Assert.Throws<ArgumentException>(() => NvmeIdentify.WriteNamespaceDescriptors(new byte[16], uuid, 0, d));
        Assert.Throws<ArgumentException>(() => NvmeIdentify.WriteNamespaceDescriptors(nguid, Guid.Empty, 0, d));
    }

    [Fact]
    public void Identify_namespace_carries_the_nguid()
    {
        using var ns = new RamNamespace(1, 512, 64);
        byte[] nguid = Enumerable.Range(0xA0, 16).Select(i => (byte)i).ToArray();
        var d = new byte[4096];
        NvmeIdentify.WriteNamespace(ns, nguid, d);
        Assert.Equal(nguid, d[104..120]); // NGUID 119:104
        Assert.All(d[120..128], b => Assert.Equal(0, b)); // EUI64 not reported
        Assert.Equal(new IdentifyNamespaceSummary(64, 64, 64, 512), NvmeIdentify.ReadNamespace(d));
    }

    [Fact]
    public void Identify_controller_event_log_and_firmware_fields()
    {
        // OAES 95:92, ACL 258, AERL 259, FRMW 260, LPA 261, ELPE 262, MSDBD 1807.
        var d = new byte[4096];
        NvmeIdentify.WriteController(new NvmeControllerIdentity
        {
            AsyncEventsSupported = 1u << 8, AbortCommandLimit = 3, AsyncEventRequestLimit = 3, FirmwareUpdates = 3,
            LogPageAttributes = 4, ErrorLogEntries = 0, MaxSglDescriptors = 1,
        }, d);
        Assert.Equal(new byte[] { 0, 1, 0, 0 }, d[92..96]);
        Assert.Equal(new byte[] { 3, 3, 3, 4, 0 }, d[258..263]);
        Assert.Equal(1, d[1807]);
    }
}
