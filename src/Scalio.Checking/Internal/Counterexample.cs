using System.Globalization;

namespace Scalio.Checking.Internal;

/// <summary>
/// Builds a small, readable counterexample for a key whose history is not linearizable, and a
/// sentence explaining it when the violation has a common shape (a read of a value never written,
/// a stale read, a new-then-old pair of reads). Cold path.
/// </summary>
internal sealed partial class Counterexample
{
    private const int MaxOperations = 40;
    private const long StandAloneStepBudget = 2_000_000;

    private Counterexample(HistoryOperation[] operations, int stuckIndex, string explanation, bool standsAlone)
    {
        Operations = operations;
        StuckIndex = stuckIndex;
        Explanation = explanation;
        StandsAlone = standsAlone;
    }

    public HistoryOperation[] Operations { get; }

    public int StuckIndex { get; }

    public string Explanation { get; }

    public bool StandsAlone { get; }

    /// <summary>With an absent initial state: a completed get that returned a value no put of the key wrote.</summary>
    public static int? FindUnwrittenRead(KeyHistory h)
    {
        var written = new bool[h.Values.Length];
        for (int i = 0; i < h.Count; i++)
        {
            if (h.Kind[i] == OperationKind.Put)
            {
                written[h.Value[i]] = true;
            }
        }

        for (int i = 0; i < h.Count; i++)
        {
            if (h.Kind[i] == OperationKind.Get && h.Value[i] != 0 && !written[h.Value[i]])
            {
                return i;
            }
        }

        return null;
    }

    public static Counterexample ForUnwrittenRead(KeyHistory h, int get)
    {
        var picked = new SortedSet<int> { get };
        int lastWrite = LastWriteBefore(h, h.Start[get], null);
        if (lastWrite >= 0)
        {
            picked.Add(lastWrite);
        }

        string explanation = $"get by client {h.Operations[get].Client} returned {Show(h, get)}, which no put of key '{h.Key}' ever wrote.";
        return Build(h, picked, get, explanation, standsAlone: false);
    }

    public static Counterexample FromSearch(KeyHistory h, LinearizationSearch search, int initialState)
    {
        Counterexample? simple = FindSimplePattern(h, initialState);
        if (simple is not null)
        {
            return simple;
        }

        bool[] lin = search.BestLinearized();
        int n = h.Count;

        // The stuck operation: the unlinearized operation that returns first (a complete one if any).
        int stuck = -1;
        for (int pass = 0; pass < 2 && stuck < 0; pass++)
        {
            for (int i = 0; i < n; i++)
            {
                if (!lin[i] && h.End[i] != KeyHistory.Infinity && (pass == 1 || !h.Optional[i])
                    && (stuck < 0 || h.End[i] < h.End[stuck]))
                {
                    stuck = i;
                }
            }
        }

        if (stuck < 0)
        {
            // Cannot happen (incomplete writes can always go last); show the whole key, bounded.
            var all = new SortedSet<int>();
            for (int i = 0; i < n && i < MaxOperations; i++)
            {
                all.Add(i);
            }

            return Build(h, all, -1, $"no linearization of key '{h.Key}' exists.", standsAlone: false);
        }

        long windowEnd = h.End[stuck];
        long windowStart = long.MaxValue;
        var frontier = new List<int>();
        for (int i = 0; i < n && h.Start[i] <= windowEnd; i++)
        {
            if (!lin[i])
            {
                frontier.Add(i);
                if (h.End[i] != KeyHistory.Infinity)
                {
                    windowStart = Math.Min(windowStart, h.Start[i]);
                }
            }
        }

        var picked = new SortedSet<int>(frontier);

        // Linearized operations overlapping the window [windowStart, windowEnd], nearest first.
        var overlapping = new List<int>();
        for (int i = 0; i < n && h.Start[i] <= windowEnd; i++)
        {
            if (lin[i] && h.End[i] >= windowStart)
            {
                overlapping.Add(i);
            }
        }

        overlapping.Sort((a, b) => h.Start[b].CompareTo(h.Start[a]));
        foreach (int i in overlapping)
        {
            if (picked.Count >= MaxOperations)
            {
                break;
            }

            picked.Add(i);
        }

        // The write that set the state before the window, and the writes of the values read in it.
        int before = LastWriteBefore(h, windowStart, null);
        if (before >= 0)
        {
            picked.Add(before);
        }

        // The last get that returned before the window: it pins the state the window starts from.
        int lastGet = -1;
        for (int i = 0; i < n && h.Start[i] < windowStart; i++)
        {
            if (h.Kind[i] == OperationKind.Get && h.End[i] < windowStart && (lastGet < 0 || h.End[i] > h.End[lastGet]))
            {
                lastGet = i;
            }
        }

        if (lastGet >= 0)
        {
            picked.Add(lastGet);
        }

        foreach (int i in new List<int>(picked))
        {
            if (h.Kind[i] == OperationKind.Get)
            {
                int writer = LastWriteBefore(h, h.End[i], h.Value[i], startedBy: true);
                if (writer >= 0)
                {
                    picked.Add(writer);
                }
            }
        }

        string explanation = Explain(h, stuck, initialState);
        bool standsAlone = StandsAloneCheck(h, picked);
        return Build(h, picked, stuck, explanation, standsAlone);
    }

    private static bool StandsAloneCheck(KeyHistory h, SortedSet<int> picked)
    {
        var ops = new List<HistoryOperation>(picked.Count);
        foreach (int i in picked)
        {
            ops.Add(h.Operations[i]);
        }

        var sub = new LinearizationSearch(new KeyHistory(h.Key, ops));
        return sub.Run(LinearizationSearch.UnknownState, StandAloneStepBudget, TimeSpan.FromSeconds(1)) == SearchOutcome.NotLinearizable;
    }

    private static string Explain(KeyHistory h, int stuck, int initialState)
    {
        HistoryOperation op = h.Operations[stuck];
        string who = string.Create(CultureInfo.InvariantCulture, $"{HistoryJson.KindName(op.Kind)} by client {op.Client}");
        if (h.Kind[stuck] != OperationKind.Get)
        {
            return $"the {who} cannot be placed in any order of key '{h.Key}' consistent with the values read around it.";
        }

        int v = h.Value[stuck];

        // Latest end among the writes that could have produced v (the initial state counts as a write at -infinity).
        long lastWriterEnd = v == 0 && initialState == 0 ? long.MinValue : long.MaxValue;
        bool anyWriter = v == 0 && initialState == 0;
        for (int i = 0; i < h.Count; i++)
        {
            if (IsWriterOf(h, i, v) && h.Start[i] <= h.End[stuck])
            {
                lastWriterEnd = anyWriter ? Math.Max(lastWriterEnd, h.End[i]) : h.End[i];
                anyWriter = true;
            }
        }

        if (!anyWriter)
        {
            return $"the {who} returned {Show(h, stuck)}, but no write of that value began before the get returned.";
        }

        // Stale read: a write of another value started after every writer of v had returned, and returned before the get began.
        int stale = -1;
        for (int i = 0; i < h.Count; i++)
        {
            if (h.Kind[i] != OperationKind.Get && !IsWriterOf(h, i, v) && !h.Optional[i]
                && h.Start[i] > lastWriterEnd && h.End[i] < h.Start[stuck]
                && (stale < 0 || h.End[i] > h.End[stale]))
            {
                stale = i;
            }
        }

        if (stale >= 0)
        {
            string newer = h.Kind[stale] == OperationKind.Put ? $"put '{h.Values[h.Value[stale]]}'" : "delete";
            return $"stale read: the {who} returned {(v == 0 ? "not found" : "old value '" + h.Values[v] + "'")}"
                + $" after {newer} (client {h.Operations[stale].Client}) had completed, and every write of that value had completed before it began.";
        }

        // New then old: an earlier get (returned before this one began) saw a value written only after every writer of v returned.
        for (int g = 0; g < h.Count; g++)
        {
            if (h.Kind[g] != OperationKind.Get || h.End[g] >= h.Start[stuck] || h.Value[g] == v)
            {
                continue;
            }

            int u = h.Value[g];
            long firstWriterOfU = long.MaxValue;
            bool uHasWriter = false;
            for (int i = 0; i < h.Count; i++)
            {
                if (IsWriterOf(h, i, u))
                {
                    firstWriterOfU = Math.Min(firstWriterOfU, h.Start[i]);
                    uHasWriter = true;
                }
            }

            if (uHasWriter && firstWriterOfU > lastWriterEnd)
            {
                return $"new then old: the {who} returned {Show(h, stuck)} after a get by client {h.Operations[g].Client}"
                    + $" had already returned the newer {Show(h, g)} (every write of the old value completed before any write of the new one began).";
            }
        }

        return $"the {who} returned {Show(h, stuck)}, and no order of the writes of key '{h.Key}' lets it see that value"
            + " while respecting the real-time order of the other operations.";
    }

    private static bool IsWriterOf(KeyHistory h, int i, int value) => h.Kind[i] switch
    {
        OperationKind.Put => h.Value[i] == value,
        OperationKind.Delete => value == 0,
        _ => false,
    };

    /// <summary>
    /// The write (of <paramref name="value"/> when given) with the latest end before <paramref name="time"/>,
    /// or with <paramref name="startedBy"/> the one with the latest start at or before it.
    /// </summary>
    private static int LastWriteBefore(KeyHistory h, long time, int? value, bool startedBy = false)
    {
        int best = -1;
        for (int i = 0; i < h.Count; i++)
        {
            if (h.Kind[i] == OperationKind.Get || (value is int v && !IsWriterOf(h, i, v)))
            {
                continue;
            }

            long t = startedBy ? h.Start[i] : h.End[i];
            long bestT = best < 0 ? long.MinValue : (startedBy ? h.Start[best] : h.End[best]);
            if ((startedBy ? t <= time : t < time) && (best < 0 || t > bestT))
            {
                best = i;
            }
        }

        return best;
    }

    private static string Show(KeyHistory h, int i) => h.Value[i] == 0 ? "not found" : "'" + h.Values[h.Value[i]] + "'";

    private static Counterexample Build(KeyHistory h, SortedSet<int> picked, int stuck, string explanation, bool standsAlone)
    {
        var ops = new HistoryOperation[picked.Count];
        int k = 0;
        int stuckIndex = -1;
        foreach (int i in picked)
        {
            if (i == stuck)
            {
                stuckIndex = k;
            }

            ops[k++] = h.Operations[i];
        }

        return new Counterexample(ops, stuckIndex, explanation, standsAlone);
    }
}
