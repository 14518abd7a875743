namespace Scalio.Checking.Internal;

// The violations with a simple, self-evident shape (a stale read, new-then-old), found by sorted scans of the history.
internal sealed partial class Counterexample
{
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
                int count = SortedSearch.UpperBound(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(starts), h.End[g]);
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
}
