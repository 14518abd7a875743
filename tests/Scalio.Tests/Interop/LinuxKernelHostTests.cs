using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Scalio.Fast;
using Scalio.Tests.Remote;
using Scalio.Tests.Storage;
using Scalio.Nvme.Tcp;
using Scalio.Offload;
using Xunit.Abstractions;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Interop;

/// <summary>
/// The Linux kernel's own NVMe/TCP host (nvme-tcp in the QEMU guest, tests/interop/nvmet-guest.sh host) against our
/// targets started as the CLI starts them (<c>scalio nvme target</c>, <c>scalio target</c>) on 127.0.0.1. The guest
/// reaches them through QEMU's guestfwd relay to loopback. Same collection as the nvmet tests: one QEMU at a time.
/// </summary>
[Collection(LinuxNvmetCollection.Name)]
public sealed class LinuxKernelHostTests
{
    private const string Subnqn = "nqn.2024-01.io.scalio:nvme-tcp";
    private const string HostA = "nqn.2014-08.org.nvmexpress:uuid:5ca110a0-0000-4000-8000-00000000000a";
    private const string HostB = "nqn.2014-08.org.nvmexpress:uuid:5ca110b0-0000-4000-8000-00000000000b";
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    private readonly ITestOutputHelper _output;

    public LinuxKernelHostTests(ITestOutputHelper output) => _output = output;

    [LinuxNvmetFact]
    public async Task Kernel_host_connects_to_scalio_nvme_target_stays_up_on_keep_alive_writes_1MiB_and_64KiB_reads_them_back_and_disconnects()
    {
        using var target = new ScalioProcess("scalio nvme target", "nvme", "target", "--listen", "127.0.0.1:0", "--ram-mib", "64");
        int port = await ReadyPortAsync(target, "nvme target ready");

        LinuxHostGuest.Run run = await LinuxHostGuest.RunAsync(port, Subnqn, "io-idle@" + HostA); // 8 s idle first: > the host's 5 s KATO
        _output.WriteLine(run.Log);
        LinuxHostGuest.Step io = run.Steps[0];
        Assert.True(io.Result[0] == "ok", $"{io}\n{run.Log}\n{target.Output}");
        Assert.Equal("/dev/nvme0n1", io.Value("dev"));
        Assert.Contains("identical", io.Result);     // both writes read back (O_DIRECT, after drop_caches) byte for byte
        Assert.Contains("disconnected", io.Result);  // the controller was deleted cleanly
        Assert.DoesNotContain("Identify Descriptors failed", run.Log);
        Assert.DoesNotContain("I/O error", run.Log);

        // The bytes the kernel wrote are in our target's namespace: read them back with our own initiator.
        await using var initiator = await NvmeTcpInitiator.ConnectAsync("127.0.0.1", port, Subnqn, "nqn.2024-01.io.scalio:verifier");
        byte[] big = GC.AllocateArray<byte>(1 << 20, pinned: true);
        byte[] small = GC.AllocateArray<byte>(64 << 10, pinned: true);
        await initiator.ReadAsync(1, 0, big.Length / 512, big);
        await initiator.ReadAsync(1, (2 << 20) / 512, small.Length / 512, small);
        Assert.Equal(io.Value("big"), Convert.ToHexStringLower(SHA256.HashData(big)));
        Assert.Equal(io.Value("small"), Convert.ToHexStringLower(SHA256.HashData(small)));

        // What the kernel asked for on the admin queue: Identify (incl. the descriptors), the features it sets and
        // an AER held open; the CLI prints the counts when it stops.
        await initiator.DisposeAsync();
        target.Terminate();
        Assert.Equal(0, await target.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        string summary = target.Lines.Single(l => l.StartsWith("nvme target: stopping", StringComparison.Ordinal));
        _output.WriteLine(summary);
        Assert.Matches(@"identify \d+", summary);
        Assert.Matches(@"set-features \d+", summary);
        Assert.Matches(@"async-event-request [1-9]", summary);
        Assert.Matches(@"keep-alive [1-9]", summary);
    }

    [LinuxNvmetFact]
    public async Task Kernel_host_is_refused_with_Connect_Invalid_Host_unless_its_NQN_is_allowed()
    {
        using var target = new ScalioProcess("scalio nvme target", "nvme", "target", "--listen", "127.0.0.1:0", "--ram-mib", "16", "--allow-host", HostA);
        int port = await ReadyPortAsync(target, "nvme target ready");

        LinuxHostGuest.Run run = await LinuxHostGuest.RunAsync(port, Subnqn, "refuse@" + HostB, "io@" + HostA);
        _output.WriteLine(run.Log);
        Assert.Equal("refused", run.Steps[0].Result[0]);
        // The kernel decodes SCT 1h / SC 84h (Connect Invalid Host) into this message, and names the host.
        Assert.Contains($"is not allowed, hostnqn: {HostB}", run.Log);
        Assert.True(run.Steps[1].Result[0] == "ok", $"{run.Steps[1]}\n{run.Log}\n{target.Output}");
        Assert.Contains(target.Lines, l => l.Contains($"refused Connect from host '{HostB}'", StringComparison.Ordinal));
        Assert.DoesNotContain(target.Lines, l => l.Contains($"refused Connect from host '{HostA}'", StringComparison.Ordinal));
    }

    [LinuxNvmetFact]
    public async Task Kernel_host_reads_the_stores_data_through_scalio_target_and_its_writes_are_refused()
    {
        using var dir = new TempDir();
        using (var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, Devices = 1, DataDirectory = dir.Path, BatchSize = 1 }))
        using (var c = store.OpenClient())
        {
            for (int i = 0; i < 50; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"key{i}"), Value($"v{i}")));
        }

        string file = ScalioStore.DeviceFilePath(dir.Path, 0);
        Assert.True(new FileInfo(file).Length >= 1 << 20, "the store's device file is smaller than the 1 MiB the guest reads");
        byte[] head = new byte[1 << 20];
        using (var f = File.OpenRead(file)) f.ReadExactly(head);
        string expected = Convert.ToHexStringLower(SHA256.HashData(head));

        using var target = new ScalioProcess("scalio target", "target", "--data-dir", dir.Path, "--listen", "127.0.0.1:0", "--allow-host", HostA);
        int port = await ReadyPortAsync(target, "scalio target ready");
        LinuxHostGuest.Run run = await LinuxHostGuest.RunAsync(port, NvmeTcpOffloadReadPath.DefaultSubsystemNqn, "refuse@" + HostB, "ro@" + HostA);
        _output.WriteLine(run.Log);
        Assert.Equal("refused", run.Steps[0].Result[0]);
        LinuxHostGuest.Step ro = run.Steps[1];
        Assert.True(ro.Result[0] == "ok", $"{ro}\n{run.Log}\n{target.Output}");
        Assert.Equal(expected, ro.Value("sha256")); // the kernel read the bytes the store wrote
        Assert.Contains("write-refused", ro.Result); // read-only: Namespace is Write Protected / a read-only disk
        Assert.Contains("disconnected", ro.Result);
    }

    private static async Task<int> ReadyPortAsync(ScalioProcess target, string marker)
    {
        string line = await target.WaitForLineAsync(l => l.Contains(marker, StringComparison.Ordinal), ReadyTimeout);
        Match m = Regex.Match(line, @"listening on 127\.0\.0\.1:(\d+),");
        Assert.True(m.Success, line);
        return int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
