using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;

namespace Scalio.Tests.NvmeTcp;

/// <summary>
/// The admin commands a Linux host sends after Connect, against the target on 127.0.0.1: Identify CNS 00h-06h,
/// Get Log Page 01h-04h, Set/Get Features, held Asynchronous Event Requests and Abort, and Disconnect.
/// </summary>
public sealed class AdminCommandTests
{
    private static NvmeStatus Status(NvmeCompletion c) => c.Status;

    private static async Task<(NvmeCompletion Cqe, byte[] Data)> Identify(NvmeTcpInitiator nvme, byte cns, uint nsid, byte csi = 0)
    {
        byte[] data = GC.AllocateArray<byte>(4096, pinned: true);
        NvmeCompletion c = await nvme.AdminCommandAsync(AdminOpcode.Identify, nsid, cns, (uint)csi << 24, readDestination: data);
        return (c, data);
    }

    private static async Task<(NvmeCompletion Cqe, byte[] Data)> GetLog(NvmeTcpInitiator nvme, byte lid, int length, ulong offset = 0, int sglLength = -1)
    {
        byte[] data = GC.AllocateArray<byte>(length, pinned: true);
        uint numd = (uint)(length / 4 - 1);
        NvmeCompletion c = await nvme.AdminCommandAsync(AdminOpcode.GetLogPage, 0xFFFF_FFFF, lid | (numd << 16), numd >> 16, (uint)offset, (uint)(offset >> 32),
            readDestination: sglLength < 0 ? data : data.AsMemory(0, sglLength));
        return (c, data);
    }

    [Fact]
    public async Task Namespace_descriptors_report_a_stable_NGUID_and_UUID_that_match_Identify_Namespace()
    {
        using var fx = new TargetFixture();
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync();
        (NvmeCompletion c, byte[] d) = await Identify(nvme, IdentifyCns.NamespaceDescriptors, 1);
        Assert.True(c.Status.IsSuccess, c.Status.ToString());
        (byte[] nguid, Guid uuid) = NvmeTcpTarget.NamespaceIdentifiers(fx.Target.Options, fx.Namespace);
        Assert.Equal(new byte[] { 2, 16, 0, 0 }, d[0..4]);
        Assert.Equal(nguid, d[4..20]);
        Assert.Equal(new byte[] { 3, 16, 0, 0 }, d[20..24]);
        Assert.Equal(uuid, new Guid(d.AsSpan(24, 16), bigEndian: true));
        Assert.Equal(8, d[24 + 6] >> 4); // version 8 (name-derived)
        Assert.Equal(new byte[] { 4, 1, 0, 0, 0 }, d[40..45]); // CSI: NVM
        Assert.All(d[45..], b => Assert.Equal(0, b));

        (c, byte[] ns) = await Identify(nvme, IdentifyCns.Namespace, 1);
        Assert.True(c.Status.IsSuccess);
        Assert.Equal(nguid, ns[104..120]); // CNS 00h reports the same NGUID

        // Stable: the same subsystem, serial and NSID give the same identifiers; another NSID does not.
        using var again = new RamNamespace(1, 512, 16);
        using var other = new RamNamespace(2, 512, 16);
        Assert.Equal(uuid, NvmeTcpTarget.NamespaceIdentifiers(fx.Target.Options, again).Uuid);
        Assert.NotEqual(uuid, NvmeTcpTarget.NamespaceIdentifiers(fx.Target.Options, other).Uuid);

        Assert.Equal(NvmeStatus.InvalidNamespace, Status((await Identify(nvme, IdentifyCns.NamespaceDescriptors, 7)).Cqe));
    }

    [Fact]
    public async Task Identify_controller_announces_events_log_pages_and_firmware_and_command_set_structures_answer()
    {
        using var fx = new TargetFixture();
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync();
        (NvmeCompletion c, byte[] d) = await Identify(nvme, IdentifyCns.Controller, 0);
        Assert.True(c.Status.IsSuccess);
        Assert.Equal(1u << 8, BinaryPrimitives.ReadUInt32LittleEndian(d.AsSpan(92))); // OAES: namespace attribute notices
        Assert.Equal(3, d[258]);  // ACL
        Assert.Equal(3, d[259]);  // AERL: 4 AERs held at once
        Assert.Equal(3, d[260]);  // FRMW: one read-only slot
        Assert.Equal(4, d[261]);  // LPA: extended Get Log Page
        Assert.Equal(0, d[262]);  // ELPE: one error log entry
        Assert.Equal(1, d[1807]); // MSDBD
        Assert.Equal("1.0     ", Encoding.ASCII.GetString(d, 64, 8));

        (c, d) = await Identify(nvme, IdentifyCns.CommandSetController, 0, csi: 0);
        Assert.True(c.Status.IsSuccess);
        Assert.All(d, b => Assert.Equal(0, b));
        Assert.Equal(NvmeStatus.InvalidField, Status((await Identify(nvme, IdentifyCns.CommandSetController, 0, csi: 2)).Cqe)); // ZNS: not here
        Assert.True((await Identify(nvme, IdentifyCns.CommandSetNamespace, 1, csi: 0)).Cqe.Status.IsSuccess);
        Assert.Equal(NvmeStatus.InvalidField, Status((await Identify(nvme, 0x10, 0)).Cqe));
        (c, d) = await Identify(nvme, IdentifyCns.ActiveNamespaceList, 0);
        Assert.True(c.Status.IsSuccess);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(d));
        Assert.All(d[4..], b => Assert.Equal(0, b));
        Assert.Equal(NvmeStatus.InvalidNamespace, Status((await Identify(nvme, IdentifyCns.ActiveNamespaceList, 0xFFFF_FFFF)).Cqe));
    }

    [Fact]
    public async Task Log_pages_error_smart_firmware_and_changed_namespaces()
    {
        using var fx = new TargetFixture();
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync();
        byte[] block = GC.AllocateArray<byte>(4096, pinned: true);
        await nvme.WriteAsync(1, 0, 8, block);
        await nvme.ReadAsync(1, 0, 8, block);

        (NvmeCompletion c, byte[] d) = await GetLog(nvme, LogPageId.ErrorInformation, 64);
        Assert.True(c.Status.IsSuccess, c.Status.ToString());
        Assert.All(d, b => Assert.Equal(0, b));

        (c, d) = await GetLog(nvme, LogPageId.SmartHealth, 512);
        Assert.True(c.Status.IsSuccess);
        Assert.Equal(100, d[3]);
        Assert.Equal(1ul, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(32))); // 4 KiB read: 1 data unit (rounded up)
        Assert.Equal(1ul, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(48)));
        Assert.Equal((ulong)fx.Namespace.ReadCount, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(64)));
        Assert.Equal((ulong)fx.Namespace.WriteCount, BinaryPrimitives.ReadUInt64LittleEndian(d.AsSpan(80)));
        Assert.True(fx.Namespace.WriteCount >= 1);

        // Offset 32, 16 bytes: the Data Units Read counter alone; a window past the page's end reads zeros.
        (c, byte[] window) = await GetLog(nvme, LogPageId.SmartHealth, 16, offset: 32);
        Assert.True(c.Status.IsSuccess);
        Assert.Equal(d[32..48], window);
        (c, window) = await GetLog(nvme, LogPageId.SmartHealth, 1024);
        Assert.True(c.Status.IsSuccess);
        Assert.All(window[512..], b => Assert.Equal(0, b));

        (c, d) = await GetLog(nvme, LogPageId.FirmwareSlot, 512);
        Assert.True(c.Status.IsSuccess);
        Assert.Equal(1, d[0]);
        Assert.Equal("1.0     ", Encoding.ASCII.GetString(d, 8, 8));

        (c, d) = await GetLog(nvme, LogPageId.ChangedNamespaceList, 4096);
        Assert.True(c.Status.IsSuccess);
        Assert.All(d, b => Assert.Equal(0, b));

        Assert.Equal(NvmeStatus.InvalidLogPage, Status((await GetLog(nvme, 0xC0, 512)).Cqe));
        Assert.Equal(NvmeStatus.InvalidField, Status((await GetLog(nvme, LogPageId.SmartHealth, 16, offset: 2)).Cqe)); // not dword aligned
        Assert.Equal(NvmeStatus.InvalidField, Status((await GetLog(nvme, LogPageId.SmartHealth, 16, offset: 512)).Cqe)); // past the page
        Assert.Equal(NvmeStatus.DataSglLengthInvalid, Status((await GetLog(nvme, LogPageId.SmartHealth, 512, sglLength: 256)).Cqe));
    }

    [Fact]
    public async Task Set_and_get_features_number_of_queues_async_event_config_and_keep_alive()
    {
        using var fx = new TargetFixture();
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync();
        NvmeCompletion c = await nvme.AdminCommandAsync(AdminOpcode.SetFeatures, 0, FeatureId.NumberOfQueues, 0x0003_0003);
        Assert.True(c.Status.IsSuccess);
        Assert.Equal(0x000F_000Fu, c.Dw0); // 16 I/O queues granted (zero-based)
        Assert.Equal(0x000F_000Fu, (await nvme.AdminCommandAsync(AdminOpcode.GetFeatures, 0, FeatureId.NumberOfQueues)).Dw0);
        Assert.Equal(NvmeStatus.InvalidField, (await nvme.AdminCommandAsync(AdminOpcode.SetFeatures, 0, FeatureId.NumberOfQueues, 0xFFFF_FFFF)).Status);

        Assert.True((await nvme.AdminCommandAsync(AdminOpcode.SetFeatures, 0, FeatureId.AsyncEventConfiguration, 0x0000_0100)).Status.IsSuccess);
        Assert.Equal(0x100u, (await nvme.AdminCommandAsync(AdminOpcode.GetFeatures, 0, FeatureId.AsyncEventConfiguration)).Dw0);
        Assert.True((await nvme.AdminCommandAsync(AdminOpcode.SetFeatures, 0, FeatureId.AsyncEventConfiguration, 0x8000_0300)).Status.IsSuccess);
        Assert.Equal(0x100u, (await nvme.AdminCommandAsync(AdminOpcode.GetFeatures, 0, FeatureId.AsyncEventConfiguration)).Dw0); // unannounced events dropped

        Assert.True((await nvme.AdminCommandAsync(AdminOpcode.SetFeatures, 0, FeatureId.KeepAliveTimer, 15_000)).Status.IsSuccess);
        Assert.Equal(15_000u, (await nvme.AdminCommandAsync(AdminOpcode.GetFeatures, 0, FeatureId.KeepAliveTimer)).Dw0);
        Assert.Equal(0u, (await nvme.AdminCommandAsync(AdminOpcode.GetFeatures, 0, FeatureId.KeepAliveTimer | (1u << 8))).Dw0); // SEL 1: default
        Assert.Equal(0b100u, (await nvme.AdminCommandAsync(AdminOpcode.GetFeatures, 0, FeatureId.KeepAliveTimer | (3u << 8))).Dw0); // SEL 3: changeable

        Assert.Equal(1u, (await nvme.AdminCommandAsync(AdminOpcode.GetFeatures, 0, FeatureId.VolatileWriteCache)).Dw0);
        Assert.Equal(NvmeStatus.FeatureNotChangeable, (await nvme.AdminCommandAsync(AdminOpcode.SetFeatures, 0, FeatureId.VolatileWriteCache, 0)).Status);
        Assert.Equal(NvmeStatus.FeatureNotSaveable, (await nvme.AdminCommandAsync(AdminOpcode.SetFeatures, 0, FeatureId.Arbitration | 0x8000_0000u, 0)).Status);
        Assert.Equal(NvmeStatus.InvalidField, (await nvme.AdminCommandAsync(AdminOpcode.SetFeatures, 0, FeatureId.InterruptCoalescing, 0)).Status); // not on fabrics
        Assert.Equal(NvmeStatus.InvalidField, (await nvme.AdminCommandAsync(AdminOpcode.SetFeatures, 0, FeatureId.PowerManagement, 1)).Status); // only PS 0
        Assert.True((await nvme.AdminCommandAsync(AdminOpcode.SetFeatures, 0, FeatureId.TemperatureThreshold, 350)).Status.IsSuccess);
        Assert.Equal(350u, (await nvme.AdminCommandAsync(AdminOpcode.GetFeatures, 0, FeatureId.TemperatureThreshold)).Dw0);
        Assert.Equal(NvmeStatus.InvalidField, (await nvme.AdminCommandAsync(AdminOpcode.GetFeatures, 0, 0x7E)).Status);
    }

    [Fact]
    public async Task Async_event_requests_are_held_until_aborted_and_limited_to_four()
    {
        using var fx = new TargetFixture();
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync();
        var aers = new List<Task<NvmeCompletion>>();
        for (int i = 0; i < 4; i++) aers.Add(nvme.AdminCommandAsync(AdminOpcode.AsyncEventRequest, 0, 0));
        await nvme.KeepAliveAsync(); // commands are handled in order: the AERs were seen and held
        Assert.All(aers, t => Assert.False(t.IsCompleted));
        Assert.Equal(NvmeStatus.AsyncEventRequestLimitExceeded, (await nvme.AdminCommandAsync(AdminOpcode.AsyncEventRequest, 0, 0)).Status);

        // Abort every CID the admin queue may use (SQID 0): exactly the four held AERs are aborted (DW0 bit 0 clear).
        int aborted = 0;
        for (uint cid = 0; cid < 64; cid++)
        {
            NvmeCompletion a = await nvme.AdminCommandAsync(AdminOpcode.Abort, 0, cid << 16);
            Assert.True(a.Status.IsSuccess);
            if ((a.Dw0 & 1) == 0) aborted++;
        }

        Assert.Equal(4, aborted);
        foreach (Task<NvmeCompletion> t in aers)
        {
            NvmeCompletion c = await t.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Equal(NvmeStatus.CommandAbortRequested, c.Status);
        }
    }

    [Fact]
    public async Task Disconnect_deletes_an_io_queue_and_leaves_the_controller_serving()
    {
        using var fx = new TargetFixture();
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync();
        NvmeCompletion admin = await nvme.AdminCommandAsync(0x7E, 0, 0); // vendor-specific: not served
        Assert.Equal(NvmeStatus.InvalidOpcode, admin.Status);

        // A second I/O queue of the same controller on a raw socket, then Disconnect on it.
        using var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 5000 };
        s.Connect(new IPEndPoint(IPAddress.Loopback, fx.Port));
        var ic = new byte[128];
        new ICReqPdu { PduLength = 128 }.WriteHeader(ic);
        s.Send(ic);
        ReceiveExactly(s, 128);
        var connect = new byte[72 + 1024];
        new CapsuleCmdPdu { PduDataOffset = 72, PduLength = (uint)connect.Length }.WriteHeader(connect);
        new NvmeConnectCommand { CommandId = 1, Flags = 0x40, SglIdentifier = 0x01, SglLength = 1024, QueueId = 2, SubmissionQueueSize = 31 }.WriteTo(connect.AsSpan(8));
        NvmeTcpWire.WriteConnectData(connect.AsSpan(72), Guid.NewGuid(), nvme.ControllerId, TargetFixture.Nqn, nvme.HostNqn);
        s.Send(connect);
        Assert.True(ReadStatus(s).IsSuccess);

        var disconnect = new byte[72];
        new CapsuleCmdPdu { PduLength = 72 }.WriteHeader(disconnect);
        disconnect[8] = AdminOpcode.Fabrics;
        disconnect[9] = 0x40;
        disconnect[10] = 2; // CID
        disconnect[12] = FabricsCommandType.Disconnect;
        s.Send(disconnect);
        Assert.True(ReadStatus(s).IsSuccess);
        Assert.Equal(0, s.Receive(new byte[1])); // the queue is gone: the target closes the connection

        // The controller and its first I/O queue are untouched.
        byte[] block = GC.AllocateArray<byte>(512, pinned: true);
        await nvme.ReadAsync(1, 0, 1, block);
    }

    private static NvmeStatus ReadStatus(Socket s)
    {
        byte[] resp = ReceiveExactly(s, 24);
        Assert.Equal(NvmeTcpPduType.CapsuleResp, resp[0]);
        return NvmeStatus.FromValue((ushort)(BinaryPrimitives.ReadUInt16LittleEndian(resp.AsSpan(8 + 14)) >> 1));
    }

    internal static byte[] ReceiveExactly(Socket s, int n)
    {
        var b = new byte[n];
        int got = 0;
        while (got < n)
        {
            int r = s.Receive(b, got, n - got, SocketFlags.None);
            Assert.True(r > 0, "the target closed the connection");
            got += r;
        }

        return b;
    }
}
