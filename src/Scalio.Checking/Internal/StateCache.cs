namespace Scalio.Checking.Internal;

/// <summary>
/// The memo of visited search configurations (set of linearized operations, model state), as in
/// Lowe's refinement of Wing and Gong's search. A set is stored compactly and exactly as
/// (p, exceptions): p = the first complete operation not yet linearized, exceptions = the
/// incomplete operations before p that are not linearized plus the operations after p that are.
/// The hash is the Zobrist hash of the set mixed with the state.
/// </summary>
internal sealed class StateCache
{
    private int[] _table;
    private int _mask;
    private ulong[] _hash;
    private int[] _state;
    private int[] _p;
    private int[] _excStart;
    private int[] _excLength;
    private int _count;
    private int[] _pool;
    private int _poolUsed;

    public StateCache(int capacity)
    {
        int size = 1024;
        while (size < capacity * 2)
        {
            size <<= 1;
        }

        _table = new int[size];
        _mask = size - 1;
        _hash = new ulong[size / 2];
        _state = new int[size / 2];
        _p = new int[size / 2];
        _excStart = new int[size / 2];
        _excLength = new int[size / 2];
        _pool = new int[1024];
    }

    public int Count => _count;

    /// <summary>Adds the configuration; false when it was already present.</summary>
    public bool TryAdd(ulong setHash, int state, int p, ReadOnlySpan<int> exceptions)
    {
        ulong hash = setHash ^ ((ulong)(uint)state * 0x9E3779B97F4A7C15UL) ^ ((ulong)(uint)p * 0xC2B2AE3D27D4EB4FUL);
        int slot = (int)((hash * 0xD6E8FEB86659FD93UL) >> 32) & _mask;
        while (true)
        {
            int entry = _table[slot] - 1;
            if (entry < 0)
            {
                break;
            }

            if (_hash[entry] == hash && _state[entry] == state && _p[entry] == p
                && _pool.AsSpan(_excStart[entry], _excLength[entry]).SequenceEqual(exceptions))
            {
                return false;
            }

            slot = (slot + 1) & _mask;
        }

        if (_count == _hash.Length)
        {
            Grow();
            return TryAdd(setHash, state, p, exceptions);
        }

        if (exceptions.Length > _pool.Length - _poolUsed)
        {
            Array.Resize(ref _pool, Math.Max(_pool.Length * 2, _poolUsed + exceptions.Length));
        }

        int e = _count++;
        _hash[e] = hash;
        _state[e] = state;
        _p[e] = p;
        _excStart[e] = _poolUsed;
        _excLength[e] = exceptions.Length;
        exceptions.CopyTo(_pool.AsSpan(_poolUsed));
        _poolUsed += exceptions.Length;
        _table[slot] = e + 1;
        return true;
    }

    private void Grow()
    {
        int size = _table.Length * 2;
        _table = new int[size];
        _mask = size - 1;
        Array.Resize(ref _hash, size / 2);
        Array.Resize(ref _state, size / 2);
        Array.Resize(ref _p, size / 2);
        Array.Resize(ref _excStart, size / 2);
        Array.Resize(ref _excLength, size / 2);
        for (int e = 0; e < _count; e++)
        {
            int slot = (int)((_hash[e] * 0xD6E8FEB86659FD93UL) >> 32) & _mask;
            while (_table[slot] != 0)
            {
                slot = (slot + 1) & _mask;
            }

            _table[slot] = e + 1;
        }
    }
}
