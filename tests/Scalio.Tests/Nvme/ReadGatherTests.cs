using System.Runtime.InteropServices;
using Scalio.Nvme;
using Xunit.Abstractions;

namespace Scalio.Tests.Nvme;

public sealed unsafe class ReadGatherTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("scalio-gather-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Gathered_reads_of_a_file_namespace_go_together_and_each_gets_its_own_data_and_status()
    {
        if (!IoUringTests.Available(output)) return;
        const int Bs = 4096, N = 8;
        using var file = FileNamespace.Open(Path.Combine(_dir, "ns.img"), 1, Bs, 64);
        using var ns = new ModeledNamespace(file, new SsdModelOptions { MaxIops = 1_000_000, ReadLatency = TimeSpan.Zero, WriteLatency = TimeSpan.Zero, FlushLatency = TimeSpan.Zero }, ownsInner: false);
        var page = new byte[Bs];
        for (int b = 0; b < N; b++)
        {
            page.AsSpan().Fill((byte)(b + 1));
            Assert.True(ns.Write((ulong)(b * 3), 1, page, fua: false).IsSuccess);
        }
        byte* buffers = (byte*)NativeMemory.AlignedAlloc((N + 1) * Bs, 4096);
        new Span<byte>(buffers, (N + 1) * Bs).Clear();
        try
        {
            using var gather = new ReadGather(N + 1);
            Assert.True(gather.Gathers);
            long readsBefore = file.ReadCount;
            for (int b = 0; b < N; b++) Assert.Equal(b, gather.Add(ns, (ulong)(b * 3), 1, new Span<byte>(buffers + b * Bs, Bs)));
            int bad = gather.Add(ns, 64, 1, new Span<byte>(buffers + N * Bs, Bs)); // past the end: refused at once
            Assert.Equal(NvmeStatus.LbaOutOfRange.StatusCode, gather.Status(bad).StatusCode);
            Assert.Equal((byte)0, buffers[0]); // nothing read before Execute: the reads were captured
            gather.Execute();
            for (int b = 0; b < N; b++)
            {
                Assert.True(gather.Status(b).IsSuccess);
                Assert.True(new ReadOnlySpan<byte>(buffers + b * Bs, Bs).IndexOfAnyExcept((byte)(b + 1)) < 0, $"read {b} got another block's data");
            }
            Assert.Equal(readsBefore + N, file.ReadCount); // validated and counted like any read
            gather.Clear();
            Assert.Equal(0, gather.Count);
        }
        finally
        {
            NativeMemory.AlignedFree(buffers);
        }
    }

    [Fact]
    public void On_a_ram_namespace_each_read_is_done_when_added()
    {
        using var ns = new RamNamespace(1, 4096, 8);
        var page = new byte[4096];
        page.AsSpan().Fill(7);
        Assert.True(ns.Write(2, 1, page, fua: false).IsSuccess);
        byte* buffer = (byte*)NativeMemory.AlignedAlloc(4096, 4096);
        try
        {
            using var gather = new ReadGather(4);
            int i = gather.Add(ns, 2, 1, new Span<byte>(buffer, 4096));
            Assert.Equal((byte)7, buffer[100]);
            gather.Execute();
            Assert.True(gather.Status(i).IsSuccess);
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }
}
