using System.Numerics;
using System.Runtime.CompilerServices;

namespace Scalio.Nvme;

/// <summary>
/// An NVMe namespace: a range of logical blocks (LBAs) of 512 B or 4 KiB. I/O errors are reported as an
/// <see cref="NvmeStatus"/>, never thrown: a zero or oversized block count gives Invalid Field, a buffer smaller
/// than the transfer gives Data SGL Length Invalid, a range past the end gives LBA Out of Range, and media
/// failures give Unrecovered Read Error / Write Fault. Using a namespace after <see cref="Dispose()"/> is a
/// programming error and throws; disposing while I/O is in flight is not allowed.
/// </summary>
public abstract class NvmeNamespace : IDisposable
{
    private long _reads;
    private long _writes;
    private long _flushes;
    private long _bytesRead;
    private long _bytesWritten;
    private int _disposed;

    /// <summary>Initialises the geometry.</summary>
    /// <param name="nsid">Namespace identifier, 1..FFFFFFFEh.</param>
    /// <param name="lbaSize">Logical block size: 512 or 4096.</param>
    /// <param name="lbaCount">Number of logical blocks (NSZE), at least 1.</param>
    protected NvmeNamespace(uint nsid, int lbaSize, ulong lbaCount)
    {
        if (nsid is 0 or 0xFFFF_FFFF)
        {
            NvmeThrow.ArgumentOutOfRange(nameof(nsid), "A namespace identifier is 1..FFFFFFFEh (0 and FFFFFFFFh are reserved).");
        }

        if (lbaSize is not (512 or 4096))
        {
            NvmeThrow.ArgumentOutOfRange(nameof(lbaSize), $"The LBA size must be 512 or 4096 bytes, not {lbaSize}.");
        }

        if (lbaCount == 0 || lbaCount > (ulong)(long.MaxValue / lbaSize))
        {
            NvmeThrow.ArgumentOutOfRange(nameof(lbaCount), "The LBA count must be at least 1 and the capacity must fit in a signed 64-bit byte count.");
        }

        Nsid = nsid;
        LbaSize = lbaSize;
        LbaShift = BitOperations.Log2((uint)lbaSize);
        LbaCount = lbaCount;
    }

    /// <summary>Namespace identifier.</summary>
    public uint Nsid { get; }

    /// <summary>Logical block size in bytes (512 or 4096).</summary>
    public int LbaSize { get; }

    /// <summary>log2 of <see cref="LbaSize"/> (9 or 12), the LBADS value of Identify Namespace.</summary>
    public int LbaShift { get; }

    /// <summary>Number of logical blocks (NSZE).</summary>
    public ulong LbaCount { get; }

    /// <summary>Capacity in bytes.</summary>
    public long CapacityBytes => (long)LbaCount << LbaShift;

    /// <summary>Successful reads.</summary>
    public long ReadCount => Volatile.Read(ref _reads);

    /// <summary>Successful writes.</summary>
    public long WriteCount => Volatile.Read(ref _writes);

    /// <summary>Successful flushes.</summary>
    public long FlushCount => Volatile.Read(ref _flushes);

    /// <summary>Bytes returned by successful reads.</summary>
    public long BytesRead => Volatile.Read(ref _bytesRead);

    /// <summary>Bytes stored by successful writes.</summary>
    public long BytesWritten => Volatile.Read(ref _bytesWritten);

    /// <summary>True for a write-protected namespace: writes return <see cref="NvmeStatus.NamespaceWriteProtected"/>
    /// and Identify Namespace reports NSATTR bit 0.</summary>
    public virtual bool IsReadOnly => false;

    /// <summary>True once <see cref="Dispose()"/> has run.</summary>
    protected bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Reads <paramref name="blocks"/> blocks starting at <paramref name="slba"/> into the start of <paramref name="destination"/>.</summary>
    /// <param name="slba">First LBA.</param>
    /// <param name="blocks">Number of blocks (not zero-based).</param>
    /// <param name="destination">At least <c>blocks * LbaSize</c> bytes.</param>
    /// <returns>The NVMe status of the operation.</returns>
    public NvmeStatus Read(ulong slba, int blocks, Span<byte> destination)
    {
        NvmeStatus status = Validate(slba, blocks, destination.Length, out int bytes);
        if (!status.IsSuccess)
        {
            return status;
        }

        status = ReadCore(slba, blocks, destination.Slice(0, bytes));
        if (status.IsSuccess)
        {
            Interlocked.Increment(ref _reads);
            Interlocked.Add(ref _bytesRead, bytes);
        }

        return status;
    }

    /// <summary>Writes <paramref name="blocks"/> blocks starting at <paramref name="slba"/> from the start of <paramref name="source"/>.</summary>
    /// <param name="slba">First LBA.</param>
    /// <param name="blocks">Number of blocks (not zero-based).</param>
    /// <param name="source">At least <c>blocks * LbaSize</c> bytes.</param>
    /// <param name="fua">Force Unit Access: the data is durable when the call returns success.</param>
    /// <returns>The NVMe status of the operation.</returns>
    public NvmeStatus Write(ulong slba, int blocks, ReadOnlySpan<byte> source, bool fua)
    {
        NvmeStatus status = Validate(slba, blocks, source.Length, out int bytes);
        if (!status.IsSuccess)
        {
            return status;
        }

        if (IsReadOnly)
        {
            return NvmeStatus.NamespaceWriteProtected;
        }

        status = WriteCore(slba, blocks, source.Slice(0, bytes), fua);
        if (status.IsSuccess)
        {
            Interlocked.Increment(ref _writes);
            Interlocked.Add(ref _bytesWritten, bytes);
        }

        return status;
    }

    /// <summary>Makes every completed write durable.</summary>
    /// <returns>The NVMe status of the operation.</returns>
    public NvmeStatus Flush()
    {
        ThrowIfDisposed();
        NvmeStatus status = FlushCore();
        if (status.IsSuccess)
        {
            Interlocked.Increment(ref _flushes);
        }

        return status;
    }

    /// <summary>Reads validated blocks; <paramref name="destination"/> is exactly <c>blocks * LbaSize</c> bytes.</summary>
    /// <param name="slba">First LBA, in range.</param>
    /// <param name="blocks">Number of blocks, in range.</param>
    /// <param name="destination">Exactly the transfer size.</param>
    /// <returns>The NVMe status of the operation.</returns>
    protected abstract NvmeStatus ReadCore(ulong slba, int blocks, Span<byte> destination);

    /// <summary>Writes validated blocks; <paramref name="source"/> is exactly <c>blocks * LbaSize</c> bytes.</summary>
    /// <param name="slba">First LBA, in range.</param>
    /// <param name="blocks">Number of blocks, in range.</param>
    /// <param name="source">Exactly the transfer size.</param>
    /// <param name="fua">Force Unit Access.</param>
    /// <returns>The NVMe status of the operation.</returns>
    protected abstract NvmeStatus WriteCore(ulong slba, int blocks, ReadOnlySpan<byte> source, bool fua);

    /// <summary>Makes every completed write durable.</summary>
    /// <returns>The NVMe status of the operation.</returns>
    protected abstract NvmeStatus FlushCore();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private NvmeStatus Validate(ulong slba, int blocks, int bufferLength, out int bytes)
    {
        ThrowIfDisposed();
        bytes = 0;
        if (blocks <= 0 || blocks > (int.MaxValue >> LbaShift))
        {
            return NvmeStatus.InvalidField;
        }

        bytes = blocks << LbaShift;
        if (bufferLength < bytes)
        {
            return NvmeStatus.DataSglLengthInvalid;
        }

        if (slba >= LbaCount || (ulong)blocks > LbaCount - slba)
        {
            return NvmeStatus.LbaOutOfRange;
        }

        return NvmeStatus.Success;
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> after <see cref="Dispose()"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            NvmeThrow.ObjectDisposed(GetType().Name);
        }
    }

    /// <summary>Releases the namespace's resources; later I/O throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Dispose(true);
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Releases resources; called once.</summary>
    /// <param name="disposing">True from <see cref="Dispose()"/>, false from a finalizer.</param>
    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Description with geometry.</summary>
    public override string ToString() => $"{GetType().Name} nsid {Nsid}: {LbaCount} x {LbaSize} B";
}
