using System.Runtime.InteropServices;

namespace Scalio.Nvme;

/// <summary>The few Linux libc calls the NVMe area needs (open with O_DIRECT, fsync).</summary>
internal static partial class LibC
{
    public const int EINTR = 4;
    public const int EINVAL = 22;

    public const int O_RDONLY = 0x0;
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int O_DSYNC = 0x1000;
    public const int O_CLOEXEC = 0x80000;

    /// <summary>O_DIRECT for this process's architecture, or 0 when unknown (then direct I/O is not attempted).</summary>
    public static int O_DIRECT { get; } = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,       // 040000
        Architecture.Arm64 or Architecture.Arm => 0x10000,    // 0200000
        _ => 0,
    };

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int FTruncate(nint fd, long length);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int FSync(nint fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int FDataSync(nint fd);

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
