using System.Runtime.InteropServices;
using Scalio.Verbs;

namespace Scalio.Nvme;

/// <summary>
/// A namespace held in native memory (4 KiB aligned, zero-filled; allocated with calloc so large namespaces are
/// zeroed lazily by the OS and only touched pages use RAM). Concurrent reads and writes of different
/// blocks are safe; concurrent access to the same block may tear, as it may on real media.
/// </summary>
public sealed unsafe class RamNamespace : NvmeNamespace
{
    private const int Alignment = 4096;
    private byte* _base;
    private void* _raw;
    private readonly long _bytes;

    /// <summary>Allocates a zero-filled namespace of <paramref name="lbaCount"/> blocks.</summary>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="lbaSize">512 or 4096.</param>
    /// <param name="lbaCount">Number of blocks.</param>
    public RamNamespace(uint nsid, int lbaSize, ulong lbaCount)
        : base(nsid, lbaSize, lbaCount)
    {
        _bytes = CapacityBytes;
        if ((ulong)_bytes > nuint.MaxValue)
        {
            NvmeThrow.ArgumentOutOfRange(nameof(lbaCount), "The namespace does not fit in this process's address space.");
        }

        // calloc rather than AlignedAlloc + Clear: big blocks come straight from mmap and are not touched until used.
        _raw = NativeMemory.AllocZeroed((nuint)_bytes + Alignment - 1);
        _base = (byte*)(((nuint)_raw + Alignment - 1) & ~(nuint)(Alignment - 1));
        GC.AddMemoryPressure(_bytes);
    }

    /// <summary>Frees the memory if <see cref="NvmeNamespace.Dispose()"/> was not called.</summary>
    ~RamNamespace() => Dispose(false);

    /// <inheritdoc/>
    protected override NvmeStatus ReadCore(ulong slba, int blocks, Span<byte> destination)
    {
        long t = HardwareWork.Begin(); // the SSD's DMA, not the host CPU's work
        new ReadOnlySpan<byte>(_base + (slba << LbaShift), destination.Length).CopyTo(destination);
        HardwareWork.End(t);
        return NvmeStatus.Success;
    }

    /// <inheritdoc/>
    protected override NvmeStatus WriteCore(ulong slba, int blocks, ReadOnlySpan<byte> source, bool fua)
    {
        long t = HardwareWork.Begin(); // the SSD's DMA, not the host CPU's work
        source.CopyTo(new Span<byte>(_base + (slba << LbaShift), source.Length));
        HardwareWork.End(t);
        return NvmeStatus.Success;
    }

    /// <inheritdoc/>
    protected override NvmeStatus FlushCore() => NvmeStatus.Success;

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        void* p = _raw;
        _raw = null;
        _base = null;
        if (p != null)
        {
            NativeMemory.Free(p);
            GC.RemoveMemoryPressure(_bytes);
        }

        base.Dispose(disposing);
    }
}
