using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Scalio.Fast;
using Scalio.Fast.OffloadTcp;
using Scalio.Tests.Remote;
using Scalio.Tests.Storage;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;

namespace Scalio.Tests.NvmeTcp;

/// <summary>Host allow-lists (<see cref="NvmeTcpTargetOptions.AllowedHosts"/>, <c>--allow-host</c>) with our own initiator.</summary>
public sealed class AllowListTests
{
    private const string HostA = "nqn.2014-08.org.nvmexpress:uuid:aaaaaaaa-0000-4000-8000-000000000001";
    private const string HostB = "nqn.2014-08.org.nvmexpress:uuid:bbbbbbbb-0000-4000-8000-000000000002";

    [Fact]
    public async Task A_host_not_on_the_list_is_refused_with_Connect_Invalid_Host_and_a_listed_host_is_admitted()
    {
        using var fx = new TargetFixture(allowedHosts: [HostA]);
        var refused = new List<string>();
        fx.Target.HostRefused += (host, peer) => { lock (refused) refused.Add($"{host} {peer}"); };

        var e = await Assert.ThrowsAsync<NvmeCommandException>(() => fx.ConnectAsync(new NvmeTcpInitiatorOptions { HostNqn = HostB }));
        Assert.Equal(NvmeStatusCodeType.CommandSpecific, e.Status.StatusCodeType);
        Assert.Equal(0x84, e.Status.StatusCode);
        Assert.True(e.Status.DoNotRetry);
        Assert.Equal(NvmeStatus.ConnectInvalidHost, e.Status);
        Assert.Equal(1, fx.Target.HostsRefused);
        lock (refused) Assert.StartsWith(HostB + " 127.0.0.1:", Assert.Single(refused));

        await using NvmeTcpInitiator nvme = await fx.ConnectAsync(new NvmeTcpInitiatorOptions { HostNqn = HostA });
        byte[] data = GC.AllocateArray<byte>(4096, pinned: true);
        data.AsSpan().Fill(0x5A);
        await nvme.WriteAsync(1, 0, 8, data);
        byte[] back = GC.AllocateArray<byte>(4096, pinned: true);
        await nvme.ReadAsync(1, 0, 8, back);
        Assert.Equal(data, back);
        Assert.Equal(1, fx.Target.HostsRefused);
    }

    [Fact]
    public async Task Without_a_list_any_host_is_admitted()
    {
        using var fx = new TargetFixture();
        Assert.True(fx.Target.IsHostAllowed(HostB));
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync(new NvmeTcpInitiatorOptions { HostNqn = HostB });
        Assert.Equal(0, fx.Target.HostsRefused);
    }

    [Fact]
    public void After_a_refused_Connect_nothing_is_served_on_that_connection_not_even_a_second_Connect()
    {
        using var fx = new TargetFixture(allowedHosts: [HostA]);
        using var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 5000 };
        s.Connect(new IPEndPoint(IPAddress.Loopback, fx.Port));
        var ic = new byte[128];
        new ICReqPdu { PduLength = 128 }.WriteHeader(ic);
        s.Send(ic);
        AdminCommandTests.ReceiveExactly(s, 128);

        s.Send(Connect(1, HostB));
        Assert.Equal(NvmeStatus.ConnectInvalidHost, Status(s));

        var identify = new byte[72];
        new CapsuleCmdPdu { PduLength = 72 }.WriteHeader(identify);
        new NvmeIdentifyCommand { CommandId = 2, Flags = 0x40, SglIdentifier = NvmeTcpWire.SglTransport, SglLength = 4096, Cns = IdentifyCns.Controller }.WriteTo(identify.AsSpan(8));
        s.Send(identify);
        Assert.Equal(NvmeStatus.CommandSequenceError, Status(s));

        s.Send(Connect(3, HostA));
        Assert.Equal(NvmeStatus.CommandSequenceError, Status(s)); // a refused connection stays refused
    }

    [Fact]
    public void The_list_rejects_empty_and_oversized_NQNs()
    {
        using var ns = new RamNamespace(1, 512, 16);
        Assert.Throws<ArgumentException>(() => new NvmeTcpTarget(new NvmeTcpTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), AllowedHosts = [""] }, [ns]));
        Assert.Throws<ArgumentException>(() => new NvmeTcpTarget(new NvmeTcpTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), AllowedHosts = ["nqn." + new string('x', 220)] }, [ns]));
    }

    [Fact]
    public async Task The_offload_target_refuses_unlisted_hosts_and_serves_listed_ones()
    {
        using var dir = new TempDir();
        using (var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 500, Devices = 1, DataDirectory = dir.Path, BatchSize = 1 }))
        {
        }

        using var target = StoreOffloadTarget.Open(dir.Path, new StoreOffloadTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), AllowedHosts = [HostA] });
        var e = await Assert.ThrowsAsync<NvmeCommandException>(() =>
            NvmeTcpInitiator.ConnectAsync("127.0.0.1", target.Endpoint.Port, target.SubsystemNqn, HostB));
        Assert.Equal(NvmeStatus.ConnectInvalidHost, e.Status);
        await using NvmeTcpInitiator nvme = await NvmeTcpInitiator.ConnectAsync("127.0.0.1", target.Endpoint.Port, target.SubsystemNqn, HostA);
        byte[] page = GC.AllocateArray<byte>(4096, pinned: true);
        await nvme.ReadAsync(1, 0, 1, page);
        Assert.Equal(0x31534353u, BinaryPrimitives.ReadUInt32LittleEndian(page)); // the store's superblock
        Assert.Equal(1, target.Target.HostsRefused);
    }

    [Fact]
    public async Task Cli_warns_without_allow_host_and_rejects_a_malformed_one()
    {
        using (var open = new ScalioProcess("nvme target", "nvme", "target", "--listen", "127.0.0.1:0", "--ram-mib", "1"))
        {
            await open.WaitForLineAsync(l => l.Contains("nvme target ready", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
            await Task.Delay(200);
            Assert.Contains(open.Lines, l => l.StartsWith("[stderr] nvme target: warning: no --allow-host given", StringComparison.Ordinal));
            open.Terminate();
            Assert.Equal(0, await open.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }

        using var bad = new ScalioProcess("nvme target", "nvme", "target", "--listen", "127.0.0.1:0", "--allow-host", "host-b");
        Assert.Equal(2, await bad.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        string error = Assert.Single(bad.Lines, l => l.StartsWith("[stderr]", StringComparison.Ordinal));
        Assert.Contains("--allow-host needs an NQN", error);
    }

    private static byte[] Connect(ushort cid, string hostNqn)
    {
        var pdu = new byte[72 + 1024];
        new CapsuleCmdPdu { PduDataOffset = 72, PduLength = (uint)pdu.Length }.WriteHeader(pdu);
        new NvmeConnectCommand { CommandId = cid, Flags = 0x40, SglIdentifier = 0x01, SglLength = 1024, QueueId = 0, SubmissionQueueSize = 31 }.WriteTo(pdu.AsSpan(8));
        NvmeTcpWire.WriteConnectData(pdu.AsSpan(72), Guid.NewGuid(), 0xFFFF, TargetFixture.Nqn, hostNqn);
        return pdu;
    }

    private static NvmeStatus Status(Socket s)
    {
        byte[] resp = AdminCommandTests.ReceiveExactly(s, 24);
        Assert.Equal(NvmeTcpPduType.CapsuleResp, resp[0]);
        return NvmeStatus.FromValue((ushort)(BinaryPrimitives.ReadUInt16LittleEndian(resp.AsSpan(8 + 14)) >> 1));
    }
}
