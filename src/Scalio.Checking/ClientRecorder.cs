using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Scalio.Checking;

/// <summary>
/// Records the operations of one client of a <see cref="HistoryRecorder"/>. Not thread-safe: one
/// thread at a time per client. <c>Begin*</c> stamps the start time and returns the operation's
/// index; <c>Complete*</c> stamps the end. An operation never completed keeps a null end.
/// </summary>
public sealed class ClientRecorder
{
    private const long NotEnded = -1;
    private const int NoValue = -1;

    private readonly HistoryRecorder _owner;
    private Entry[] _entries;
    private byte[] _arena;
    private int _arenaUsed;
    private int _count;

    internal ClientRecorder(HistoryRecorder owner, int clientId, int capacity, int arenaBytes)
    {
        _owner = owner;
        ClientId = clientId;
        _entries = new Entry[capacity];
        _arena = new byte[arenaBytes];
    }

    /// <summary>The client's id.</summary>
    public int ClientId { get; }

    /// <summary>Number of operations begun so far.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Records the start of a get of <paramref name="key"/>.</summary>
    /// <param name="key">Key bytes.</param>
    /// <returns>The operation's index for <see cref="CompleteGet"/> / <see cref="CompleteGetNotFound"/>.</returns>
    public int BeginGet(ReadOnlySpan<byte> key) => Begin(OperationKind.Get, key, default, hasValue: false);

    /// <summary>Records the start of a put of <paramref name="value"/> to <paramref name="key"/>.</summary>
    /// <param name="key">Key bytes.</param>
    /// <param name="value">Value bytes.</param>
    /// <returns>The operation's index for <see cref="Complete"/>.</returns>
    public int BeginPut(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Begin(OperationKind.Put, key, value, hasValue: true);

    /// <summary>Records the start of a delete of <paramref name="key"/>.</summary>
    /// <param name="key">Key bytes.</param>
    /// <returns>The operation's index for <see cref="Complete"/>.</returns>
    public int BeginDelete(ReadOnlySpan<byte> key) => Begin(OperationKind.Delete, key, default, hasValue: false);

    /// <summary>Records that the get <paramref name="index"/> returned <paramref name="value"/>.</summary>
    /// <param name="index">Index from <see cref="BeginGet"/>.</param>
    /// <param name="value">The value read.</param>
    public void CompleteGet(int index, ReadOnlySpan<byte> value)
    {
        ref Entry e = ref Pending(index, OperationKind.Get);
        int offset = Append(value);
        e.ValueOffset = offset;
        e.ValueLength = value.Length;
        Volatile.Write(ref e.End, _owner.NowNanoseconds());
    }

    /// <summary>Records that the get <paramref name="index"/> found no value.</summary>
    /// <param name="index">Index from <see cref="BeginGet"/>.</param>
    public void CompleteGetNotFound(int index)
    {
        ref Entry e = ref Pending(index, OperationKind.Get);
        e.ValueLength = NoValue;
        Volatile.Write(ref e.End, _owner.NowNanoseconds());
    }

    /// <summary>Records that the put or delete <paramref name="index"/> returned (took effect).</summary>
    /// <param name="index">Index from <see cref="BeginPut"/> or <see cref="BeginDelete"/>.</param>
    public void Complete(int index)
    {
        ref Entry e = ref Pending(index, null);
        if (e.Kind == OperationKind.Get)
        {
            ThrowWrongKind(index, e.Kind);
        }

        Volatile.Write(ref e.End, _owner.NowNanoseconds());
    }

    /// <summary>
    /// Removes the last operation begun, still pending, because it is known not to have taken effect (e.g. a put the
    /// server answered with an I/O error): the history keeps no trace of it, so a get that returns its value is a
    /// violation. An operation whose outcome is unknown (a timeout) must stay incomplete instead.
    /// </summary>
    /// <param name="index">Index from the last <c>Begin*</c> call.</param>
    public void Discard(int index)
    {
        if (index != _count - 1)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Client {ClientId}: only the last operation begun ({_count - 1}) can be discarded.");
        }

        ref Entry e = ref Pending(index, null);
        _arenaUsed = e.KeyOffset; // the key, then the value, were the last bytes appended
        Volatile.Write(ref _count, index);
    }

    internal void AppendTo(List<HistoryOperation> result)
    {
        int count = Volatile.Read(ref _count);
        Entry[] entries = Volatile.Read(ref _entries);
        for (int i = 0; i < count; i++)
        {
            long end = Volatile.Read(ref entries[i].End);
            byte[] arena = Volatile.Read(ref _arena);
            Entry e = entries[i];
            string key = HistoryText.FromBytes(arena.AsSpan(e.KeyOffset, e.KeyLength));
            string? value = null;
            if (e.Kind == OperationKind.Put || (e.Kind == OperationKind.Get && end != NotEnded && e.ValueLength != NoValue))
            {
                value = HistoryText.FromBytes(arena.AsSpan(e.ValueOffset, e.ValueLength));
            }

            result.Add(new HistoryOperation(ClientId, e.Kind, key, value, e.Start, end == NotEnded ? null : end));
        }
    }

    private int Begin(OperationKind kind, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool hasValue)
    {
        int index = _count;
        if (index == _entries.Length)
        {
            GrowEntries();
        }

        ref Entry e = ref _entries[index];
        e.Kind = kind;
        e.KeyOffset = Append(key);
        e.KeyLength = key.Length;
        if (hasValue)
        {
            e.ValueOffset = Append(value);
            e.ValueLength = value.Length;
        }
        else
        {
            e.ValueOffset = 0;
            e.ValueLength = NoValue;
        }

        e.End = NotEnded;
        e.Start = _owner.NowNanoseconds();
        Volatile.Write(ref _count, index + 1);
        return index;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Append(ReadOnlySpan<byte> bytes)
    {
        int offset = _arenaUsed;
        if (bytes.Length > _arena.Length - offset)
        {
            GrowArena(bytes.Length);
        }

        bytes.CopyTo(_arena.AsSpan(offset));
        _arenaUsed = offset + bytes.Length;
        return offset;
    }

    private ref Entry Pending(int index, OperationKind? kind)
    {
        if ((uint)index >= (uint)_count)
        {
            ThrowBadIndex(index);
        }

        ref Entry e = ref _entries[index];
        if (kind is OperationKind k && e.Kind != k)
        {
            ThrowWrongKind(index, e.Kind);
        }

        if (e.End != NotEnded)
        {
            ThrowAlreadyCompleted(index);
        }

        return ref e;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void GrowEntries()
    {
        var bigger = new Entry[checked(_entries.Length * 2)];
        _entries.CopyTo(bigger, 0);
        Volatile.Write(ref _entries, bigger);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void GrowArena(int needed)
    {
        long size = Math.Max((long)_arena.Length * 2, (long)_arenaUsed + needed);
        if (size > Array.MaxLength)
        {
            size = (long)_arenaUsed + needed;
            if (size > Array.MaxLength)
            {
                throw new InvalidOperationException($"Client {ClientId}: history buffer is full ({_arenaUsed} bytes).");
            }
        }

        var bigger = new byte[size];
        _arena.AsSpan(0, _arenaUsed).CopyTo(bigger);
        Volatile.Write(ref _arena, bigger);
    }

    [DoesNotReturn]
    private void ThrowBadIndex(int index)
        => throw new ArgumentOutOfRangeException(nameof(index), index, $"Client {ClientId} has begun {_count} operations.");

    [DoesNotReturn]
    private void ThrowWrongKind(int index, OperationKind kind)
        => throw new InvalidOperationException($"Client {ClientId}: operation {index} is a {HistoryJson.KindName(kind)}; use the matching Complete method.");

    [DoesNotReturn]
    private void ThrowAlreadyCompleted(int index)
        => throw new InvalidOperationException($"Client {ClientId}: operation {index} is already complete.");

    private struct Entry
    {
        public long Start;
        public long End;
        public int KeyOffset;
        public int KeyLength;
        public int ValueOffset;
        public int ValueLength;
        public OperationKind Kind;
    }
}
