using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Scalio.Fast.Cache;
using Scalio.Fast.Storage;
using Scalio.Verbs;

namespace Scalio.Fast.Client;

/// <summary>
/// A reusable batch of GETs for one <see cref="ScalioClient"/> (<see cref="ScalioClient.CreateGetBatch"/>): add keys,
/// run them with <see cref="ScalioClient.Get(ScalioGetBatch)"/>, read each status and value, <see cref="Clear"/>, repeat.
/// Each key gets its own registered buffers, so its bucket read, lock, location read, SSD read and fill are in flight
/// together with the others'. Creating a batch allocates; using it does not.
/// </summary>
public sealed unsafe class ScalioGetBatch : IDisposable
{
    /// <summary>Most keys one batch holds.</summary>
    public const int MaxCapacity = 64;

    internal readonly ScalioClient Owner;
    internal readonly MemoryRegion Region;
    internal readonly StepContext[] Steps;
    internal readonly int[] DataOffsets;
    internal readonly WorkRequest* Chain; // two requests per key
    private readonly WorkRequest[] _chainStorage; // pinned: Chain points into it
    private readonly SlotLayout _layout;
    private readonly int _keyCapacity;
    private readonly byte[] _keys, _values;
    internal readonly int[] KeyLengths, ValueLengths;
    internal readonly OpStatus[] Statuses;
    internal readonly bool[] Hits;
    internal readonly Lane[] Lanes;
    private bool _disposed;

    /// <summary>Where one key's GET stands inside a batch.</summary>
    internal enum Stage : byte
    {
        /// <summary>Finished (hit, or a final status).</summary>
        Done,
        /// <summary>Missed; a victim slot is chosen.</summary>
        Miss,
        /// <summary>The victim slot is ours (FILLING).</summary>
        Locked,
        /// <summary>Its SSD read is posted.</summary>
        Reading,
        /// <summary>The SSD block is read and the slot body posted.</summary>
        Filling,
        /// <summary>Holds the lock but must give it back, then finish with <see cref="Lane.After"/>.</summary>
        Release,
        /// <summary>A rare path (torn image, a filler in the way, no victim): run alone afterwards.</summary>
        Alone,
        /// <summary>The same key as an earlier missing lane (<see cref="Lane.Leader"/>): takes that lane's answer.</summary>
        Follow,
    }

    /// <summary>Per-key protocol state.</summary>
    internal struct Lane
    {
        public KeyHash Hash;
        public int Bucket, SsdBucket, Victim, Pages, Leader;
        public ulong VictimHeader, Locked;
        public Location Location;
        public Stage Stage;
        public Stage After; // for Release: Done (with Status set) or Alone
    }

    internal ScalioGetBatch(ScalioClient owner, ProtectionDomain domain, SlotLayout layout, int capacity, int pageSize, int pagesPerRead)
    {
        if (capacity < 1 || capacity > MaxCapacity)
            throw new ArgumentOutOfRangeException(nameof(capacity), $"a batch holds 1..{MaxCapacity} keys");
        Owner = owner;
        _layout = layout;
        _keyCapacity = layout.KeyCapacity;
        Capacity = capacity;
        int bucket = (layout.BucketSize + 63) & ~63;
        int slot = (layout.SlotSize + 63) & ~63;
        int control = bucket + 64 + 64 + slot;
        int controlBytes = (capacity * control + 4095) & ~4095;
        int data = pageSize * Math.Max(1, pagesPerRead);
        DataBytes = data;
        Region = domain.Allocate((nuint)(controlBytes + (long)capacity * data), MemoryAccess.All, 4096);
        Steps = new StepContext[capacity];
        DataOffsets = new int[capacity];
        for (int i = 0; i < capacity; i++)
        {
            int b = i * control;
            Steps[i] = new StepContext(Region, b, b + bucket, b + bucket + 64, b + bucket + 128, owner.Descriptor);
            DataOffsets[i] = controlBytes + i * data;
        }
        _chainStorage = GC.AllocateArray<WorkRequest>(2 * capacity, pinned: true);
        Chain = (WorkRequest*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_chainStorage));
        _keys = new byte[capacity * layout.KeyCapacity];
        _values = new byte[capacity * layout.ValueCapacity];
        KeyLengths = new int[capacity];
        ValueLengths = new int[capacity];
        Statuses = new OpStatus[capacity];
        Hits = new bool[capacity];
        Lanes = new Lane[capacity];
    }

    /// <summary>Bytes of each key's SSD read buffer.</summary>
    internal readonly int DataBytes;

    /// <summary>Keys the batch can hold.</summary>
    public int Capacity { get; }

    /// <summary>Keys added since the last <see cref="Clear"/>.</summary>
    public int Count { get; private set; }

    /// <summary>Adds <paramref name="key"/> (copied); returns its index.</summary>
    /// <exception cref="InvalidOperationException">The batch is full.</exception>
    /// <exception cref="ArgumentException">The key does not fit the schema.</exception>
    public int Add(ReadOnlySpan<byte> key)
    {
        if (Count == Capacity) ThrowHelper.InvalidOperation($"the batch holds {Capacity} keys already");
        if ((uint)(key.Length - 1) >= (uint)_keyCapacity) _layout.ValidateKey(key); // throws the schema's error
        int i = Count++;
        key.CopyTo(_keys.AsSpan(i * _keyCapacity));
        KeyLengths[i] = key.Length;
        Statuses[i] = OpStatus.Timeout;
        ValueLengths[i] = 0;
        Hits[i] = false;
        return i;
    }

    /// <summary>Empties the batch for reuse.</summary>
    public void Clear()
    {
        Count = 0;
        HitCount = 0;
    }

    /// <summary>How many GETs of the last run the cache served (each also says so in <see cref="HitAt"/>).</summary>
    public int HitCount { get; internal set; }

    /// <summary>The key at <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> KeyAt(int index) => _keys.AsSpan(Check(index) * _layout.KeyCapacity, KeyLengths[index]);

    /// <summary>The status of the GET at <paramref name="index"/> after the batch ran.</summary>
    public OpStatus StatusAt(int index) => Statuses[Check(index)];

    /// <summary>The value read at <paramref name="index"/> (empty unless its status is <see cref="OpStatus.Ok"/>).</summary>
    public ReadOnlySpan<byte> ValueAt(int index) => _values.AsSpan(Check(index) * _layout.ValueCapacity, ValueLengths[index]);

    /// <summary>True when the cache served the GET at <paramref name="index"/>.</summary>
    public bool HitAt(int index) => Hits[Check(index)];

    /// <summary>The key at <paramref name="index"/>, for the client that already knows the index is in range.</summary>
    internal ReadOnlySpan<byte> KeyOf(int index) => _keys.AsSpan(index * _keyCapacity, KeyLengths[index]);

    /// <summary>Gives key <paramref name="to"/> the status and value of key <paramref name="from"/> (the same key, read once).</summary>
    internal void CopyAnswer(int from, int to)
    {
        Statuses[to] = Statuses[from];
        int length = ValueLengths[to] = ValueLengths[from];
        ValueBuffer(from)[..length].CopyTo(ValueBuffer(to));
    }

    /// <summary>Told of each answer during <see cref="ScalioClient.Get(ScalioGetBatch, IGetBatchObserver)"/>; null otherwise.</summary>
    internal IGetBatchObserver? Observer;

    /// <summary>Key <paramref name="index"/>'s status, value and hit are final: tells the observer, if any.</summary>
    internal void Answered(int index) => Observer?.Answered(this, index);

    internal Span<byte> ValueBuffer(int index) => _values.AsSpan(index * _layout.ValueCapacity, _layout.ValueCapacity);

    internal Span<byte> BucketImage(int index) => Region.Slice(Steps[index].BucketBuffer, _layout.BucketSize);

    internal Span<byte> SlotImage(int index) => Region.Slice(Steps[index].SlotBuffer, _layout.SlotSize);

    internal ulong Atomic(int index) => *(ulong*)(Region.Address + Steps[index].AtomicBuffer);

    internal ulong LocationWord(int index, int word) => *(ulong*)(Region.Address + Steps[index].LocationBuffer + 8 * word);

    private int Check(int index)
    {
        if ((uint)index >= (uint)Count) ThrowHelper.ArgumentOutOfRange(nameof(index), $"the batch holds {Count} keys");
        return index;
    }

    /// <summary>Releases the batch's registered buffers.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Region.Dispose();
    }
}
