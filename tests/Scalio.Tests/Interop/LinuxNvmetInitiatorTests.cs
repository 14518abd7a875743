using System.Diagnostics;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;
using Xunit.Abstractions;

namespace Scalio.Tests.Interop;

/// <summary>
/// The project's NVMe/TCP initiator against the real Linux kernel target (nvmet-tcp in the QEMU guest of
/// tests/interop/nvmet-guest.sh, namespace 1 = a 64 MiB brd RAM disk with 512-byte blocks).
/// Each test uses its own LBA range of the shared guest.
/// </summary>
[Collection(LinuxNvmetCollection.Name)]
public sealed class LinuxNvmetInitiatorTests
{
    private const uint Nsid = 1;
    private const long NamespaceBytes = 64L << 20; // rd_size in nvmet-guest.sh
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(90);

    private readonly NvmetGuest _guest;
    private readonly ITestOutputHelper _output;

    public LinuxNvmetInitiatorTests(NvmetGuest guest, ITestOutputHelper output)
    {
        _guest = guest;
        _output = output;
    }

    [LinuxNvmetFact]
    public async Task Identify_write_read_back_compare_and_flush()
    {
        StartGuest();
        using var cts = new CancellationTokenSource(TestTimeout);
        CancellationToken ct = cts.Token;
        var clock = Stopwatch.StartNew();
        int seed = Environment.TickCount;
        var random = new Random(seed);
        _output.WriteLine($"guest ready in {_guest.StartTime.TotalSeconds:F1} s; data seed {seed}");

        byte[] small = RandomBytes(random, 4096);         // fits the target's in-capsule size: sent in-capsule
        byte[] large = RandomBytes(random, 256 * 1024);   // larger than in-capsule: R2T / H2CData
        byte[] tail = RandomBytes(random, 8 * 512);
        int lbaSize;
        ulong nsze;

        await using (NvmeTcpInitiator nvme = await Connect(new NvmeTcpInitiatorOptions(), ct))
        {
            NvmeTcpControllerInfo ctrl = await nvme.IdentifyControllerAsync(ct);
            _output.WriteLine($"controller: model '{ctrl.ModelNumber}', serial '{ctrl.SerialNumber}', firmware '{ctrl.FirmwareRevision}', "
                + $"cntlid {ctrl.ControllerId}, version 0x{ctrl.Version:X6}, namespaces {ctrl.NamespaceCount}, "
                + $"in-capsule {ctrl.InCapsuleDataSize} B, MDTS {ctrl.Mdts}");
            Assert.Equal(_guest.SubsystemNqn, ctrl.SubsystemNqn);
            Assert.Equal(nvme.ControllerId, ctrl.ControllerId);
            Assert.NotEqual(0xFFFF, ctrl.ControllerId);
            Assert.False(string.IsNullOrWhiteSpace(ctrl.ModelNumber));
            Assert.True(ctrl.Version >= 0x010300, $"VS 0x{ctrl.Version:X}");
            Assert.True(ctrl.NamespaceCount >= 1);
            Assert.True(ctrl.InCapsuleDataSize >= small.Length, $"in-capsule size {ctrl.InCapsuleDataSize}");
            Assert.True(ctrl.InCapsuleDataSize < large.Length, $"in-capsule size {ctrl.InCapsuleDataSize}");
            Assert.Equal(4096, ctrl.Raw.Length);

            IdentifyNamespaceSummary ns = await nvme.IdentifyNamespaceAsync(Nsid, ct);
            _output.WriteLine($"namespace {Nsid}: NSZE {ns.Size}, NCAP {ns.Capacity}, LBA size {ns.LbaSize}");
            lbaSize = ns.LbaSize;
            nsze = ns.Size;
            Assert.Equal(512, lbaSize);
            Assert.Equal(NamespaceBytes, (long)ns.Size * lbaSize);

            // In-capsule write, read back.
            await nvme.WriteAsync(Nsid, 0, small.Length / lbaSize, small, ct);
            Assert.Equal(small, await Read(nvme, 0, small.Length, lbaSize, ct));

            // R2T / H2CData write, read back (C2HData), then flush.
            await nvme.WriteAsync(Nsid, 1024, large.Length / lbaSize, large, ct);
            Assert.Equal(large, await Read(nvme, 1024, large.Length, lbaSize, ct));
            await nvme.FlushAsync(Nsid, ct);

            // The last eight blocks of the namespace.
            ulong last = nsze - 8;
            await nvme.WriteAsync(Nsid, last, 8, tail, ct);
            Assert.Equal(tail, await Read(nvme, last, tail.Length, lbaSize, ct));

            // One block past the end: the target's error status reaches the caller.
            var past = new byte[2 * lbaSize];
            NvmeCommandException e = await Assert.ThrowsAsync<NvmeCommandException>(
                async () => await nvme.ReadAsync(Nsid, nsze - 1, 2, past, ct));
            _output.WriteLine($"read past the end: SCT {e.Status.StatusCodeType}, SC 0x{e.Status.StatusCode:X2}, DNR {e.Status.DoNotRetry}");
            // The specification's answer is LBA Out of Range (80h). Linux 6.1's block-device backend does not check the
            // range itself: the block layer's end-of-device error comes back as Internal Error (06h) with DNR (measured).
            Assert.Equal(NvmeStatusCodeType.Generic, e.Status.StatusCodeType);
            Assert.True(
                e.Status.StatusCode == NvmeStatus.LbaOutOfRange.StatusCode || e.Status.StatusCode == NvmeStatus.InternalError.StatusCode,
                $"status of a read past the end: SC 0x{e.Status.StatusCode:X2}");

            // The connection is still usable after a command error.
            await nvme.FlushAsync(Nsid, ct);
        }

        // A new association reads what the first one wrote: the data is in the target's namespace.
        await using (NvmeTcpInitiator again = await Connect(new NvmeTcpInitiatorOptions(), ct))
        {
            Assert.Equal(small, await Read(again, 0, small.Length, lbaSize, ct));
            Assert.Equal(large, await Read(again, 1024, large.Length, lbaSize, ct));
        }
        _output.WriteLine($"identify/write/read/compare/flush against Linux nvmet-tcp: {clock.Elapsed.TotalSeconds:F1} s");
    }

    [LinuxNvmetFact]
    public async Task Header_and_data_digests_round_trip_data()
    {
        StartGuest();
        using var cts = new CancellationTokenSource(TestTimeout);
        CancellationToken ct = cts.Token;
        var options = new NvmeTcpInitiatorOptions { HeaderDigest = true, DataDigest = true };
        await using NvmeTcpInitiator nvme = await Connect(options, ct);
        Assert.True(nvme.HeaderDigest);
        Assert.True(nvme.DataDigest);

        var random = new Random(Environment.TickCount);
        foreach (int bytes in new[] { 2048, 64 * 1024 }) // in-capsule and R2T
        {
            byte[] data = RandomBytes(random, bytes);
            await nvme.WriteAsync(Nsid, 8192, bytes / 512, data, ct);
            Assert.Equal(data, await Read(nvme, 8192, bytes, 512, ct));
        }
        await nvme.FlushAsync(Nsid, ct);
    }

    [LinuxNvmetFact]
    public async Task Automatic_keep_alive_holds_an_idle_association_past_its_timeout()
    {
        // nvmet ends an association that is silent for longer than KATO; the initiator sends Keep Alive every KATO/2.
        StartGuest();
        using var cts = new CancellationTokenSource(TestTimeout);
        CancellationToken ct = cts.Token;
        var options = new NvmeTcpInitiatorOptions { KeepAliveTimeout = TimeSpan.FromSeconds(2) };
        await using NvmeTcpInitiator nvme = await Connect(options, ct);
        await Task.Delay(TimeSpan.FromSeconds(5), ct);
        byte[] block = await Read(nvme, 16384, 512, 512, ct);
        Assert.Equal(512, block.Length);
        await nvme.FlushAsync(Nsid, ct);
    }

    [LinuxNvmetFact]
    public async Task Connect_to_an_unknown_subsystem_is_refused_by_the_target()
    {
        StartGuest();
        using var cts = new CancellationTokenSource(TestTimeout);
        NvmeCommandException e = await Assert.ThrowsAsync<NvmeCommandException>(async () =>
        {
            await using NvmeTcpInitiator nvme = await NvmeTcpInitiator.ConnectAsync(
                "127.0.0.1", _guest.Port, "nqn.2026-11.io.scalio:no-such-subsystem", hostNqn: null, cts.Token);
        });
        _output.WriteLine($"wrong NQN: SCT {e.Status.StatusCodeType}, SC 0x{e.Status.StatusCode:X2}, DW0 0x{e.Dw0:X}");
        Assert.Equal(NvmeStatusCodeType.CommandSpecific, e.Status.StatusCodeType);
        Assert.Equal(0x82, e.Status.StatusCode); // Connect Invalid Parameters
    }

    private async Task<NvmeTcpInitiator> Connect(NvmeTcpInitiatorOptions options, CancellationToken ct)
    {
        try
        {
            return await NvmeTcpInitiator.ConnectAsync("127.0.0.1", _guest.Port, _guest.SubsystemNqn, options, ct);
        }
        catch (Exception)
        {
            _output.WriteLine(_guest.ConsoleTail());
            throw;
        }
    }

    private static async Task<byte[]> Read(NvmeTcpInitiator nvme, ulong slba, int bytes, int lbaSize, CancellationToken ct)
    {
        var buffer = new byte[bytes];
        await nvme.ReadAsync(Nsid, slba, bytes / lbaSize, buffer, ct);
        return buffer;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var data = new byte[length];
        random.NextBytes(data);
        return data;
    }

    private void StartGuest()
    {
        try
        {
            _guest.EnsureStarted();
        }
        catch (Exception)
        {
            _output.WriteLine(_guest.ScriptLog());
            throw;
        }
    }
}
