using System.Runtime.InteropServices;

namespace Scalio.Fast.Storage;

/// <summary>
/// PUTs and DELETEs gathered for one device, committed together by <see cref="DeviceLog.Commit"/>. Keys and values
/// are copied into a native arena at <see cref="TryAdd"/>, so the batch owns its bytes; nothing allocates after
/// construction. Not thread-safe: the server guards each device's open batch with a lock.
/// </summary>
internal sealed unsafe class WriteBatch : IDisposable
{
    private readonly int[] _bucket;
    private readonly ushort[] _keyLength;
    private readonly int[] _valueLength;
    private readonly bool[] _remove;
    private readonly OpStatus[] _status;
    private readonly int _maxKey, _stride;
    private byte* _arena;

    public WriteBatch(int capacity, int maxKey, int maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _maxKey = maxKey;
        _stride = (maxKey + maxValue + 7) & ~7;
        _bucket = new int[capacity];
        _keyLength = new ushort[capacity];
        _valueLength = new int[capacity];
        _remove = new bool[capacity];
        _status = new OpStatus[capacity];
        _arena = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(8, _stride * capacity), 64);
    }

    /// <summary>Entries the batch holds at most.</summary>
    public int Capacity { get; }

    /// <summary>Entries added so far.</summary>
    public int Count { get; private set; }

    /// <summary>True when no more entries fit.</summary>
    public bool IsFull => Count >= Capacity;

    /// <summary>Stopwatch timestamp of the first entry (the batch's age is measured from it).</summary>
    public long FirstTimestamp { get; private set; }

    /// <summary>Adds one entry in arrival order; returns its index, or -1 when the batch is full or the sizes exceed the arena.</summary>
    public int TryAdd(int bucket, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool remove, long timestamp)
    {
        if (Count >= Capacity || key.Length > _maxKey || key.Length + value.Length > _stride) return -1;
        int i = Count++;
        if (i == 0) FirstTimestamp = timestamp;
        _bucket[i] = bucket;
        _keyLength[i] = (ushort)key.Length;
        _valueLength[i] = remove ? 0 : value.Length;
        _remove[i] = remove;
        _status[i] = OpStatus.Ok;
        var slot = new Span<byte>(_arena + (long)i * _stride, _stride);
        key.CopyTo(slot);
        if (!remove) value.CopyTo(slot[key.Length..]);
        return i;
    }

    /// <summary>SSD bucket of entry <paramref name="i"/>.</summary>
    public int Bucket(int i) => _bucket[i];

    /// <summary>Key of entry <paramref name="i"/>.</summary>
    public ReadOnlySpan<byte> Key(int i) => new(_arena + (long)i * _stride, _keyLength[i]);

    /// <summary>Value of entry <paramref name="i"/> (empty for a removal).</summary>
    public ReadOnlySpan<byte> Value(int i) => new(_arena + (long)i * _stride + _keyLength[i], _valueLength[i]);

    /// <summary>True when entry <paramref name="i"/> removes its key.</summary>
    public bool IsRemove(int i) => _remove[i];

    /// <summary>Outcome of entry <paramref name="i"/> after the commit.</summary>
    public OpStatus Status(int i) => _status[i];

    /// <summary>Sets the outcome of entry <paramref name="i"/>.</summary>
    public void SetStatus(int i, OpStatus status) => _status[i] = status;

    /// <summary>Empties the batch for reuse.</summary>
    public void Clear() => Count = 0;

    public void Dispose()
    {
        if (_arena != null)
        {
            NativeMemory.AlignedFree(_arena);
            _arena = null;
        }
    }
}
