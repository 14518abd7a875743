using System.Globalization;
using Scalio.Nvme;
using Xunit.Abstractions;

namespace Scalio.Tests.Nvme;

public sealed class FileNamespaceTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("scalio-nvme-file-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The open flags the kernel reports for a descriptor (octal "flags:" line of /proc/self/fdinfo).</summary>
    private static int KernelFlags(int fd)
    {
        foreach (string line in File.ReadLines($"/proc/self/fdinfo/{fd}"))
        {
            if (line.StartsWith("flags:", StringComparison.Ordinal))
            {
                return Convert.ToInt32(line["flags:".Length..].Trim(), 8);
            }
        }

        throw new InvalidOperationException("no flags line in fdinfo");
    }

    /// <summary>Whether this directory's filesystem accepts O_DIRECT, asked of the kernel directly.</summary>
    private static bool FilesystemAcceptsODirect(string dir)
    {
        string probe = Path.Combine(dir, "probe-" + Guid.NewGuid().ToString("N"));
        int fd = LibC.Open(probe, LibC.O_RDWR | LibC.O_CREAT | LibC.O_DIRECT, 0x1A4);
        if (fd >= 0)
        {
            new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, true).Dispose();
        }

        File.Delete(probe);
        return fd >= 0;
    }

    [Fact]
    public void O_DIRECT_is_really_in_effect_where_the_filesystem_supports_it()
    {
        Assert.NotEqual(0, LibC.O_DIRECT);
        foreach (string dir in new[] { _dir, Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "scalio-nvme-wd-" + Guid.NewGuid().ToString("N"))).FullName })
        {
            bool supported = FilesystemAcceptsODirect(dir);
            using FileNamespace ns = FileNamespace.Open(Path.Combine(dir, "ns.img"), 1, 4096, 16);
            int flags = KernelFlags(ns.FileDescriptor);
            output.WriteLine($"{ns} (filesystem accepts O_DIRECT: {supported}, kernel flags {Convert.ToString(flags, 8)})");
            Assert.Equal(supported, ns.IsDirectIo);
            Assert.Equal(ns.IsDirectIo, (flags & LibC.O_DIRECT) != 0);
            Assert.Equal(ns.IsDirectIo, ns.DirectIoFallbackReason is null);
            if (dir != _dir)
            {
                ns.Dispose();
                Directory.Delete(dir, true);
            }
        }
    }

    [Fact]
    public void Refused_O_DIRECT_falls_back_to_buffered_io_and_says_why()
    {
        using FileNamespace ns = FileNamespace.Open(Path.Combine(_dir, "buffered.img"), 2, 512, 8, simulateDirectIoRefusal: true);
        Assert.False(ns.IsDirectIo);
        Assert.Contains("EINVAL", ns.DirectIoFallbackReason);
        Assert.Equal(0, KernelFlags(ns.FileDescriptor) & LibC.O_DIRECT);
        Assert.Contains("buffered", ns.ToString());

        byte[] data = new byte[512];
        data[0] = 42;
        Assert.Equal(NvmeStatus.Success, ns.Write(7, 1, data, fua: true));
        var back = new byte[512];
        Assert.Equal(NvmeStatus.Success, ns.Read(7, 1, back));
        Assert.Equal(42, back[0]);
    }

    [Theory]
    [InlineData(512, false)]
    [InlineData(4096, false)]
    [InlineData(4096, true)]
    public void Data_survives_close_and_reopen(int lbaSize, bool buffered)
    {
        string path = Path.Combine(_dir, $"persist-{lbaSize}-{buffered}.img");
        var data = new byte[5 * lbaSize];
        new Random(lbaSize).NextBytes(data);
        using (FileNamespace ns = FileNamespace.Open(path, 1, lbaSize, 100, buffered))
        {
            Assert.Equal(100L * lbaSize, new FileInfo(path).Length); // created with the requested size
            Assert.Equal(NvmeStatus.Success, ns.Write(90, 5, data, fua: true));
            Assert.Equal(NvmeStatus.Success, ns.Flush());
        }

        using (FileNamespace ns = FileNamespace.Open(path, 1, lbaSize, 100, buffered))
        {
            var back = new byte[5 * lbaSize];
            Assert.Equal(NvmeStatus.Success, ns.Read(90, 5, back));
            Assert.Equal(data, back);
        }

        // A larger namespace over the same file keeps the data and grows the file.
        using (FileNamespace ns = FileNamespace.Open(path, 1, lbaSize, 200, buffered))
        {
            Assert.Equal(200L * lbaSize, new FileInfo(path).Length);
            var back = new byte[5 * lbaSize];
            Assert.Equal(NvmeStatus.Success, ns.Read(90, 5, back));
            Assert.Equal(data, back);
        }

        // A smaller one would truncate: refused with a clear message.
        var e = Assert.Throws<InvalidOperationException>(() => FileNamespace.Open(path, 1, lbaSize, 10, buffered));
        Assert.Contains("refusing to truncate", e.Message);
    }

    [Fact]
    public void Reports_a_clear_error_for_an_unopenable_path()
    {
        var e = Assert.Throws<IOException>(() => FileNamespace.Open(Path.Combine(_dir, "missing-dir", "ns.img"), 1, 512, 8));
        Assert.Contains("missing-dir", e.Message);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"errno {2}"), e.Message); // ENOENT
    }
}
