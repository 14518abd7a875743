using System.Runtime.InteropServices;

namespace Scalio.Verbs.Nvme;

/// <summary>The few Linux libc calls the NVMe area needs (open with O_DIRECT, fsync, precise sleeps).</summary>
internal static partial class LibC
{
    public const int EINTR = 4;
    public const int EINVAL = 22;

    public const int O_RDONLY = 0x0;
    public const int O_RDWR = 0x2;
    public const int O_CREAT = 0x40;
    public const int O_DSYNC = 0x1000;
    public const int O_CLOEXEC = 0x80000;

    private const int ClockMonotonic = 1;

    /// <summary>O_DIRECT for this process's architecture, or 0 when unknown (then direct I/O is not attempted).</summary>
    public static int O_DIRECT { get; } = RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,       // 040000
        Architecture.Arm64 or Architecture.Arm => 0x10000,    // 0200000
        _ => 0,
    };

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int FTruncate(nint fd, long length);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    public static partial int FSync(nint fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int FDataSync(nint fd);

    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    private static partial int ClockNanosleep(int clockId, int flags, in Timespec request, out Timespec remaining);

    /// <summary>Sleeps about <paramref name="nanoseconds"/> with sub-millisecond resolution (Linux), else with Thread.Sleep.</summary>
    public static void SleepNanoseconds(long nanoseconds)
    {
        if (nanoseconds <= 0)
        {
            return;
        }

        if (!OperatingSystem.IsLinux())
        {
            Thread.Sleep((int)Math.Max(1, nanoseconds / 1_000_000));
            return;
        }

        var request = new Timespec { Seconds = nanoseconds / 1_000_000_000, Nanoseconds = nanoseconds % 1_000_000_000 };
        // clock_nanosleep returns the error number directly; EINTR leaves the rest in 'remaining'.
        while (ClockNanosleep(ClockMonotonic, 0, in request, out Timespec remaining) == EINTR)
        {
            request = remaining;
        }
    }

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
}
