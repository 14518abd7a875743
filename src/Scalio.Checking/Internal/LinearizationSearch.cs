using System.Diagnostics;

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
internal sealed partial class LinearizationSearch
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
            _limit[i] = SortedSearch.UpperBound(history.Start, history.End[i]) - 1;
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
}
