using System.Diagnostics;
using System.Numerics;

namespace Scalio.Checking.Internal;

/// <summary>Outcome of the search of one key.</summary>
internal enum SearchOutcome
{
    Linearizable,
    NotLinearizable,
    BudgetExhausted,
}

/// <summary>
/// Wing and Gong's linearizability search with Lowe's memoisation (the algorithm of Porcupine and
/// Knossos' "linear" checker) for one key's register history. Call and return events sit in a
/// doubly linked list in time order (calls before returns at equal times: operations that touch
/// are concurrent). The operations whose call precedes the first return in the list are the
/// candidates to linearize next; linearizing one lifts its two events out of the list. Reaching a
/// return means that operation cannot be placed: backtrack. An optional (incomplete) write has two
/// transitions, apply or skip; both are tried before backtracking past it. An operation with an end
/// of +infinity (not produced by <see cref="KeyHistory"/>, but supported) may also be left for last.
/// </summary>
internal sealed class LinearizationSearch
{
    /// <summary>Model state of a key whose initial value is still unknown.</summary>
    public const int UnknownState = -1;

    private const byte ModeApply = 0;
    private const byte ModeSkip = 1;
    private const byte ModeForced = 2;

    private readonly KeyHistory _h;
    private readonly int _n;
    private readonly int _head;
    private readonly int[] _next;
    private readonly int[] _prev;
    private readonly int[] _limit;
    private readonly bool[] _incomplete;
    private readonly int[] _incompleteList;
    private readonly ulong[] _zobrist;
    private readonly ulong[] _bits;
    private readonly int[] _scratch;

    public LinearizationSearch(KeyHistory history)
    {
        _h = history;
        _n = history.Count;
        int n = _n;
        _head = 2 * n;
        _next = new int[2 * n + 1];
        _prev = new int[2 * n + 1];
        _limit = new int[n];
        _incomplete = new bool[n];
        _zobrist = new ulong[n];
        _bits = new ulong[(n + 63) >> 6];
        _scratch = new int[n + 1];

        var incomplete = new List<int>();
        var rng = new Random(0x5ca110);
        for (int i = 0; i < n; i++)
        {
            _incomplete[i] = history.End[i] == KeyHistory.Infinity;
            if (_incomplete[i])
            {
                incomplete.Add(i);
            }

            _zobrist[i] = (ulong)rng.NextInt64() ^ ((ulong)rng.NextInt64() << 1);
            _limit[i] = UpperBound(history.Start, history.End[i]) - 1;
        }

        _incompleteList = incomplete.ToArray();
        _readers = new int[history.Values.Length];
        _writers = new int[history.Values.Length];

        // Events: node 2i = call of op i, node 2i+1 = its return.
        var nodes = new int[2 * n];
        for (int i = 0; i < 2 * n; i++)
        {
            nodes[i] = i;
        }

        Array.Sort(nodes, (a, b) =>
        {
            long ta = (a & 1) == 0 ? history.Start[a >> 1] : history.End[a >> 1];
            long tb = (b & 1) == 0 ? history.Start[b >> 1] : history.End[b >> 1];
            int c = ta.CompareTo(tb);
            if (c != 0)
            {
                return c;
            }

            c = (a & 1).CompareTo(b & 1); // calls first
            return c != 0 ? c : a.CompareTo(b);
        });

        int prev = _head;
        _prev[_head] = -1;
        foreach (int node in nodes)
        {
            _next[prev] = node;
            _prev[node] = prev;
            prev = node;
        }

        _next[prev] = -1;
    }

    /// <summary>Search steps taken.</summary>
    public long Steps { get; private set; }

    /// <summary>Most operations linearized at once (deepest point of the search).</summary>
    public int BestDepth { get; private set; }

    /// <summary>Model state at the deepest point.</summary>
    public int BestState { get; private set; }

    /// <summary>Linearized operations at the deepest point (valid after a search).</summary>
    public bool[] BestLinearized()
    {
        var set = new bool[_n];
        for (int i = 0; i < _bestP && i < _n; i++)
        {
            set[i] = true;
        }

        foreach (int j in _bestExceptions.AsSpan(0, _bestCount))
        {
            set[j] = j > _bestP;
        }

        return set;
    }

    private int _bestP;
    private int[] _bestExceptions = [];
    private int _bestCount;

    // Dead-read pruning: a configuration is dead when some unlinearized get returned a value that is
    // not the current state and that no unlinearized write can produce any more.
    private readonly int[] _readers; // per value id: unlinearized gets returning it
    private readonly int[] _writers; // per value id: unlinearized writes of it (deletes write id 0)
    private int _deadValues;

    public SearchOutcome Run(int initialState, long stepBudget, TimeSpan timeBudget)
    {
        int n = _n;
        if (n == 0)
        {
            return SearchOutcome.Linearizable;
        }

        long deadline = Stopwatch.GetTimestamp() + (long)(timeBudget.TotalSeconds * Stopwatch.Frequency);
        var cache = new StateCache(Math.Min(n * 4, 1 << 20));
        var stackOp = new int[n];
        var stackState = new int[n];
        var stackP = new int[n];
        var stackMode = new byte[n];
        OperationKind[] kind = _h.Kind;
        int[] value = _h.Value;
        bool[] optional = _h.Optional;
        int[] next = _next;
        int head = _head;

        int depth = 0;
        int state = initialState;
        int p = AdvanceP(-1);
        ulong zob = 0;
        BestDepth = 0;
        BestState = initialState;
        _bestP = p;
        _bestExceptions = new int[n + 1];
        _bestCount = Compact(p);
        _scratch.AsSpan(0, _bestCount).CopyTo(_bestExceptions);

        Array.Clear(_readers);
        Array.Clear(_writers);
        for (int i = 0; i < n; i++)
        {
            if (kind[i] == OperationKind.Get)
            {
                _readers[value[i]]++;
            }
            else
            {
                _writers[value[i]]++;
            }
        }

        _deadValues = 0;
        for (int v = 0; v < _readers.Length; v++)
        {
            AccountValue(+1, state, v);
        }

        if (state != UnknownState && _deadValues > 0)
        {
            Steps = 0;
            return SearchOutcome.NotLinearizable;
        }

        long steps = 0;
        int node = next[head];
        int resumeMode = 0; // first transition to try at a call node reached by backtracking
        bool freshConfig = true;
        while (next[head] != -1)
        {
            if (++steps > stepBudget || ((steps & 4095) == 0 && Stopwatch.GetTimestamp() > deadline))
            {
                Steps = steps;
                return SearchOutcome.BudgetExhausted;
            }

            bool backtrack = false;
            if (freshConfig)
            {
                // Partial-order reduction: a candidate get that reads the current (known) state can be
                // linearized first without loss of generality (it changes no state and nothing pending
                // must precede it). Take it, and never branch on it.
                freshConfig = false;
                int forced = -1;
                if (state != UnknownState)
                {
                    for (int x = next[head]; x != -1 && (x & 1) == 0; x = next[x])
                    {
                        int o = x >> 1;
                        if (kind[o] == OperationKind.Get && value[o] == state)
                        {
                            forced = o;
                            break;
                        }
                    }
                }

                if (forced >= 0)
                {
                    if (TryPush(forced, state, ModeForced))
                    {
                        continue;
                    }

                    // Already explored from here and failed: so did the configuration before it.
                    backtrack = true;
                }
            }

            if (!backtrack)
            {
                int op = node >> 1;
                if ((node & 1) == 0)
                {
                    // A call: try to linearize op now (mode 0), or for an optional write, skip it (mode 1).
                    int lastMode = optional[op] ? ModeSkip : ModeApply;
                    int mode = resumeMode;
                    resumeMode = ModeApply;
                    for (; mode <= lastMode; mode++)
                    {
                        int newState = state;
                        if (mode == ModeApply)
                        {
                            if (kind[op] == OperationKind.Get)
                            {
                                if (state != value[op] && state != UnknownState)
                                {
                                    continue;
                                }

                                newState = value[op];
                            }
                            else
                            {
                                newState = value[op]; // a delete's value id is 0, not found
                            }
                        }

                        if (TryPush(op, newState, (byte)mode))
                        {
                            break;
                        }
                    }

                    if (mode > lastMode)
                    {
                        node = next[node];
                    }

                    continue;
                }

                // A return: op cannot be placed after what is linearized so far.
                backtrack = true;
            }

            // Backtrack past forced steps (their failure is their parent's), then resume the
            // parent's scan at the undone op's next transition.
            while (true)
            {
                if (depth == 0)
                {
                    Steps = steps;
                    return SearchOutcome.NotLinearizable;
                }

                depth--;
                int undo = stackOp[depth];
                p = stackP[depth];
                Change(undo, state, stackState[depth], +1);
                state = stackState[depth];
                _bits[undo >> 6] &= ~(1UL << undo);
                zob ^= _zobrist[undo];
                Unlift(undo);
                if (stackMode[depth] != ModeForced)
                {
                    node = 2 * undo;
                    resumeMode = stackMode[depth] + 1;
                    break;
                }
            }
        }

        Steps = steps;
        return SearchOutcome.Linearizable;

        bool TryPush(int op, int newState, byte mode)
        {
            Change(op, state, newState, -1);
            if (newState != UnknownState && _deadValues > 0)
            {
                Change(op, newState, state, +1);
                return false;
            }

            _bits[op >> 6] |= 1UL << op;
            zob ^= _zobrist[op];
            int newP = op == p ? AdvanceP(p) : p;
            int excCount = Compact(newP);
            if (!cache.TryAdd(zob, newState, newP, _scratch.AsSpan(0, excCount)))
            {
                Change(op, newState, state, +1);
                _bits[op >> 6] &= ~(1UL << op);
                zob ^= _zobrist[op];
                return false;
            }

            stackOp[depth] = op;
            stackState[depth] = state;
            stackP[depth] = p;
            stackMode[depth] = mode;
            depth++;
            state = newState;
            p = newP;
            Lift(op);
            if (depth > BestDepth)
            {
                BestDepth = depth;
                BestState = state;
                _bestP = p;
                _bestCount = excCount;
                _scratch.AsSpan(0, excCount).CopyTo(_bestExceptions);
            }

            node = next[head];
            freshConfig = true;
            return true;
        }
    }

    /// <summary>
    /// Linearizes (<paramref name="delta"/> = -1) or un-linearizes (+1) <paramref name="op"/>'s effect on
    /// the reader and writer counts while the state goes from <paramref name="from"/> to <paramref name="to"/>,
    /// keeping <see cref="_deadValues"/> exact.
    /// </summary>
    private void Change(int op, int from, int to, int delta)
    {
        int v = _h.Value[op];
        AccountValue(-1, from, v);
        if (from != v)
        {
            AccountValue(-1, from, from);
        }

        if (to != v && to != from)
        {
            AccountValue(-1, from, to);
        }

        if (_h.Kind[op] == OperationKind.Get)
        {
            _readers[v] += delta;
        }
        else
        {
            _writers[v] += delta;
        }

        AccountValue(+1, to, v);
        if (from != v)
        {
            AccountValue(+1, to, from);
        }

        if (to != v && to != from)
        {
            AccountValue(+1, to, to);
        }
    }

    private void AccountValue(int sign, int state, int v)
    {
        if (v >= 0 && v != state && _readers[v] > 0 && _writers[v] == 0)
        {
            _deadValues += sign;
        }
    }

    /// <summary>The first complete, unlinearized operation after <paramref name="from"/> (n if none).</summary>
    private int AdvanceP(int from)
    {
        int q = from + 1;
        while (q < _n && (_incomplete[q] || (_bits[q >> 6] & (1UL << q)) != 0))
        {
            q++;
        }

        return q;
    }

    /// <summary>Writes the exceptions of the current set relative to <paramref name="p"/> into the scratch buffer.</summary>
    private int Compact(int p)
    {
        int count = 0;
        foreach (int j in _incompleteList)
        {
            if (j >= p)
            {
                break;
            }

            if ((_bits[j >> 6] & (1UL << j)) == 0)
            {
                _scratch[count++] = j;
            }
        }

        if (p < _n)
        {
            // Every linearized operation after p started no later than p's end.
            int from = p + 1;
            int to = _limit[p];
            if (from <= to)
            {
                int w0 = from >> 6;
                int w1 = to >> 6;
                for (int w = w0; w <= w1; w++)
                {
                    ulong word = _bits[w];
                    if (w == w0)
                    {
                        word &= ~0UL << (from & 63);
                    }

                    if (w == w1 && (to & 63) != 63)
                    {
                        word &= (1UL << ((to & 63) + 1)) - 1;
                    }

                    while (word != 0)
                    {
                        _scratch[count++] = (w << 6) + BitOperations.TrailingZeroCount(word);
                        word &= word - 1;
                    }
                }
            }
        }

        return count;
    }

    private void Lift(int op)
    {
        Remove(2 * op);
        Remove(2 * op + 1);
    }

    private void Unlift(int op)
    {
        Restore(2 * op + 1);
        Restore(2 * op);
    }

    private void Remove(int node)
    {
        int p = _prev[node];
        int q = _next[node];
        _next[p] = q;
        if (q != -1)
        {
            _prev[q] = p;
        }
    }

    private void Restore(int node)
    {
        int p = _prev[node];
        int q = _next[node];
        _next[p] = node;
        if (q != -1)
        {
            _prev[q] = node;
        }
    }

    /// <summary>Number of operations whose start is at most <paramref name="time"/> (starts are sorted).</summary>
    private static int UpperBound(long[] starts, long time)
    {
        int lo = 0, hi = starts.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (starts[mid] <= time)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
