using System.Globalization;
using System.Text;

namespace Scalio.Checking;

/// <summary>The outcome of a linearizability check.</summary>
public enum Verdict
{
    /// <summary>A linearization was found for every key: the history is linearizable.</summary>
    Linearizable,

    /// <summary>Some key's sub-history has no linearization.</summary>
    NotLinearizable,

    /// <summary>No violation was found, but the search budget ran out on at least one key.</summary>
    Unknown,
}

/// <summary>The result of <see cref="LinearizabilityChecker.Check"/>, with a counterexample for a violation.</summary>
public sealed class CheckResult
{
    private static readonly string[] Header = ["", "client", "op", "key", "value", "start(us)", "end(us)"];

    internal CheckResult(
        Verdict verdict,
        int operationCount,
        int keyCount,
        string? key,
        IReadOnlyList<string> unknownKeys,
        IReadOnlyList<HistoryOperation> counterexample,
        int stuckIndex,
        string? explanation,
        bool counterexampleStandsAlone,
        long steps,
        TimeSpan elapsed,
        long timeOrigin)
    {
        Verdict = verdict;
        OperationCount = operationCount;
        KeyCount = keyCount;
        Key = key;
        UnknownKeys = unknownKeys;
        Counterexample = counterexample;
        StuckIndex = stuckIndex;
        Explanation = explanation;
        CounterexampleStandsAlone = counterexampleStandsAlone;
        Steps = steps;
        Elapsed = elapsed;
        TimeOrigin = timeOrigin;
    }

    /// <summary>Linearizable, NotLinearizable or Unknown.</summary>
    public Verdict Verdict { get; }

    /// <summary>True when <see cref="Verdict"/> is <see cref="Checking.Verdict.Linearizable"/>.</summary>
    public bool IsLinearizable => Verdict == Verdict.Linearizable;

    /// <summary>Operations of the keys checked (the check stops at the first violating key).</summary>
    public int OperationCount { get; }

    /// <summary>Keys checked (the check stops at the first violating key).</summary>
    public int KeyCount { get; }

    /// <summary>The violating key; for <see cref="Checking.Verdict.Unknown"/> the first key whose budget ran out; else null.</summary>
    public string? Key { get; }

    /// <summary>Keys whose search ran out of budget.</summary>
    public IReadOnlyList<string> UnknownKeys { get; }

    /// <summary>
    /// For a violation: the operations of <see cref="Key"/> around the point where the search got
    /// stuck (those concurrent with it, the write that set the state before it, and the writes of
    /// the values read), ordered by start time. Empty otherwise.
    /// </summary>
    public IReadOnlyList<HistoryOperation> Counterexample { get; }

    /// <summary>Index in <see cref="Counterexample"/> of the operation the search could not place, or -1.</summary>
    public int StuckIndex { get; }

    /// <summary>For a violation: a sentence saying why, e.g. which get returned an old value. Null otherwise.</summary>
    public string? Explanation { get; }

    /// <summary>True when the counterexample's operations alone (from any initial value) have no linearization.</summary>
    public bool CounterexampleStandsAlone { get; }

    /// <summary>Search steps taken over all keys.</summary>
    public long Steps { get; }

    /// <summary>Wall time of the check.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Start time of the history's first operation (ns); <see cref="Format"/> prints times relative to it.</summary>
    public long TimeOrigin { get; }

    /// <summary>A human-readable report: the verdict, and for a violation the explanation and a table of the counterexample.</summary>
    /// <returns>Multi-line text.</returns>
    public string Format()
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        string scope = string.Create(inv, $"{OperationCount} operations on {KeyCount} {(KeyCount == 1 ? "key" : "keys")}, {Steps} search steps, {Elapsed.TotalSeconds:F3} s");
        switch (Verdict)
        {
            case Verdict.Linearizable:
                sb.Append("Linearizable (").Append(scope).Append(")\n");
                break;
            case Verdict.Unknown:
                sb.Append("Unknown: the search budget ran out on ").Append(UnknownKeys.Count)
                    .Append(UnknownKeys.Count == 1 ? " key" : " keys").Append(" (").Append(scope).Append(")\n");
                for (int i = 0; i < UnknownKeys.Count && i < 10; i++)
                {
                    sb.Append("  key '").Append(UnknownKeys[i]).Append("'\n");
                }

                if (UnknownKeys.Count > 10)
                {
                    sb.Append("  ...\n");
                }

                break;
            default:
                sb.Append("NOT linearizable: key '").Append(Key).Append("' (").Append(scope).Append(")\n");
                if (Explanation is not null)
                {
                    sb.Append(Explanation).Append('\n');
                }

                AppendTable(sb, inv);
                sb.Append(CounterexampleStandsAlone
                    ? "These operations alone, from any initial value, have no linearization.\n"
                    : "Other operations of the key (not shown) are part of the argument.\n");
                break;
        }

        return sb.ToString();
    }

    /// <inheritdoc/>
    public override string ToString() => Format();

    private void AppendTable(StringBuilder sb, CultureInfo inv)
    {
        var rows = new List<string[]> { Header };
        for (int i = 0; i < Counterexample.Count; i++)
        {
            HistoryOperation op = Counterexample[i];
            string value = op.Kind switch
            {
                OperationKind.Get when !op.IsComplete => "?",
                OperationKind.Get when op.Value is null => "(not found)",
                OperationKind.Delete => "",
                _ => "'" + op.Value + "'",
            };
            rows.Add(new[]
            {
                i == StuckIndex ? "=>" : "",
                op.Client.ToString(inv),
                HistoryJson.KindName(op.Kind),
                op.Key,
                value,
                ((op.Start - TimeOrigin) / 1000.0).ToString("F3", inv),
                op.End is long end ? ((end - TimeOrigin) / 1000.0).ToString("F3", inv) : "never",
            });
        }

        var width = new int[rows[0].Length];
        foreach (string[] row in rows)
        {
            for (int c = 0; c < row.Length; c++)
            {
                width[c] = Math.Max(width[c], row[c].Length);
            }
        }

        foreach (string[] row in rows)
        {
            sb.Append(' ');
            for (int c = 0; c < row.Length; c++)
            {
                bool right = c == 1 || c >= 5;
                sb.Append(' ').Append(right ? row[c].PadLeft(width[c]) : row[c].PadRight(width[c]));
            }

            sb.Append('\n');
        }

        if (StuckIndex >= 0)
        {
            sb.Append("  => the operation the search could not place\n");
        }
    }
}
