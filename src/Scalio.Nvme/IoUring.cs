using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Scalio.Nvme;

/// <summary>
/// A minimal io_uring (Linux ≥ 5.6) driven by raw system calls: <c>io_uring_setup</c> (425) and <c>io_uring_enter</c>
/// (426), the submission ring, completion ring and SQE array mapped with mmap. It queues IORING_OP_READ / IORING_OP_WRITE
/// of caller-owned buffers (aligned for O_DIRECT when the file is), submits them in batches with one system call and
/// reaps completions from the shared ring without one. Single-threaded: one owner prepares, submits and reaps.
/// Allocation-free after <see cref="TryCreate(int, out string?)"/>.
/// </summary>
public sealed unsafe partial class IoUring : IDisposable
{
    /// <summary>IORING_OP_READ.</summary>
    public const byte OpRead = 22;

    /// <summary>IORING_OP_WRITE.</summary>
    public const byte OpWrite = 23;

    private const long SysIoUringSetup = 425; // same number on x86_64 and arm64 (the unified table from 424 on)
    private const long SysIoUringEnter = 426;
    private const uint EnterGetEvents = 1;     // IORING_ENTER_GETEVENTS
    private const long OffSqRing = 0;          // IORING_OFF_SQ_RING
    private const long OffCqRing = 0x8000000;  // IORING_OFF_CQ_RING
    private const long OffSqes = 0x10000000;   // IORING_OFF_SQES
    private const int ProtReadWrite = 0x3;
    private const int MapSharedPopulate = 0x01 | 0x8000; // MAP_SHARED | MAP_POPULATE
    private const int EINTR = 4, EAGAIN = 11, EBUSY = 16;

    [StructLayout(LayoutKind.Sequential)]
    private struct SqRingOffsets // struct io_sqring_offsets, 40 bytes
    {
        public uint Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1;
        public ulong UserAddr;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CqRingOffsets // struct io_cqring_offsets, 40 bytes
    {
        public uint Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1;
        public ulong UserAddr;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Params // struct io_uring_params, 120 bytes
    {
        public uint SqEntries, CqEntries, Flags, SqThreadCpu, SqThreadIdle, Features, WqFd, Resv0, Resv1, Resv2;
        public SqRingOffsets SqOff;
        public CqRingOffsets CqOff;
    }

    [StructLayout(LayoutKind.Explicit, Size = 64)]
    private struct Sqe // struct io_uring_sqe
    {
        [FieldOffset(0)] public byte Opcode;
        [FieldOffset(1)] public byte Flags;
        [FieldOffset(2)] public ushort IoPrio;
        [FieldOffset(4)] public int Fd;
        [FieldOffset(8)] public ulong Offset;
        [FieldOffset(16)] public ulong Address;
        [FieldOffset(24)] public uint Length;
        [FieldOffset(28)] public uint RwFlags;
        [FieldOffset(32)] public ulong UserData;
        [FieldOffset(40)] public ushort BufIndex;
        [FieldOffset(42)] public ushort Personality;
        [FieldOffset(44)] public int SpliceFdIn;
        [FieldOffset(48)] public ulong Addr3;
        [FieldOffset(56)] public ulong Pad2;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Cqe // struct io_uring_cqe, 16 bytes
    {
        public ulong UserData;
        public int Result;
        public uint Flags;
    }

    static IoUring()
    {
        // The ABI sizes this code relies on.
        if (sizeof(Params) != 120 || sizeof(Sqe) != 64 || sizeof(Cqe) != 16) throw new InvalidOperationException("io_uring ABI layout mismatch");
    }

    private readonly int _fd;
    private readonly byte* _sqRing, _cqRing;
    private readonly nuint _sqRingSize, _cqRingSize, _sqesSize;
    private readonly Sqe* _sqes;
    private readonly uint* _sqHead, _sqTail, _sqArray, _cqHead, _cqTail;
    private readonly uint _sqMask, _cqMask;
    private readonly Cqe* _cqes;
    private uint _tail;      // our next SQE (published to the kernel by Submit)
    private int _inFlight;   // prepared and not yet reaped
    private bool _disposed;

    private IoUring(int fd, in Params p, byte* sqRing, nuint sqRingSize, byte* cqRing, nuint cqRingSize, Sqe* sqes, nuint sqesSize)
    {
        _fd = fd;
        _sqRing = sqRing;
        _sqRingSize = sqRingSize;
        _cqRing = cqRing;
        _cqRingSize = cqRingSize;
        _sqes = sqes;
        _sqesSize = sqesSize;
        _sqHead = (uint*)(sqRing + p.SqOff.Head);
        _sqTail = (uint*)(sqRing + p.SqOff.Tail);
        _sqArray = (uint*)(sqRing + p.SqOff.Array);
        _sqMask = *(uint*)(sqRing + p.SqOff.RingMask);
        _cqHead = (uint*)(cqRing + p.CqOff.Head);
        _cqTail = (uint*)(cqRing + p.CqOff.Tail);
        _cqMask = *(uint*)(cqRing + p.CqOff.RingMask);
        _cqes = (Cqe*)(cqRing + p.CqOff.Cqes);
        Entries = (int)p.SqEntries;
        _tail = Volatile.Read(ref *_sqTail);
    }

    /// <summary>Submission queue entries (the most I/Os this ring keeps in flight).</summary>
    public int Entries { get; }

    /// <summary>I/Os prepared and not yet reaped.</summary>
    public int InFlight => _inFlight;

    /// <summary>True when another I/O can be prepared.</summary>
    public bool HasRoom => _inFlight < Entries;

    /// <summary>Prepared I/Os not yet handed to the kernel.</summary>
    public int Unsubmitted => (int)(_tail - Volatile.Read(ref *_sqHead));

    /// <summary>
    /// Sets up a ring of <paramref name="entries"/> (rounded up to a power of two by the kernel). Returns null, with the
    /// reason in <paramref name="error"/>, where io_uring is unavailable (not Linux, ENOSYS, EPERM from a seccomp filter
    /// or <c>kernel.io_uring_disabled</c>, ...).
    /// </summary>
    public static IoUring? TryCreate(int entries, out string? error) => TryCreate(entries, out error, out _);

    /// <summary>Sets up and disposes a small ring: 0 when io_uring works here, else the errno of io_uring_setup (ENOSYS 38
    /// without io_uring, EPERM 1 where a seccomp filter or <c>kernel.io_uring_disabled</c> refuses it), or -1 off Linux.</summary>
    public static int ProbeSetupErrno()
    {
        using var ring = TryCreate(2, out _, out int errno);
        return ring is null ? errno : 0;
    }

    private static IoUring? TryCreate(int entries, out string? error, out int errno)
    {
        error = null;
        errno = -1;
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64))
        {
            error = $"io_uring is not available on {RuntimeInformation.OSDescription} {RuntimeInformation.ProcessArchitecture}";
            return null;
        }

        var p = default(Params);
        int fd = (int)Syscall(SysIoUringSetup, entries, (long)&p, 0, 0, 0, 0);
        if (fd < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            error = $"io_uring_setup failed: {LibC.Describe(errno)}";
            return null;
        }

        nuint sqSize = p.SqOff.Array + p.SqEntries * sizeof(uint);
        nuint cqSize = p.CqOff.Cqes + p.CqEntries * (nuint)sizeof(Cqe);
        nuint sqesSize = p.SqEntries * (nuint)sizeof(Sqe);
        byte* sq = (byte*)MMap(0, sqSize, ProtReadWrite, MapSharedPopulate, fd, OffSqRing);
        byte* cq = (byte*)MMap(0, cqSize, ProtReadWrite, MapSharedPopulate, fd, OffCqRing);
        Sqe* sqes = (Sqe*)MMap(0, sqesSize, ProtReadWrite, MapSharedPopulate, fd, OffSqes);
        if (sq == (byte*)-1 || cq == (byte*)-1 || sqes == (Sqe*)-1)
        {
            errno = Marshal.GetLastPInvokeError();
            error = $"mmap of the io_uring rings failed: {LibC.Describe(errno)}";
            if (sq != (byte*)-1) _ = MUnmap(sq, sqSize);
            if (cq != (byte*)-1) _ = MUnmap(cq, cqSize);
            if (sqes != (Sqe*)-1) _ = MUnmap(sqes, sqesSize);
            _ = Close(fd);
            return null;
        }

        errno = 0;
        return new IoUring(fd, in p, sq, sqSize, cq, cqSize, sqes, sqesSize);
    }

    /// <summary>Queues one read (<see cref="OpRead"/>) or write (<see cref="OpWrite"/>) of <paramref name="length"/> bytes at
    /// <paramref name="offset"/> of <paramref name="fd"/> into/from <paramref name="buffer"/>; false when the ring is full.
    /// The buffer must stay valid until the completion is reaped. Nothing reaches the kernel before <see cref="Submit"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPrepare(byte opcode, int fd, long offset, void* buffer, int length, ulong userData)
    {
        if (_inFlight >= Entries || _tail - Volatile.Read(ref *_sqHead) >= (uint)Entries) return false;
        uint index = _tail & _sqMask;
        Sqe* sqe = _sqes + index;
        *sqe = default;
        sqe->Opcode = opcode;
        sqe->Fd = fd;
        sqe->Offset = (ulong)offset;
        sqe->Address = (ulong)buffer;
        sqe->Length = (uint)length;
        sqe->UserData = userData;
        _sqArray[index] = index;
        _tail++;
        _inFlight++;
        return true;
    }

    /// <summary>Hands every prepared I/O to the kernel with one io_uring_enter (none when nothing is prepared). Returns the
    /// number the kernel took; I/Os it could not take yet (EAGAIN, EBUSY, EINTR) stay queued for the next call.</summary>
    public int Submit() => Enter(0);

    /// <summary>True when a read's completion <paramref name="result"/> asks for the rest of its <paramref name="left"/>
    /// bytes to be submitted again: EAGAIN, or a short read (a whole number of blocks under O_DIRECT).</summary>
    public static bool ReadWantsRest(int result, int left) => result == -11 /* EAGAIN */ || (result > 0 && result < left);

    /// <summary>Submits what is prepared and blocks until at least <paramref name="minComplete"/> completions are in the ring.</summary>
    public int SubmitAndWait(int minComplete) => Enter(minComplete);

    private int Enter(int minComplete)
    {
        uint toSubmit = _tail - Volatile.Read(ref *_sqHead);
        if (toSubmit == 0 && minComplete == 0) return 0;
        Volatile.Write(ref *_sqTail, _tail); // release: the SQEs and array entries above are visible first
        long r = Syscall(SysIoUringEnter, _fd, toSubmit, minComplete, minComplete > 0 ? EnterGetEvents : 0, 0, 0);
        if (r >= 0) return (int)r;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is EINTR or EAGAIN or EBUSY) return 0;
        throw new IOException($"io_uring_enter failed: {LibC.Describe(errno)}");
    }

    /// <summary>Takes one completion, if any: its user data and result (bytes moved, or -errno).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryReap(out ulong userData, out int result)
    {
        uint head = *_cqHead;
        if (head == Volatile.Read(ref *_cqTail)) // acquire: the CQE is written before the tail moves
        {
            userData = 0;
            result = 0;
            return false;
        }

        Cqe* cqe = _cqes + (head & _cqMask);
        userData = cqe->UserData;
        result = cqe->Result;
        Volatile.Write(ref *_cqHead, head + 1); // release: the slot may be reused
        _inFlight--;
        return true;
    }

    /// <summary>Unmaps the rings and closes the ring's descriptor (I/Os still in flight complete into nothing).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _ = MUnmap(_sqes, _sqesSize);
        _ = MUnmap(_cqRing, _cqRingSize);
        _ = MUnmap(_sqRing, _sqRingSize);
        _ = Close(_fd);
    }

    // syscall(2) is variadic in C; glibc implements it in assembly that only moves registers, so a fixed six-argument
    // signature is safe on x86_64 and arm64.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial void* MMap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int MUnmap(void* address, nuint length);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
