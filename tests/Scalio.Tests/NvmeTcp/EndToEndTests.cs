using Scalio.Nvme;
using Scalio.Nvme.Tcp;

namespace Scalio.Tests.NvmeTcp;

/// <summary>The initiator against the target on 127.0.0.1: bring-up, identify, in-capsule and R2T writes, C2HData reads, flush, digests, errors.</summary>
public sealed class EndToEndTests
{
    private static byte[] Pattern(int length, int seed)
    {
        var b = GC.AllocateArray<byte>(length, pinned: true);
        new Random(seed).NextBytes(b);
        return b;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task Identify_write_read_back_and_flush(bool headerDigest, bool dataDigest)
    {
        using var fx = new TargetFixture();
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync(new NvmeTcpInitiatorOptions { HeaderDigest = headerDigest, DataDigest = dataDigest });
        Assert.Equal(headerDigest, nvme.HeaderDigest);
        Assert.Equal(dataDigest, nvme.DataDigest);

        NvmeTcpControllerInfo ctrl = await nvme.IdentifyControllerAsync();
        Assert.Equal(TargetFixture.Nqn, ctrl.SubsystemNqn);
        Assert.Equal(nvme.ControllerId, ctrl.ControllerId);
        Assert.Equal(16384, ctrl.InCapsuleDataSize);
        Assert.Equal(16384, nvme.InCapsuleDataSize);
        IdentifyNamespaceSummary ns = await nvme.IdentifyNamespaceAsync(1);
        Assert.Equal(8192UL, ns.Size);
        Assert.Equal(512, ns.LbaSize);

        // In-capsule: 8 blocks = 4 KiB <= 16 KiB
        byte[] small = Pattern(4096, 1);
        await nvme.WriteAsync(1, 10, 8, small);
        byte[] back = new byte[4096];
        await nvme.ReadAsync(1, 10, 8, back);
        Assert.Equal(small, back);

        // R2T/H2CData: 200 blocks = 100 KiB > 16 KiB, and > MAXH2CDATA (32 KiB) so it takes several H2CData PDUs
        byte[] large = Pattern(200 * 512, 2);
        await nvme.WriteAsync(1, 1000, 200, large);
        byte[] largeBack = new byte[large.Length];
        await nvme.ReadAsync(1, 1000, 200, largeBack);
        Assert.Equal(large, largeBack);

        // The namespace holds exactly what was written, where it was written
        byte[] direct = new byte[large.Length];
        Assert.True(fx.Namespace.Read(1000, 200, direct).IsSuccess);
        Assert.Equal(large, direct);

        await nvme.FlushAsync(1);
        Assert.True(fx.Namespace.FlushCount >= 1);
        await nvme.KeepAliveAsync();
    }

    [Fact]
    public async Task Reads_completed_by_the_c2h_success_flag_and_concurrent_commands()
    {
        using var fx = new TargetFixture(lbaSize: 4096, blocks: 1024);
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync(new NvmeTcpInitiatorOptions { DisableSqFlowControl = true, QueueDepth = 8 });
        byte[] data = Pattern(64 * 4096, 3);
        await nvme.WriteAsync(1, 0, 64, data);
        var tasks = new List<Task>();
        var buffers = new byte[32][];
        for (int i = 0; i < 32; i++)
        {
            buffers[i] = new byte[2 * 4096];
            tasks.Add(nvme.ReadAsync(1, (ulong)(2 * i), 2, buffers[i]).AsTask());
        }

        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(20));
        for (int i = 0; i < 32; i++)
        {
            Assert.Equal(data.AsSpan(i * 8192, 8192).ToArray(), buffers[i]);
        }
    }

    [Fact]
    public async Task Concurrent_r2t_writes_to_a_file_namespace_read_back()
    {
        string path = Path.Combine(Path.GetTempPath(), $"scalio-nvmetcp-{Guid.NewGuid():N}.img");
        try
        {
            using var ns = FileNamespace.Open(path, 1, 4096, 256);
            using var target = new NvmeTcpTarget(
                new NvmeTcpTargetOptions { Endpoint = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0), SubsystemNqn = TargetFixture.Nqn },
                [ns]);
            target.Start();
            await using NvmeTcpInitiator nvme = await NvmeTcpInitiator.ConnectAsync("127.0.0.1", target.Endpoint.Port, TargetFixture.Nqn,
                new NvmeTcpInitiatorOptions { DataDigest = true }, new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
            var blobs = new byte[8][];
            var writes = new List<Task>();
            for (int i = 0; i < blobs.Length; i++)
            {
                blobs[i] = Pattern(16 * 4096, 10 + i); // 64 KiB each: R2T, several outstanding at once
                writes.Add(nvme.WriteAsync(1, (ulong)(i * 16), 16, blobs[i]).AsTask());
            }

            await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(20));
            await nvme.FlushAsync(1);
            for (int i = 0; i < blobs.Length; i++)
            {
                byte[] back = new byte[blobs[i].Length];
                await nvme.ReadAsync(1, (ulong)(i * 16), 16, back);
                Assert.Equal(blobs[i], back);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Nvme_errors_surface_as_statuses()
    {
        using var fx = new TargetFixture(blocks: 128);
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync();
        var e = await Assert.ThrowsAsync<NvmeCommandException>(async () => await nvme.ReadAsync(1, 120, 16, new byte[16 * 512]));
        Assert.Equal(NvmeStatus.LbaOutOfRange, e.Status);
        e = await Assert.ThrowsAsync<NvmeCommandException>(async () => await nvme.IdentifyNamespaceAsync(9));
        Assert.Equal(NvmeStatus.InvalidNamespace, e.Status);
        await Assert.ThrowsAsync<ArgumentException>(async () => await nvme.WriteAsync(1, 0, 4, new byte[100]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await nvme.ReadAsync(1, 0, 0, new byte[512]));

        // The connection still works after command errors
        await nvme.WriteAsync(1, 0, 1, Pattern(512, 4));
    }

    [Fact] // Same status and DW0 as Linux nvmet for a wrong subsystem NQN (see NVME-TCP-NOTES.md)
    public async Task Wrong_subsystem_nqn_fails_connect_with_invalid_parameters_pointing_at_subnqn()
    {
        using var fx = new TargetFixture();
        var e = await Assert.ThrowsAsync<NvmeCommandException>(() =>
            NvmeTcpInitiator.ConnectAsync("127.0.0.1", fx.Port, "nqn.2024-01.io.scalio:wrong", hostNqn: null, cancellationToken: new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token));
        Assert.Equal(NvmeStatusCodeType.CommandSpecific, e.Status.StatusCodeType);
        Assert.Equal(0x82, e.Status.StatusCode);
        Assert.Equal(0x10100u, e.Dw0);
    }

    [Fact]
    public async Task Connecting_to_a_closed_port_is_a_clear_transport_error()
    {
        int port;
        using (var fx = new TargetFixture())
        {
            port = fx.Port;
        }

        var e = await Assert.ThrowsAsync<NvmeTcpException>(() => NvmeTcpInitiator.ConnectAsync("127.0.0.1", port, TargetFixture.Nqn, hostNqn: null, cancellationToken: new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token));
        Assert.Contains("127.0.0.1", e.Message);
    }

    [Fact]
    public async Task Target_shutdown_fails_outstanding_and_later_commands_with_a_transport_error()
    {
        var fx = new TargetFixture();
        NvmeTcpInitiator nvme = await fx.ConnectAsync();
        await nvme.WriteAsync(1, 0, 1, Pattern(512, 5));
        fx.Dispose();
        await Assert.ThrowsAsync<NvmeTcpException>(async () =>
        {
            for (int i = 0; i < 100; i++)
            {
                await nvme.ReadAsync(1, 0, 1, new byte[512]);
                await Task.Delay(20);
            }
        });
        await nvme.DisposeAsync();
    }
}
