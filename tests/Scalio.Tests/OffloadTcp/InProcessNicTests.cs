using System.Buffers.Binary;
using System.Net;
using Scalio.Fast;
using Scalio.Fast.OffloadTcp;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;

namespace Scalio.Tests.OffloadTcp;

/// <summary>
/// The server's in-process emulated NIC (<see cref="StoreOffloadTarget.Serve"/>): serves the store's own RAM devices
/// over NVMe/TCP, reads see what the server wrote, writes are refused and leave the device as it was.
/// </summary>
public sealed class InProcessNicTests
{
    [Fact]
    public async Task Serves_the_store_RAM_devices_read_only()
    {
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 400, Devices = 2 });
        using var nic = StoreOffloadTarget.Serve(store, new StoreOffloadTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0) });
        Assert.True(nic.IsInProcess);
        Assert.Null(nic.DataDirectory);
        Assert.Empty(nic.Namespaces);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var nvme = await NvmeTcpInitiator.ConnectAsync("127.0.0.1", nic.Endpoint.Port, nic.SubsystemNqn, hostNqn: null, cts.Token);
        var page = new byte[4096];
        for (uint nsid = 1; nsid <= 2; nsid++)
        {
            await nvme.ReadAsync(nsid, 0, 1, page, cts.Token);
            Assert.Equal(0x31534353u, BinaryPrimitives.ReadUInt32LittleEndian(page)); // the superblock the server formatted ("SCS1")
            Assert.Equal(nsid - 1, BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(20))); // device index
        }

        var zeros = new byte[4096];
        var refused = await Assert.ThrowsAsync<NvmeCommandException>(async () => await nvme.WriteAsync(1, 0, 1, zeros, cts.Token));
        Assert.Equal(NvmeStatus.NamespaceWriteProtected, refused.Status);
        var again = new byte[4096];
        await nvme.ReadAsync(1, 0, 1, again, cts.Token);
        Assert.Equal(0x31534353u, BinaryPrimitives.ReadUInt32LittleEndian(again)); // the refused write changed nothing
        Assert.True(nic.Commands >= 3);
    }
}
