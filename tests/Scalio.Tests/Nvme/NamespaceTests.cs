using Scalio.Nvme;

namespace Scalio.Tests.Nvme;

/// <summary>Behaviour every namespace kind must share: RAM, file (O_DIRECT), file (buffered fallback), and the model.</summary>
public sealed class NamespaceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("scalio-nvme-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, int> Kinds()
    {
        var data = new TheoryData<string, int>();
        foreach (string kind in new[] { "ram", "file", "file-buffered", "model" })
        {
            data.Add(kind, 512);
            data.Add(kind, 4096);
        }

        return data;
    }

    private NvmeNamespace Create(string kind, int lbaSize, ulong lbaCount) => kind switch
    {
        "ram" => new RamNamespace(1, lbaSize, lbaCount),
        "file" => FileNamespace.Open(Path.Combine(_dir, "ns.img"), 1, lbaSize, lbaCount),
        "file-buffered" => FileNamespace.Open(Path.Combine(_dir, "ns.img"), 1, lbaSize, lbaCount, simulateDirectIoRefusal: true),
        "model" => new ModeledNamespace(new RamNamespace(1, lbaSize, lbaCount),
            new SsdModelOptions { MaxIops = 1_000_000, ReadLatency = TimeSpan.FromMicroseconds(5), WriteLatency = TimeSpan.FromMicroseconds(5) }),
        _ => throw new ArgumentException(kind),
    };

    private static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Write_then_read_returns_the_data(string kind, int lbaSize)
    {
        using NvmeNamespace ns = Create(kind, lbaSize, 64);
        Assert.Equal(lbaSize, ns.LbaSize);
        Assert.Equal(64ul, ns.LbaCount);
        Assert.Equal(64L * lbaSize, ns.CapacityBytes);

        byte[] a = Pattern(3 * lbaSize, 1);
        byte[] b = Pattern(lbaSize, 2);
        Assert.Equal(NvmeStatus.Success, ns.Write(5, 3, a, fua: false));
        Assert.Equal(NvmeStatus.Success, ns.Write(63, 1, b, fua: true));
        Assert.Equal(NvmeStatus.Success, ns.Flush());

        var read = new byte[4 * lbaSize];
        Assert.Equal(NvmeStatus.Success, ns.Read(4, 4, read));
        Assert.All(read[..lbaSize], x => Assert.Equal(0, x)); // never written: zero
        Assert.Equal(a, read[lbaSize..]);
        var last = new byte[lbaSize];
        Assert.Equal(NvmeStatus.Success, ns.Read(63, 1, last));
        Assert.Equal(b, last);

        Assert.Equal(2, ns.WriteCount);
        Assert.Equal(2, ns.ReadCount);
        Assert.Equal(1, ns.FlushCount);
        Assert.Equal(4L * lbaSize, ns.BytesWritten);
        Assert.Equal(5L * lbaSize, ns.BytesRead);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Bad_requests_return_a_status(string kind, int lbaSize)
    {
        using NvmeNamespace ns = Create(kind, lbaSize, 16);
        var buffer = new byte[2 * lbaSize];
        Assert.Equal(NvmeStatus.LbaOutOfRange, ns.Read(16, 1, buffer));
        Assert.Equal(NvmeStatus.LbaOutOfRange, ns.Read(15, 2, buffer));
        Assert.Equal(NvmeStatus.LbaOutOfRange, ns.Write(ulong.MaxValue, 1, buffer, false));
        Assert.Equal(NvmeStatus.LbaOutOfRange, ns.Write(ulong.MaxValue - 1, 2, buffer, false)); // no wrap-around
        Assert.Equal(NvmeStatus.DataSglLengthInvalid, ns.Read(0, 3, buffer));
        Assert.Equal(NvmeStatus.DataSglLengthInvalid, ns.Write(0, 1, buffer.AsSpan(0, lbaSize - 1), false));
        Assert.Equal(NvmeStatus.InvalidField, ns.Read(0, 0, buffer));
        Assert.Equal(NvmeStatus.InvalidField, ns.Write(0, -1, buffer, false));
        Assert.Equal(0, ns.ReadCount + ns.WriteCount);

        // A larger buffer is fine: only the prefix moves.
        var big = new byte[3 * lbaSize];
        Array.Fill(big, (byte)0x5A);
        Assert.Equal(NvmeStatus.Success, ns.Write(14, 2, big, false));
        Assert.Equal(2L * lbaSize, ns.BytesWritten);
    }

    [Theory]
    [InlineData("ram")]
    [InlineData("file")]
    public void Unaligned_buffers_work(string kind)
    {
        using NvmeNamespace ns = Create(kind, 512, 32);
        byte[] backing = Pattern(8 * 512 + 3, 9);
        Assert.Equal(NvmeStatus.Success, ns.Write(2, 8, backing.AsSpan(3), false));
        var dest = new byte[8 * 512 + 1];
        Assert.Equal(NvmeStatus.Success, ns.Read(2, 8, dest.AsSpan(1)));
        Assert.Equal(backing[3..], dest[1..]);
    }

    [Theory]
    [InlineData("ram")]
    [InlineData("file")]
    public void Concurrent_writers_of_different_blocks_do_not_interfere(string kind)
    {
        const int blocksPerThread = 32;
        using NvmeNamespace ns = Create(kind, 512, 2 * blocksPerThread);
        var threads = new Thread[2];
        var failures = 0;
        for (int t = 0; t < threads.Length; t++)
        {
            int id = t;
            threads[t] = new Thread(() =>
            {
                var block = new byte[512];
                for (int i = 0; i < blocksPerThread; i++)
                {
                    Array.Fill(block, (byte)(id * blocksPerThread + i));
                    if (!ns.Write((ulong)(id * blocksPerThread + i), 1, block, false).IsSuccess)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
            });
            threads[t].Start();
        }

        foreach (Thread t in threads)
        {
            t.Join();
        }

        Assert.Equal(0, failures);
        var all = new byte[2 * blocksPerThread * 512];
        Assert.Equal(NvmeStatus.Success, ns.Read(0, 2 * blocksPerThread, all));
        for (int i = 0; i < all.Length; i++)
        {
            Assert.Equal((byte)(i / 512), all[i]);
        }
    }

    [Fact]
    public void Disposed_namespace_throws_and_geometry_is_validated()
    {
        var ns = new RamNamespace(3, 4096, 4);
        ns.Dispose();
        ns.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => ns.Read(0, 1, new byte[4096]));
        Assert.Throws<ObjectDisposedException>(() => ns.Flush());
        Assert.Throws<ArgumentOutOfRangeException>(() => new RamNamespace(1, 1024, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RamNamespace(0, 512, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RamNamespace(1, 512, 0));
    }
}
