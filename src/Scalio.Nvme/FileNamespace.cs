using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Scalio.Nvme;

/// <summary>
/// A namespace backed by a file (or block device) with real I/O. The file is opened with O_DIRECT so reads and
/// writes bypass the page cache; when the filesystem refuses O_DIRECT (EINVAL, e.g. tmpfs before Linux 6.6) the namespace falls
/// back to buffered I/O and says so in <see cref="IsDirectIo"/> and <see cref="DirectIoFallbackReason"/>.
/// A write with FUA is followed by fdatasync, and <see cref="NvmeNamespace.Flush"/> runs fsync, so data is
/// durable when they return. Linux only.
/// </summary>
public sealed unsafe class FileNamespace : NvmeNamespace
{
    private readonly SafeFileHandle _handle;
    private readonly AlignedBufferPool _bounce;

    private readonly bool _readOnly;

    private FileNamespace(uint nsid, int lbaSize, ulong lbaCount, string path, SafeFileHandle handle, string? fallbackReason, bool readOnly = false)
        : base(nsid, lbaSize, lbaCount)
    {
        _readOnly = readOnly;
        Path = path;
        _handle = handle;
        DirectIoFallbackReason = fallbackReason;
        _bounce = new AlignedBufferPool(Math.Max(4, Environment.ProcessorCount * 2));
    }

    /// <summary>Full path of the backing file.</summary>
    public string Path { get; }

    /// <summary>True when I/O bypasses the page cache (O_DIRECT is in effect).</summary>
    public bool IsDirectIo => DirectIoFallbackReason is null;

    /// <summary>Why buffered I/O is used instead of O_DIRECT, or null when O_DIRECT is in effect.</summary>
    public string? DirectIoFallbackReason { get; }

    /// <summary>The file descriptor (for diagnostics and tests).</summary>
    internal int FileDescriptor => (int)_handle.DangerousGetHandle();

    /// <summary>
    /// Opens or creates the backing file and sizes it to <c>lbaCount * lbaSize</c> bytes. An existing smaller file
    /// is extended (its data kept); an existing larger file is refused rather than truncated.
    /// </summary>
    /// <param name="path">File path.</param>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="lbaSize">512 or 4096.</param>
    /// <param name="lbaCount">Number of blocks.</param>
    /// <returns>The open namespace; check <see cref="IsDirectIo"/> to learn whether O_DIRECT is in effect.</returns>
    public static FileNamespace Open(string path, uint nsid, int lbaSize, ulong lbaCount) =>
        Open(path, nsid, lbaSize, lbaCount, simulateDirectIoRefusal: false);

    /// <summary>
    /// Opens an EXISTING file read-only as a write-protected namespace of <c>length / lbaSize</c> blocks: the file is
    /// never created, sized, truncated or written (writes return <see cref="NvmeStatus.NamespaceWriteProtected"/>).
    /// Reads use O_DIRECT where the filesystem allows it, so they see what another process wrote with O_DIRECT or made
    /// durable, not a stale page cache. Used by the offload target process to serve a store's namespace files.
    /// </summary>
    /// <param name="path">Existing file.</param>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="lbaSize">512 or 4096; the file length must be a non-zero multiple of it.</param>
    /// <returns>The open namespace.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is empty or not a whole number of blocks.</exception>
    public static FileNamespace OpenReadOnly(string path, uint nsid, int lbaSize)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("FileNamespace uses Linux open(2)/O_DIRECT; use RamNamespace on other systems.");
        }

        if (lbaSize is not (512 or 4096))
        {
            NvmeThrow.ArgumentOutOfRange(nameof(lbaSize), $"The LBA size must be 512 or 4096 bytes, not {lbaSize}.");
        }

        string fullPath = System.IO.Path.GetFullPath(path);
        string? fallback = LibC.O_DIRECT == 0 ? $"O_DIRECT value unknown for {RuntimeInformation.ProcessArchitecture}" : null;
        int fd = -1;
        if (fallback is null)
        {
            fd = LibC.Open(fullPath, LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_DIRECT, 0);
            if (fd < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != LibC.EINVAL)
                {
                    throw OpenError(fullPath, errno);
                }

                fallback = "the filesystem refused O_DIRECT (open returned EINVAL); using buffered I/O";
            }
        }

        if (fd < 0)
        {
            fd = LibC.Open(fullPath, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
            if (fd < 0)
            {
                throw OpenError(fullPath, Marshal.GetLastPInvokeError());
            }
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            long length = RandomAccess.GetLength(handle);
            if (length == 0 || length % lbaSize != 0)
            {
                throw new InvalidDataException($"Namespace file '{fullPath}' holds {length} bytes, not a non-zero multiple of the {lbaSize}-byte LBA size.");
            }

            if (fallback is null)
            {
                fallback = ProbeDirectIo(handle, lbaSize);
                if (fallback is not null)
                {
                    handle.Dispose();
                    fd = LibC.Open(fullPath, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
                    if (fd < 0)
                    {
                        throw OpenError(fullPath, Marshal.GetLastPInvokeError());
                    }

                    handle = new SafeFileHandle(fd, ownsHandle: true);
                }
            }

            if (fallback is not null)
            {
                System.Diagnostics.Trace.TraceWarning($"Scalio FileNamespace '{fullPath}' (read-only): O_DIRECT not in effect: {fallback}.");
            }

            return new FileNamespace(nsid, lbaSize, (ulong)(length / lbaSize), fullPath, handle, fallback, readOnly: true);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static IOException OpenError(string path, int errno) => errno == 2 /* ENOENT */
        ? new FileNotFoundException($"Namespace file '{path}' does not exist.", path)
        : new IOException($"Cannot open namespace file '{path}': {LibC.Describe(errno)}.");

    /// <inheritdoc/>
    public override bool IsReadOnly => _readOnly;

    /// <summary>
    /// Opens the namespace; <paramref name="simulateDirectIoRefusal"/> behaves as if open(O_DIRECT) failed with
    /// EINVAL, to exercise the fallback path on filesystems that accept O_DIRECT.
    /// </summary>
    internal static FileNamespace Open(string path, uint nsid, int lbaSize, ulong lbaCount, bool simulateDirectIoRefusal)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("FileNamespace uses Linux open(2)/O_DIRECT/fdatasync; use RamNamespace on other systems.");
        }

        if (lbaSize is not (512 or 4096))
        {
            NvmeThrow.ArgumentOutOfRange(nameof(lbaSize), $"The LBA size must be 512 or 4096 bytes, not {lbaSize}.");
        }

        if (lbaCount == 0 || lbaCount > (ulong)(long.MaxValue / lbaSize))
        {
            NvmeThrow.ArgumentOutOfRange(nameof(lbaCount), "The LBA count must be at least 1 and the capacity must fit in 63 bits.");
        }

        string fullPath = System.IO.Path.GetFullPath(path);
        long capacity = (long)lbaCount * lbaSize;
        string? fallback = LibC.O_DIRECT == 0 ? $"O_DIRECT value unknown for {RuntimeInformation.ProcessArchitecture}" : null;

        SafeFileHandle handle;
        if (fallback is null)
        {
            int fd = simulateDirectIoRefusal ? -1
                : LibC.Open(fullPath, LibC.O_RDWR | LibC.O_CREAT | LibC.O_CLOEXEC | LibC.O_DIRECT, 0x1A4 /* 0644 */);
            if (fd >= 0)
            {
                handle = new SafeFileHandle(fd, ownsHandle: true);
                try
                {
                    SizeFile(handle, fullPath, capacity);
                    fallback = ProbeDirectIo(handle, lbaSize);
                }
                catch
                {
                    handle.Dispose();
                    throw;
                }

                if (fallback is null)
                {
                    return new FileNamespace(nsid, lbaSize, lbaCount, fullPath, handle, null);
                }

                handle.Dispose();
            }
            else
            {
                int errno = simulateDirectIoRefusal ? LibC.EINVAL : Marshal.GetLastPInvokeError();
                if (errno != LibC.EINVAL)
                {
                    throw new IOException($"Cannot open namespace file '{fullPath}': {LibC.Describe(errno)}.");
                }

                fallback = "the filesystem refused O_DIRECT (open returned EINVAL); using buffered I/O";
            }
        }

        int bufferedFd = LibC.Open(fullPath, LibC.O_RDWR | LibC.O_CREAT | LibC.O_CLOEXEC, 0x1A4);
        if (bufferedFd < 0)
        {
            throw new IOException($"Cannot open namespace file '{fullPath}': {LibC.Describe(Marshal.GetLastPInvokeError())}.");
        }

        handle = new SafeFileHandle(bufferedFd, ownsHandle: true);
        try
        {
            SizeFile(handle, fullPath, capacity);
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        System.Diagnostics.Trace.TraceWarning($"Scalio FileNamespace '{fullPath}': O_DIRECT not in effect: {fallback}.");
        return new FileNamespace(nsid, lbaSize, lbaCount, fullPath, handle, fallback);
    }

    private static void SizeFile(SafeFileHandle handle, string path, long capacity)
    {
        long length = RandomAccess.GetLength(handle);
        if (length > capacity)
        {
            throw new InvalidOperationException(
                $"Namespace file '{path}' holds {length} bytes, more than the requested capacity of {capacity} bytes; refusing to truncate it.");
        }

        if (length < capacity && LibC.FTruncate(handle.DangerousGetHandle(), capacity) != 0)
        {
            throw new IOException($"Cannot size namespace file '{path}' to {capacity} bytes: {LibC.Describe(Marshal.GetLastPInvokeError())}.");
        }
    }

    /// <summary>Reads one block with an aligned buffer; returns a reason when O_DIRECT cannot do LBA-sized I/O.</summary>
    private static string? ProbeDirectIo(SafeFileHandle handle, int lbaSize)
    {
        byte* p = (byte*)NativeMemory.AlignedAlloc((nuint)lbaSize, AlignedBufferPool.Alignment);
        try
        {
            RandomAccess.Read(handle, new Span<byte>(p, lbaSize), 0);
            return null;
        }
        catch (IOException e)
        {
            return $"O_DIRECT I/O of {lbaSize}-byte blocks failed ({e.Message}); the device's logical block size may be larger";
        }
        finally
        {
            NativeMemory.AlignedFree(p);
        }
    }

    /// <summary>A read a thread captured instead of performing (<see cref="CaptureReads"/>): the caller performs it,
    /// e.g. on an <see cref="IoUring"/>.</summary>
    internal struct CapturedRead
    {
        /// <summary>The file descriptor to read.</summary>
        public int Fd;

        /// <summary>Byte offset in the file.</summary>
        public long Offset;

        /// <summary>Destination (native memory, aligned for O_DIRECT when <see cref="Direct"/>).</summary>
        public nint Buffer;

        /// <summary>Bytes to read.</summary>
        public int Length;

        /// <summary>Whether the descriptor was opened with O_DIRECT.</summary>
        public bool Direct;
    }

    /// <summary>True when <paramref name="ns"/> reads a file: a <see cref="FileNamespace"/>, or one under a
    /// <see cref="ModeledNamespace"/> (whose reads <see cref="CaptureReads"/> can capture).</summary>
    internal static bool Backs(NvmeNamespace ns) => ns is FileNamespace || ns is ModeledNamespace { Inner: FileNamespace };

    [ThreadStatic] private static bool t_captureReads;
    [ThreadStatic] private static bool t_captured;
    [ThreadStatic] private static CapturedRead t_capturedRead;

    /// <summary>
    /// When set on a thread, the next read that thread issues to a file namespace (directly or through a
    /// <see cref="ModeledNamespace"/>) is validated and counted as usual but NOT performed: it is recorded for
    /// <see cref="TakeCapturedRead"/> and reported successful, and the caller must perform it (asynchronously) and own
    /// its outcome. Only one read is captured until it is taken; the destination must be native memory that stays put
    /// (the offload engine's registered data buffers). Reads into a buffer O_DIRECT cannot use are performed as usual.
    /// </summary>
    internal static bool CaptureReads
    {
        get => t_captureReads;
        set => t_captureReads = value;
    }

    /// <summary>Takes the read this thread captured since the last call, if any.</summary>
    internal static bool TakeCapturedRead(out CapturedRead read)
    {
        read = t_capturedRead;
        bool had = t_captured;
        t_captured = false;
        return had;
    }

    /// <inheritdoc/>
    protected override NvmeStatus ReadCore(ulong slba, int blocks, Span<byte> destination)
    {
        long offset = (long)slba << LbaShift;
        if (t_captureReads && !t_captured && (!IsDirectIo || IsAligned(destination)))
        {
            fixed (byte* p = destination)
            {
                t_capturedRead = new CapturedRead { Fd = FileDescriptor, Offset = offset, Buffer = (nint)p, Length = destination.Length, Direct = IsDirectIo };
            }

            t_captured = true;
            return NvmeStatus.Success;
        }

        if (!IsDirectIo || IsAligned(destination))
        {
            return ReadFully(destination, offset);
        }

        AlignedBufferPool.Buffer bounce = _bounce.Rent(destination.Length);
        try
        {
            Span<byte> aligned = bounce.AsSpan(destination.Length);
            NvmeStatus status = ReadFully(aligned, offset);
            if (status.IsSuccess)
            {
                aligned.CopyTo(destination);
            }

            return status;
        }
        finally
        {
            _bounce.Return(bounce);
        }
    }

    /// <inheritdoc/>
    protected override NvmeStatus WriteCore(ulong slba, int blocks, ReadOnlySpan<byte> source, bool fua)
    {
        if (_readOnly)
        {
            return NvmeStatus.NamespaceWriteProtected;
        }

        long offset = (long)slba << LbaShift;
        NvmeStatus status;
        if (!IsDirectIo || IsAligned(source))
        {
            status = WriteFully(source, offset);
        }
        else
        {
            AlignedBufferPool.Buffer bounce = _bounce.Rent(source.Length);
            try
            {
                Span<byte> aligned = bounce.AsSpan(source.Length);
                source.CopyTo(aligned);
                status = WriteFully(aligned, offset);
            }
            finally
            {
                _bounce.Return(bounce);
            }
        }

        if (status.IsSuccess && fua && LibC.FDataSync(_handle.DangerousGetHandle()) != 0)
        {
            status = NvmeStatus.WriteFault;
        }

        return status;
    }

    /// <inheritdoc/>
    protected override NvmeStatus FlushCore() =>
        _readOnly || LibC.FSync(_handle.DangerousGetHandle()) == 0 ? NvmeStatus.Success : NvmeStatus.WriteFault;

    private static bool IsAligned(ReadOnlySpan<byte> span)
    {
        fixed (byte* p = span)
        {
            return ((nuint)p & (AlignedBufferPool.Alignment - 1)) == 0;
        }
    }

    private NvmeStatus ReadFully(Span<byte> destination, long offset)
    {
        try
        {
            while (!destination.IsEmpty)
            {
                int n = RandomAccess.Read(_handle, destination, offset);
                if (n <= 0)
                {
                    return NvmeStatus.UnrecoveredReadError; // the file shrank under us
                }

                destination = destination.Slice(n);
                offset += n;
            }

            return NvmeStatus.Success;
        }
        catch (IOException)
        {
            return NvmeStatus.UnrecoveredReadError;
        }
    }

    private NvmeStatus WriteFully(ReadOnlySpan<byte> source, long offset)
    {
        try
        {
            RandomAccess.Write(_handle, source, offset); // writes everything or throws
            return NvmeStatus.Success;
        }
        catch (IOException)
        {
            return NvmeStatus.WriteFault;
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _handle.Dispose();
            _bounce.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{base.ToString()} at {Path} ({(_readOnly ? "read-only, " : "")}{(IsDirectIo ? "O_DIRECT" : "buffered: " + DirectIoFallbackReason)})";
}
