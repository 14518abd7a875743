using System.Diagnostics;
using Scalio.Verbs;
using Xunit;

namespace Scalio.Tests.Verbs;

public class ThreadCpuClockTests
{
    [Fact]
    public void A_sleeping_thread_accrues_almost_no_cpu_time_and_a_spinning_one_does()
    {
        Assert.True(ThreadCpuClock.IsThreadCpuTime, "Linux exposes CLOCK_THREAD_CPUTIME_ID; the server CPU figures rely on it");
        long before = ThreadCpuClock.NowNanoseconds();
        Thread.Sleep(300);
        long slept = ThreadCpuClock.NowNanoseconds() - before;
        Assert.True(slept < 100_000_000, $"300 ms of sleep cost {slept / 1e6:F1} ms of thread CPU time");

        before = ThreadCpuClock.NowNanoseconds();
        var wall = Stopwatch.StartNew();
        ulong x = 1;
        while (ThreadCpuClock.NowNanoseconds() - before < 20_000_000 && wall.ElapsedMilliseconds < 10_000) x = x * 6364136223846793005UL + 1;
        long spun = ThreadCpuClock.NowNanoseconds() - before;
        Assert.True(spun >= 20_000_000, $"spinning accrued only {spun / 1e6:F1} ms of CPU in {wall.ElapsedMilliseconds} ms (x={x})");
    }
}
