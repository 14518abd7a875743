namespace Scalio.Checking.Internal;

/// <summary>Binary search over sorted times, shared by the linearizability search and its counterexamples.</summary>
internal static class SortedSearch
{
    /// <summary>Number of elements of <paramref name="sorted"/> (ascending) that are at most <paramref name="time"/>.</summary>
    public static int UpperBound(ReadOnlySpan<long> sorted, long time)
    {
        int lo = 0, hi = sorted.Length;
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
}
