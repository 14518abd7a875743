using System.Diagnostics;
using Scalio.Verbs;

namespace Scalio.Tests.Verbs;

/// <summary>The one wait policy's sleep phase: slices grow with the wait, so many slow waiters do not starve the cores.</summary>
public class WaitPolicyTests
{
    private static long Ticks(double microseconds) => (long)(microseconds * Stopwatch.Frequency / 1e6);

    [Fact]
    public void A_sleep_slice_is_a_quarter_of_the_wait_between_50_us_and_1_ms()
    {
        Assert.Equal(50_000, WaitPolicy.SliceNanoseconds(Ticks(100)));
        Assert.Equal(50_000, WaitPolicy.SliceNanoseconds(Ticks(200)));
        Assert.InRange(WaitPolicy.SliceNanoseconds(Ticks(800)), 199_000, 201_000);
        Assert.InRange(WaitPolicy.SliceNanoseconds(Ticks(3_000)), 749_000, 751_000);
        Assert.Equal(1_000_000, WaitPolicy.SliceNanoseconds(Ticks(10_000)));
        Assert.Equal(1_000_000, WaitPolicy.SliceNanoseconds(Ticks(60_000_000)));
    }

    [Fact]
    public void A_long_wait_wakes_a_few_dozen_times_not_every_50_us()
    {
        // 20 ms of waiting: at a fixed 50 us slice that was ~400 wake-ups; now about 35.
        var waiter = new Waiter();
        var clock = Stopwatch.StartNew();
        int pauses = 0;
        while (clock.ElapsedMilliseconds < 20)
        {
            waiter.Pause();
            if (waiter.Sleeping) pauses++;
        }
        Assert.InRange(pauses, 1, 120);
    }
}

/// <summary>A waiter on a queue of a manual-progress provider drives the provider all through its wait, between the
/// policy's pauses, not only during the provider's budget.</summary>
public class CompletionQueueProgressTests
{
    /// <summary>A provider that moves a completion into the queue only when polled for the <c>PollsNeeded</c>-th time.</summary>
    private sealed class LateProvider(CompletionQueue queue, int pollsNeeded, long budgetTicks) : ICompletionProgress
    {
        public int Polls;

        public long DriveBudget => budgetTicks;

        public bool DriveProgress()
        {
            if (++Polls == pollsNeeded) queue.Push(new Completion { Id = 77, Status = CompletionStatus.Success });
            return true;
        }
    }

    [Fact]
    public void A_completion_that_only_the_waiter_can_move_arrives_after_the_drive_budget()
    {
        var cq = new CompletionQueue(16);
        var provider = new LateProvider(cq, pollsNeeded: 60, budgetTicks: 0); // no tight phase at all
        cq.Progress = provider;
        var clock = Stopwatch.StartNew();
        Assert.True(cq.PollBlocking(out var wc, timeoutMilliseconds: 5_000), $"no completion after {provider.Polls} polls");
        Assert.Equal(77UL, wc.Id);
        Assert.Equal(60, provider.Polls);
        // 60 polls paced by the policy (spin, then yields): well under the time-out, and no busy loop of thousands.
        Assert.True(clock.ElapsedMilliseconds < 2_000, $"took {clock.ElapsedMilliseconds} ms");
    }
}
