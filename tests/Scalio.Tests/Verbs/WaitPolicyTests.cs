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
