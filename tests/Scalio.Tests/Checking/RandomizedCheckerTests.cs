using System.Diagnostics;
using Scalio.Checking;

namespace Scalio.Tests.Checking;

public class RandomizedCheckerTests
{
    /// <summary>
    /// Simulates clients on an atomic map: each operation takes effect at a random instant inside its
    /// interval. Incomplete writes take effect or not at random; incomplete gets return nothing.
    /// </summary>
    internal static List<HistoryOperation> Simulate(Random rng, int clients, int opsPerClient, int keys, double crashRate)
    {
        var pending = new List<(HistoryOperation Op, long Point, bool Applies)>();
        for (int c = 0; c < clients; c++)
        {
            long t = rng.Next(50);
            for (int i = 0; i < opsPerClient; i++)
            {
                long start = t;
                long duration = 1 + rng.Next(rng.Next(4) == 0 ? 300 : 40);
                long end = start + duration;
                long point = start + rng.NextInt64(duration + 1);
                bool crashed = rng.NextDouble() < crashRate;
                string key = "k" + rng.Next(keys);
                int roll = rng.Next(10);
                HistoryOperation op = roll < 5 ? HistoryOperation.Get(c, key, null, start, crashed ? null : end)
                    : roll < 9 ? HistoryOperation.Put(c, key, $"c{c}-{i}", start, crashed ? null : end)
                    : HistoryOperation.Delete(c, key, start, crashed ? null : end);
                pending.Add((op, point * 64 + c, !crashed || rng.Next(2) == 0));
                t = end + rng.Next(30);
            }
        }

        pending.Sort((a, b) => a.Point.CompareTo(b.Point));
        var state = new Dictionary<string, string>();
        var result = new List<HistoryOperation>(pending.Count);
        foreach ((HistoryOperation op, _, bool applies) in pending)
        {
            switch (op.Kind)
            {
                case OperationKind.Get:
                    result.Add(op.IsComplete ? op with { Value = state.GetValueOrDefault(op.Key) } : op);
                    break;
                case OperationKind.Put:
                    if (applies)
                    {
                        state[op.Key] = op.Value!;
                    }

                    result.Add(op);
                    break;
                default:
                    if (applies)
                    {
                        state.Remove(op.Key);
                    }

                    result.Add(op);
                    break;
            }
        }

        // Present the operations in an arbitrary order: the checker must not rely on input order.
        for (int i = result.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (result[i], result[j]) = (result[j], result[i]);
        }

        return result;
    }

    [Fact]
    public void Simulated_atomic_histories_pass_and_a_never_written_read_fails()
    {
        for (int seed = 0; seed < 40; seed++)
        {
            var rng = new Random(seed);
            List<HistoryOperation> ops = Simulate(rng, clients: 2 + (seed % 7), opsPerClient: 60, keys: 1 + (seed % 4), crashRate: seed % 3 == 0 ? 0.1 : 0.0);
            CheckResult ok = LinearizabilityChecker.Check(ops);
            Assert.True(ok.Verdict == Verdict.Linearizable, $"seed {seed}: {ok.Format()}");

            int victim = -1;
            for (int i = 0; i < ops.Count && victim < 0; i++)
            {
                if (ops[i].Kind == OperationKind.Get && ops[i].IsComplete)
                {
                    victim = i;
                }
            }

            ops[victim] = ops[victim] with { Value = "never-written" };
            CheckResult bad = LinearizabilityChecker.Check(ops);
            Assert.True(bad.Verdict == Verdict.NotLinearizable, $"seed {seed}: {bad.Format()}");
            Assert.Equal(ops[victim].Key, bad.Key);
            Assert.Contains(ops[victim], bad.Counterexample);
        }
    }

    [Fact]
    public void Search_agrees_with_brute_force_on_small_mutated_histories()
    {
        int violations = 0;
        for (int seed = 0; seed < 400; seed++)
        {
            var rng = new Random(1000 + seed);
            List<HistoryOperation> ops = Simulate(rng, clients: 3, opsPerClient: 3, keys: 1, crashRate: 0.15);

            // Mutate one complete get to a value some put wrote (or not found): sometimes still linearizable.
            var gets = ops.FindAll(o => o.Kind == OperationKind.Get && o.IsComplete);
            var puts = ops.FindAll(o => o.Kind == OperationKind.Put);
            if (gets.Count > 0 && rng.Next(3) > 0)
            {
                HistoryOperation g = gets[rng.Next(gets.Count)];
                string? v = puts.Count > 0 && rng.Next(4) > 0 ? puts[rng.Next(puts.Count)].Value : null;
                ops[ops.IndexOf(g)] = g with { Value = v };
            }

            foreach (InitialState initial in new[] { InitialState.Absent, InitialState.Unknown })
            {
                bool expected = BruteForce.IsLinearizable(ops, initial);
                CheckResult r = LinearizabilityChecker.Check(ops, new CheckOptions { InitialState = initial });
                Assert.True(
                    (r.Verdict == Verdict.Linearizable) == expected,
                    $"seed {seed} {initial}: brute force says {expected}, checker {r.Verdict}\n{string.Join("\n", ops)}");
                Assert.NotEqual(Verdict.Unknown, r.Verdict);
                if (!expected)
                {
                    violations++;
                    Assert.NotEmpty(r.Counterexample);
                    Assert.False(string.IsNullOrEmpty(r.Explanation));
                    if (r.CounterexampleStandsAlone)
                    {
                        Assert.False(BruteForce.IsLinearizable([.. r.Counterexample], InitialState.Unknown), r.Format());
                    }
                }
            }
        }

        Assert.True(violations > 50, $"only {violations} violating histories generated");
    }

    [Fact]
    public void Twenty_thousand_operations_over_many_keys_check_quickly()
    {
        var rng = new Random(7);
        List<HistoryOperation> ops = Simulate(rng, clients: 16, opsPerClient: 1250, keys: 50, crashRate: 0.002);
        Assert.Equal(20_000, ops.Count);
        var sw = Stopwatch.StartNew();
        CheckResult r = LinearizabilityChecker.Check(ops);
        sw.Stop();
        Assert.True(r.Verdict == Verdict.Linearizable, r.Format());
        Assert.Equal(50, r.KeyCount);
        Assert.Equal(20_000, r.OperationCount);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"took {sw.Elapsed}");
    }

    [Fact]
    public void A_hot_key_with_thousands_of_operations_checks_quickly()
    {
        var rng = new Random(11);
        List<HistoryOperation> ops = Simulate(rng, clients: 16, opsPerClient: 400, keys: 1, crashRate: 0.002);
        var sw = Stopwatch.StartNew();
        CheckResult r = LinearizabilityChecker.Check(ops);
        Assert.True(r.Verdict == Verdict.Linearizable, r.Format());
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"took {sw.Elapsed}");
    }
}

/// <summary>Exhaustive search over all orders, for tiny histories: the reference the checker is compared with.</summary>
internal static class BruteForce
{
    private const string Unknown = "\u0000unknown";

    public static bool IsLinearizable(List<HistoryOperation> history, InitialState initial)
    {
        var ops = history.FindAll(o => o.Kind != OperationKind.Get || o.IsComplete);
        var byKey = ops.GroupBy(o => o.Key);
        foreach (var group in byKey)
        {
            var list = group.ToList();
            if (!Search(list, new bool[list.Count], initial == InitialState.Absent ? null : Unknown))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Search(List<HistoryOperation> ops, bool[] done, string? state)
    {
        bool allCompleteDone = true;
        for (int i = 0; i < ops.Count; i++)
        {
            if (!done[i] && ops[i].IsComplete)
            {
                allCompleteDone = false;
            }
        }

        if (allCompleteDone)
        {
            return true; // remaining incomplete writes never took effect
        }

        for (int i = 0; i < ops.Count; i++)
        {
            if (done[i])
            {
                continue;
            }

            // i may go next only if no other pending operation returned before i was invoked.
            bool minimal = true;
            for (int j = 0; j < ops.Count && minimal; j++)
            {
                if (j != i && !done[j] && ops[j].End is long end && end < ops[i].Start)
                {
                    minimal = false;
                }
            }

            if (!minimal)
            {
                continue;
            }

            string? next;
            switch (ops[i].Kind)
            {
                case OperationKind.Put:
                    next = ops[i].Value;
                    break;
                case OperationKind.Delete:
                    next = null;
                    break;
                default:
                    if (state != Unknown && state != ops[i].Value)
                    {
                        continue;
                    }

                    next = ops[i].Value;
                    break;
            }

            done[i] = true;
            bool ok = Search(ops, done, next);
            done[i] = false;
            if (ok)
            {
                return true;
            }
        }

        return false;
    }
}
