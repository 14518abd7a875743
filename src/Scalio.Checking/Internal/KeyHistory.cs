namespace Scalio.Checking.Internal;

/// <summary>
/// The sub-history of one key, prepared for the search: operations sorted by start time, values
/// interned (0 = not found, 1.. = distinct values), and incomplete operations reduced:
/// <list type="bullet">
/// <item>an incomplete get constrains nothing: dropped;</item>
/// <item>an incomplete write whose value no get returned (after the write started) can always be
/// taken as never having happened: dropped;</item>
/// <item>any other incomplete write is <see cref="Optional"/>: the search may apply it or skip it, and
/// must decide before the last get that returned its value ended (taking effect after every reader
/// of its value is the same as never taking effect).</item>
/// </list>
/// These reductions are exact: the reduced history is linearizable iff the original is.
/// </summary>
internal sealed class KeyHistory
{
    public const long Infinity = long.MaxValue;

    public KeyHistory(string key, List<HistoryOperation> operations)
    {
        Key = key;
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var values = new List<string?> { null };
        var lastReadEnd = new List<long> { long.MinValue };
        foreach (HistoryOperation op in operations)
        {
            int id = Intern(op.Value, ids, values, lastReadEnd);
            if (op.Kind == OperationKind.Get && op.End is long end)
            {
                lastReadEnd[id] = Math.Max(lastReadEnd[id], end);
            }
        }

        var kept = new List<(HistoryOperation Op, long End)>(operations.Count);
        foreach (HistoryOperation op in operations)
        {
            if (op.End is long end)
            {
                kept.Add((op, end));
            }
            else if (op.Kind != OperationKind.Get)
            {
                long lastRead = lastReadEnd[op.Value is null ? 0 : ids[op.Value]];
                if (lastRead >= op.Start)
                {
                    kept.Add((op, lastRead));
                }
            }
        }

        kept.Sort(static (a, b) =>
        {
            int c = a.Op.Start.CompareTo(b.Op.Start);
            return c != 0 ? c : a.End.CompareTo(b.End);
        });

        int n = kept.Count;
        Operations = new HistoryOperation[n];
        Start = new long[n];
        End = new long[n];
        Kind = new OperationKind[n];
        Value = new int[n];
        Optional = new bool[n];
        for (int i = 0; i < n; i++)
        {
            HistoryOperation op = kept[i].Op;
            Operations[i] = op;
            Start[i] = op.Start;
            End[i] = kept[i].End;
            Kind[i] = op.Kind;
            Value[i] = op.Value is null ? 0 : ids[op.Value];
            Optional[i] = !op.IsComplete;
        }

        Values = values.ToArray();
    }

    public string Key { get; }

    /// <summary>Operations in search order (by start time).</summary>
    public HistoryOperation[] Operations { get; }

    public long[] Start { get; }

    /// <summary>End times; for an optional (incomplete) write, the end of the last get that returned its value.</summary>
    public long[] End { get; }

    public OperationKind[] Kind { get; }

    /// <summary>Interned value ids; 0 = null (not found / delete).</summary>
    public int[] Value { get; }

    /// <summary>Incomplete writes: the search may apply or skip them.</summary>
    public bool[] Optional { get; }

    /// <summary>Id to value; index 0 is null.</summary>
    public string?[] Values { get; }

    public int Count => Operations.Length;

    private static int Intern(string? value, Dictionary<string, int> ids, List<string?> values, List<long> lastReadEnd)
    {
        if (value is null)
        {
            return 0;
        }

        if (!ids.TryGetValue(value, out int id))
        {
            id = values.Count;
            ids.Add(value, id);
            values.Add(value);
            lastReadEnd.Add(long.MinValue);
        }

        return id;
    }
}
