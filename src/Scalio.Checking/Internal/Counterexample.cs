using System.Globalization;

namespace Scalio.Checking.Internal;

/// <summary>
/// Builds a small, readable counterexample for a key whose history is not linearizable, and a
/// sentence explaining it when the violation has a common shape (a read of a value never written,
/// a stale read, a new-then-old pair of reads). Cold path.
/// </summary>
internal sealed class Counterexample
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

    /// <summary>
    /// Looks anywhere in the key's history for a violation with a simple, self-evident shape:
    /// a stale read (a write of another value completed after every write of the value read had
    /// completed, and before the read began), or new-then-old (an earlier read saw a value first
    /// written after every write of the value a later read returned). Both shapes prove a violation
    /// on their own. O(n log n).
    /// </summary>
    private static Counterexample? FindSimplePattern(KeyHistory h, int initialState)
    {
        int n = h.Count;
        int values = h.Values.Length;

        // Writers per value sorted by start, with the running maximum of their ends.
        var writerStarts = new List<long>[values];
        var writerMaxEnd = new List<long>[values];
        var writerIndex = new List<int>[values];
        var firstWriterStart = new long[values];
        Array.Fill(firstWriterStart, long.MinValue);
        for (int i = 0; i < n; i++)
        {
            if (h.Kind[i] == OperationKind.Get)
            {
                continue;
            }

            int v = h.Value[i];
            writerStarts[v] ??= [];
            writerMaxEnd[v] ??= [];
            writerIndex[v] ??= [];
            if (writerStarts[v].Count == 0)
            {
                firstWriterStart[v] = h.Start[i];
            }

            long maxEnd = writerMaxEnd[v].Count == 0 ? h.End[i] : Math.Max(writerMaxEnd[v][^1], h.End[i]);
            writerStarts[v].Add(h.Start[i]);
            writerMaxEnd[v].Add(maxEnd);
            writerIndex[v].Add(i);
        }

        // The initial state is a write at -infinity: of "not found" when absent, of any value when unknown.
        for (int v = 0; v < values; v++)
        {
            if (initialState == LinearizationSearch.UnknownState || v == 0)
            {
                firstWriterStart[v] = long.MinValue;
            }
        }

        // Complete, mandatory writes by start, with the suffix minimum of their ends.
        var writes = new List<int>();
        for (int i = 0; i < n; i++)
        {
            if (h.Kind[i] != OperationKind.Get && !h.Optional[i])
            {
                writes.Add(i);
            }
        }

        var suffixMinEnd = new int[writes.Count + 1];
        suffixMinEnd[writes.Count] = -1;
        for (int k = writes.Count - 1; k >= 0; k--)
        {
            int best = suffixMinEnd[k + 1];
            suffixMinEnd[k] = best < 0 || h.End[writes[k]] < h.End[best] ? writes[k] : best;
        }

        // Gets by end, with the running argmax of the first start of the value they read.
        var gets = new List<int>();
        for (int i = 0; i < n; i++)
        {
            if (h.Kind[i] == OperationKind.Get)
            {
                gets.Add(i);
            }
        }

        gets.Sort((a, b) => h.End[a].CompareTo(h.End[b]));
        var prefixArgMax = new int[gets.Count];
        for (int k = 0; k < gets.Count; k++)
        {
            int g = gets[k];
            int prev = k == 0 ? -1 : prefixArgMax[k - 1];
            prefixArgMax[k] = prev >= 0 && firstWriterStart[h.Value[prev]] >= firstWriterStart[h.Value[g]] ? prev : g;
        }

        foreach (int g in gets)
        {
            int v = h.Value[g];

            // W: the latest end of a write of v that began before g returned (long.MinValue: none).
            long w = long.MinValue;
            int lastWriter = -1;
            if (writerStarts[v] is { } starts)
            {
                int count = UpperBound(starts, h.End[g]);
                if (count > 0)
                {
                    w = writerMaxEnd[v][count - 1];
                    lastWriter = writerIndex[v][count - 1];
                }
            }

            // Stale read: a complete write that began after W and returned before g began.
            int first = LowerBoundStartAfter(h, writes, w);
            int stale = first < writes.Count ? suffixMinEnd[first] : -1;
            if (stale >= 0 && h.End[stale] < h.Start[g])
            {
                var picked = new SortedSet<int> { stale, g };
                if (lastWriter >= 0)
                {
                    picked.Add(lastWriter);
                }

                HistoryOperation op = h.Operations[g];
                string newer = h.Kind[stale] == OperationKind.Put ? $"put '{h.Values[h.Value[stale]]}'" : "delete";
                string explanation = $"stale read: the get by client {op.Client} returned {(v == 0 ? "not found" : "old value '" + h.Values[v] + "'")}"
                    + $" after {newer} (client {h.Operations[stale].Client}) had completed, and every write of that value had completed before it began.";
                return Build(h, picked, g, explanation, StandsAloneCheck(h, picked));
            }

            // New then old: a get that returned before g began read a value first written after W.
            int before = LowerBoundEnd(h, gets, h.Start[g]);
            if (before > 0 && w != long.MaxValue)
            {
                int g1 = prefixArgMax[before - 1];
                int u = h.Value[g1];
                if (u != v && firstWriterStart[u] > w && firstWriterStart[u] != long.MinValue)
                {
                    var picked = new SortedSet<int> { g1, g, writerIndex[u][0] };
                    if (lastWriter >= 0)
                    {
                        picked.Add(lastWriter);
                    }

                    string explanation = $"new then old: the get by client {h.Operations[g].Client} returned {Show(h, g)} after a get by client {h.Operations[g1].Client}"
                        + $" had already returned the newer {Show(h, g1)} (every write of the old value completed before any write of the new one began).";
                    return Build(h, picked, g, explanation, StandsAloneCheck(h, picked));
                }
            }
        }

        return null;
    }

    private static int UpperBound(List<long> sorted, long time)
    {
        int lo = 0, hi = sorted.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] <= time)
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

    /// <summary>First position in <paramref name="writes"/> (sorted by start) whose start is after <paramref name="time"/>.</summary>
    private static int LowerBoundStartAfter(KeyHistory h, List<int> writes, long time)
    {
        int lo = 0, hi = writes.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (h.Start[writes[mid]] <= time)
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

    /// <summary>Number of <paramref name="gets"/> (sorted by end) that ended before <paramref name="time"/>.</summary>
    private static int LowerBoundEnd(KeyHistory h, List<int> gets, long time)
    {
        int lo = 0, hi = gets.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (h.End[gets[mid]] < time)
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
