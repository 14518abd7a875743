using System.Runtime.InteropServices;

namespace Scalio.Nvme;

/// <summary>
/// A small lock-free pool of page-aligned native buffers, used as bounce buffers for O_DIRECT I/O when a
/// caller's span is not aligned. When every slot is busy a buffer is allocated (and later freed or kept).
/// </summary>
internal sealed unsafe class AlignedBufferPool : IDisposable
{
    public const int Alignment = 4096;
    private const int Granule = 64 * 1024;

    private readonly Buffer?[] _slots;
    private volatile bool _disposed;

    public AlignedBufferPool(int slots) => _slots = new Buffer?[Math.Max(1, slots)];

    internal sealed class Buffer
    {
        public Buffer(int capacity)
        {
            Capacity = capacity;
            Pointer = (byte*)NativeMemory.AlignedAlloc((nuint)capacity, Alignment);
        }

        public byte* Pointer { get; private set; }

        public int Capacity { get; }

        public Span<byte> AsSpan(int length) => new(Pointer, length);

        public void Free()
        {
            byte* p = Pointer;
            Pointer = null;
            if (p != null)
            {
                NativeMemory.AlignedFree(p);
            }
        }
    }

    public Buffer Rent(int bytes)
    {
        Buffer?[] slots = _slots;
        for (int i = 0; i < slots.Length; i++)
        {
            if (Volatile.Read(ref slots[i]) is null)
            {
                continue;
            }

            Buffer? b = Interlocked.Exchange(ref slots[i], null);
            if (b is null)
            {
                continue;
            }

            if (b.Capacity >= bytes)
            {
                return b;
            }

            b.Free();
            break;
        }

        int capacity = bytes <= int.MaxValue - Granule ? (bytes + Granule - 1) / Granule * Granule : bytes;
        return new Buffer(capacity);
    }

    public void Return(Buffer buffer)
    {
        if (!_disposed)
        {
            Buffer?[] slots = _slots;
            for (int i = 0; i < slots.Length; i++)
            {
                if (Interlocked.CompareExchange(ref slots[i], buffer, null) is null)
                {
                    if (_disposed && Interlocked.Exchange(ref slots[i], null) is { } raced)
                    {
                        raced.Free();
                    }

                    return;
                }
            }
        }

        buffer.Free();
    }

    public void Dispose()
    {
        _disposed = true;
        for (int i = 0; i < _slots.Length; i++)
        {
            Interlocked.Exchange(ref _slots[i], null)?.Free();
        }
    }
}
