using Scalio.Checking;
using static Scalio.Tests.Checking.H;

namespace Scalio.Tests.Checking;

public class CheckerTests
{
    [Fact]
    public void Empty_history_is_linearizable()
    {
        CheckResult r = LinearizabilityChecker.Check([]);
        Assert.Equal(Verdict.Linearizable, r.Verdict);
        Assert.Equal(0, r.OperationCount);
    }

    [Fact]
    public void Sequential_valid_history_passes()
    {
        CheckResult r = Check(
            Get(0, "x", null, 0, 10),
            Put(0, "x", "1", 20, 30),
            Get(1, "x", "1", 40, 50),
            Put(1, "x", "2", 60, 70),
            Get(0, "x", "2", 80, 90),
            Del(0, "x", 100, 110),
            Get(1, "x", null, 120, 130));
        Assert.Equal(Verdict.Linearizable, r.Verdict);
        Assert.Equal(7, r.OperationCount);
        Assert.Equal(1, r.KeyCount);
        Assert.Empty(r.Counterexample);
    }

    [Theory]
    [InlineData("old")]
    [InlineData("new")]
    public void Get_overlapping_a_put_may_return_old_or_new(string seen)
    {
        CheckResult r = Check(
            Put(0, "x", "old", 0, 10),
            Put(1, "x", "new", 20, 100),
            Get(2, "x", seen, 30, 60));
        Assert.Equal(Verdict.Linearizable, r.Verdict);
    }

    [Fact]
    public void Concurrent_gets_may_see_new_then_old_while_overlapping_each_other()
    {
        // The two gets overlap each other and the put: either order is fine.
        CheckResult r = Check(
            Put(0, "x", "old", 0, 10),
            Put(1, "x", "new", 20, 100),
            Get(2, "x", "new", 30, 60),
            Get(3, "x", "old", 40, 70));
        Assert.Equal(Verdict.Linearizable, r.Verdict);
    }

    [Fact]
    public void Stale_read_after_completed_put_is_a_violation()
    {
        CheckResult r = Check(
            Put(0, "x", "x1", 0, 10),
            Put(1, "x", "x2", 20, 30),
            Get(2, "x", "x1", 40, 50));
        Assert.Equal(Verdict.NotLinearizable, r.Verdict);
        Assert.Equal("x", r.Key);
        Assert.Contains("stale read", r.Explanation);
        Assert.Contains("'x1'", r.Explanation);
        Assert.Contains("'x2'", r.Explanation);
        Assert.True(r.CounterexampleStandsAlone);
        Assert.Equal(3, r.Counterexample.Count);
        Assert.Equal(OperationKind.Get, r.Counterexample[r.StuckIndex].Kind);
        string text = r.Format();
        Assert.Contains("NOT linearizable", text);
        Assert.Contains("'x1'", text);
        Assert.Contains("0.040", text); // get start, 40 ns = 0.040 us after the first op
    }

    [Fact]
    public void New_then_old_reads_during_a_running_put_are_a_violation()
    {
        CheckResult r = Check(
            Put(0, "x", "old", 0, 10),
            Put(1, "x", "new", 20, 1000),
            Get(2, "x", "new", 100, 200),
            Get(3, "x", "old", 300, 400));
        Assert.Equal(Verdict.NotLinearizable, r.Verdict);
        Assert.Contains("new then old", r.Explanation);
        Assert.True(r.CounterexampleStandsAlone);
        Assert.Equal(4, r.Counterexample.Count);
        Assert.Equal(3, r.Counterexample[r.StuckIndex].Client);
    }

    [Fact]
    public void The_two_naive_cache_bugs_of_the_design_are_caught()
    {
        // write-to-cache-first: a reader hits new in cache, a later reader misses and reads old from the SSD.
        CheckResult cacheFirst = Check(
            Put(0, "k", "v1", 0, 5),
            Put(1, "k", "v2", 10, 100),
            Get(2, "k", "v2", 20, 30),
            Get(3, "k", "v1", 40, 50));
        Assert.Equal(Verdict.NotLinearizable, cacheFirst.Verdict);

        // unguarded fill: every later reader sees the old value after the write returned.
        CheckResult unguarded = Check(
            Put(0, "k", "v1", 0, 5),
            Get(1, "k", "v1", 10, 60),
            Put(2, "k", "v2", 20, 30),
            Get(3, "k", "v1", 70, 80),
            Get(4, "k", "v1", 90, 95));
        Assert.Equal(Verdict.NotLinearizable, unguarded.Verdict);
        Assert.Contains("stale read", unguarded.Explanation);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("y")]
    public void Incomplete_put_may_or_may_not_have_happened(string? seen)
    {
        CheckResult r = Check(
            Put(0, "x", "y", 10, null),
            Get(1, "x", seen, 50, 60),
            Get(1, "x", seen, 70, 80));
        Assert.Equal(Verdict.Linearizable, r.Verdict);
    }

    [Fact]
    public void Incomplete_put_once_seen_cannot_be_unseen()
    {
        CheckResult r = Check(
            Put(0, "x", "y", 10, null),
            Get(1, "x", "y", 50, 60),
            Get(1, "x", null, 70, 80));
        Assert.Equal(Verdict.NotLinearizable, r.Verdict);
    }

    [Fact]
    public void Incomplete_put_cannot_take_effect_before_it_started()
    {
        CheckResult r = Check(
            Get(1, "x", "y", 0, 5),
            Put(0, "x", "y", 10, null));
        Assert.Equal(Verdict.NotLinearizable, r.Verdict);
    }

    [Fact]
    public void Incomplete_get_constrains_nothing()
    {
        CheckResult r = Check(
            Put(0, "x", "a", 0, 10),
            Get(1, "x", null, 20, null),
            Get(2, "x", "a", 30, 40));
        Assert.Equal(Verdict.Linearizable, r.Verdict);
    }

    [Fact]
    public void Delete_makes_the_key_not_found()
    {
        Assert.Equal(Verdict.Linearizable, Check(
            Put(0, "x", "a", 0, 10),
            Del(0, "x", 20, 30),
            Get(1, "x", null, 40, 50)).Verdict);

        CheckResult stale = Check(
            Put(0, "x", "a", 0, 10),
            Del(0, "x", 20, 30),
            Get(1, "x", "a", 40, 50));
        Assert.Equal(Verdict.NotLinearizable, stale.Verdict);
        Assert.Contains("after delete", stale.Explanation);

        CheckResult resurrect = Check(
            Put(0, "x", "a", 0, 10),
            Del(0, "x", 20, 30),
            Put(1, "x", "b", 40, 50),
            Get(1, "x", null, 60, 70));
        Assert.Equal(Verdict.NotLinearizable, resurrect.Verdict);
        Assert.Contains("not found", resurrect.Explanation);
    }

    [Fact]
    public void Absent_initial_state_rejects_a_value_never_written()
    {
        CheckResult r = Check(Get(0, "x", "ghost", 0, 10));
        Assert.Equal(Verdict.NotLinearizable, r.Verdict);
        Assert.Contains("ghost", r.Explanation);
        Assert.Contains("no put", r.Explanation);
    }

    [Fact]
    public void Unknown_initial_state_lets_the_first_get_fix_the_value()
    {
        Assert.Equal(Verdict.Linearizable, CheckUnknown(
            Get(0, "x", "pre", 0, 10),
            Get(1, "x", "pre", 20, 30),
            Put(0, "x", "a", 40, 50),
            Get(1, "x", "a", 60, 70)).Verdict);

        // Two different unknown initial values cannot both be the initial value.
        Assert.Equal(Verdict.NotLinearizable, CheckUnknown(
            Get(0, "x", "pre1", 0, 10),
            Get(1, "x", "pre2", 20, 30)).Verdict);

        // The initial value cannot come back after a put completed.
        Assert.Equal(Verdict.NotLinearizable, CheckUnknown(
            Get(0, "x", "pre", 0, 10),
            Put(0, "x", "a", 20, 30),
            Get(1, "x", "pre", 40, 50)).Verdict);

        // Not found is also a possible initial state.
        Assert.Equal(Verdict.Linearizable, CheckUnknown(Get(0, "x", null, 0, 10)).Verdict);
    }

    [Fact]
    public void Keys_are_independent_and_the_violating_key_is_named()
    {
        CheckResult r = Check(
            Put(0, "a", "1", 0, 10),
            Put(0, "b", "1", 20, 30),
            Get(1, "a", "1", 40, 50),
            Put(1, "b", "2", 60, 70),
            Get(2, "b", "1", 80, 90));
        Assert.Equal(Verdict.NotLinearizable, r.Verdict);
        Assert.Equal("b", r.Key);
        Assert.All(r.Counterexample, op => Assert.Equal("b", op.Key));
    }

    [Fact]
    public void Touching_operations_are_concurrent()
    {
        // The put returns at the same instant the get starts: either order is allowed.
        CheckResult r = Check(
            Put(0, "x", "a", 0, 10),
            Put(1, "x", "b", 20, 40),
            Get(2, "x", "a", 40, 50));
        Assert.Equal(Verdict.Linearizable, r.Verdict);
    }

    [Fact]
    public void Budget_exhaustion_reports_unknown_not_a_pass()
    {
        var ops = new List<HistoryOperation>();
        for (int i = 0; i < 200; i++)
        {
            ops.Add(Put(i % 8, "x", "v" + i, i * 10, i * 10 + 5));
            ops.Add(Get((i + 1) % 8, "x", "v" + i, i * 10 + 6, i * 10 + 9));
        }

        CheckResult r = LinearizabilityChecker.Check(ops, new CheckOptions { StepBudget = 50 });
        Assert.Equal(Verdict.Unknown, r.Verdict);
        Assert.Equal("x", r.Key);
        Assert.Contains("x", r.UnknownKeys);
        Assert.False(r.IsLinearizable);
        Assert.Contains("Unknown", r.Format());

        Assert.Equal(Verdict.Linearizable, LinearizabilityChecker.Check(ops).Verdict);
    }

    [Fact]
    public void Malformed_operations_are_rejected_with_a_clear_message()
    {
        var e = Assert.Throws<ArgumentException>(() => Check(Put(0, "x", "a", 50, 40)));
        Assert.Contains("before start", e.Message);
        e = Assert.Throws<ArgumentException>(() => Check(new HistoryOperation(0, OperationKind.Put, "x", null, 0, 1)));
        Assert.Contains("needs a value", e.Message);
        Assert.Throws<ArgumentException>(() => LinearizabilityChecker.Check([], new CheckOptions { StepBudget = 0 }));
    }
}
