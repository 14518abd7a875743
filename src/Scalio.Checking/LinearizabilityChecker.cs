using System.Diagnostics;
using Scalio.Checking.Internal;

namespace Scalio.Checking;

/// <summary>
/// Checks that a key-value history is linearizable with respect to a map of independent registers.
/// The history is split per key (a register history is linearizable iff each key's sub-history is),
/// then each key is searched with Wing and Gong's algorithm and Lowe's memoisation.
/// </summary>
public static class LinearizabilityChecker
{
    /// <summary>Checks <paramref name="operations"/>.</summary>
    /// <param name="operations">The history, in any order.</param>
    /// <param name="options">Initial state and budgets; null for the defaults.</param>
    /// <returns>The verdict, with a counterexample when the history is not linearizable.</returns>
    /// <exception cref="ArgumentException">An operation is malformed (end before start, put without value, ...).</exception>
    public static CheckResult Check(IReadOnlyList<HistoryOperation> operations, CheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(operations);
        options ??= new CheckOptions();
        options.Validate();
        var clock = Stopwatch.StartNew();

        long origin = long.MaxValue;
        var byKey = new Dictionary<string, List<HistoryOperation>>(StringComparer.Ordinal);
        for (int i = 0; i < operations.Count; i++)
        {
            HistoryOperation op = operations[i];
            op.Validate(i);
            origin = Math.Min(origin, op.Start);
            if (!byKey.TryGetValue(op.Key, out List<HistoryOperation>? list))
            {
                list = new List<HistoryOperation>();
                byKey.Add(op.Key, list);
            }

            list.Add(op);
        }

        if (origin == long.MaxValue)
        {
            origin = 0;
        }

        var keys = new List<string>(byKey.Keys);
        keys.Sort(StringComparer.Ordinal);
        int initial = options.InitialState == InitialState.Absent ? 0 : LinearizationSearch.UnknownState;
        var unknownKeys = new List<string>();
        long steps = 0;
        int opsChecked = 0;
        int keysChecked = 0;
        foreach (string key in keys)
        {
            List<HistoryOperation> keyOps = byKey[key];
            opsChecked += keyOps.Count;
            keysChecked++;
            var history = new KeyHistory(key, keyOps);

            if (options.InitialState == InitialState.Absent
                && Counterexample.FindUnwrittenRead(history) is int unwritten)
            {
                Counterexample ce = Counterexample.ForUnwrittenRead(history, unwritten);
                return Violation(ce, opsChecked, keysChecked, key, unknownKeys, steps, clock.Elapsed, origin);
            }

            var search = new LinearizationSearch(history);
            SearchOutcome outcome = search.Run(initial, options.StepBudget, options.TimeBudget);
            steps += search.Steps;
            if (outcome == SearchOutcome.NotLinearizable)
            {
                Counterexample ce = Counterexample.FromSearch(history, search, initial);
                return Violation(ce, opsChecked, keysChecked, key, unknownKeys, steps, clock.Elapsed, origin);
            }

            if (outcome == SearchOutcome.BudgetExhausted)
            {
                unknownKeys.Add(key);
            }
        }

        Verdict verdict = unknownKeys.Count == 0 ? Verdict.Linearizable : Verdict.Unknown;
        return new CheckResult(
            verdict,
            opsChecked,
            keysChecked,
            unknownKeys.Count == 0 ? null : unknownKeys[0],
            unknownKeys,
            [],
            -1,
            null,
            false,
            steps,
            clock.Elapsed,
            origin);
    }

    private static CheckResult Violation(
        Counterexample ce, int ops, int keys, string key, List<string> unknownKeys, long steps, TimeSpan elapsed, long origin)
        => new(
            Verdict.NotLinearizable,
            ops,
            keys,
            key,
            unknownKeys,
            ce.Operations,
            ce.StuckIndex,
            ce.Explanation,
            ce.StandsAlone,
            steps,
            elapsed,
            origin);
}
