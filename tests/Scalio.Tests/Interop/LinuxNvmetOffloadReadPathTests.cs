using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;
using Scalio.Offload;
using Xunit.Abstractions;

namespace Scalio.Tests.Interop;

/// <summary>
/// The client's synchronous miss path (<see cref="NvmeTcpOffloadReadPath"/>: SQ flow control disabled, so reads end
/// with C2HData SUCCESS) against the real Linux kernel target in the QEMU guest. LBA range 24576.. of namespace 1.
/// </summary>
[Collection(LinuxNvmetCollection.Name)]
public sealed class LinuxNvmetOffloadReadPathTests
{
    private const ulong Base = 24576;
    private readonly NvmetGuest _guest;
    private readonly ITestOutputHelper _output;

    public LinuxNvmetOffloadReadPathTests(NvmetGuest guest, ITestOutputHelper output)
    {
        _guest = guest;
        _output = output;
    }

    [LinuxNvmetFact]
    public async Task The_offload_read_path_reads_what_was_written_and_maps_errors_to_statuses()
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

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var data = new byte[64 * 1024];
        new Random(Environment.TickCount).NextBytes(data);
        ulong nsze;
        await using (NvmeTcpInitiator nvme = await NvmeTcpInitiator.ConnectAsync("127.0.0.1", _guest.Port, _guest.SubsystemNqn, hostNqn: null, cts.Token))
        {
            nsze = (await nvme.IdentifyNamespaceAsync(1, cts.Token)).Size;
            await nvme.WriteAsync(1, Base, data.Length / 512, data, cts.Token);
            await nvme.FlushAsync(1, cts.Token);
        }

        using var domain = new LoopbackFabric().CreateDomain();
        using var region = domain.Allocate(128 * 1024, MemoryAccess.LocalWrite, 4096);
        using var path = await NvmeTcpOffloadReadPath.ConnectAsync("127.0.0.1", _guest.Port, _guest.SubsystemNqn,
            new NvmeTcpOffloadReadPathOptions { CommandTimeout = TimeSpan.FromSeconds(20), ConnectTimeout = TimeSpan.FromSeconds(20) }, cts.Token);
        await Task.Run(() =>
        {
            // 4 KiB pieces into different offsets of the region, then the whole 64 KiB in one command.
            for (int i = 0; i < 16; i++)
            {
                Assert.Equal(NvmeStatus.Success, path.Read(1, Base + (ulong)(i * 8), 8, 512, region, 4096 * i));
            }

            Assert.True(region.Slice(0, data.Length).SequenceEqual(data), "4 KiB reads differ from what was written");
            region.Span.Clear();
            Assert.Equal(NvmeStatus.Success, path.Read(1, Base, data.Length / 512, 512, region, 64 * 1024));
            Assert.True(region.Slice(64 * 1024, data.Length).SequenceEqual(data), "the 64 KiB read differs from what was written");

            // Errors come back as statuses, with no data.
            region.Span.Fill(0xEE);
            NvmeStatus past = path.Read(1, nsze - 1, 2, 512, region, 0);
            NvmeStatus wrongNs = path.Read(99, 0, 1, 512, region, 0);
            _output.WriteLine($"past the end: {past}; nsid 99: {wrongNs}");
            Assert.False(past.IsSuccess);
            Assert.Equal(NvmeStatusCodeType.Generic, wrongNs.StatusCodeType);
            Assert.Equal(NvmeStatus.InvalidNamespace.StatusCode, wrongNs.StatusCode);
            Assert.True(region.Span.IndexOfAnyExcept((byte)0xEE) < 0, "an error status came with data");

            // Still connected, and no allocation per read against the kernel target either.
            for (int i = 0; i < 50; i++) Assert.Equal(NvmeStatus.Success, path.Read(1, Base, 8, 512, region, 0));
            int failed = 0;
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 200; i++)
            {
                if (!path.Read(1, Base + (ulong)(i % 16 * 8), 8, 512, region, 0).IsSuccess) failed++;
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(0, failed);
            Assert.True(allocated == 0, $"{allocated} bytes allocated over 200 reads");
            Assert.Equal(0, path.TransportFailures);
        }, cts.Token);
    }
}
