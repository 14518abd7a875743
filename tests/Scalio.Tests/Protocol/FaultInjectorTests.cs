using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Offload;

namespace Scalio.Tests.Protocol;

/// <summary>The seeded fault schedules are a pure function of the seed, the queue pair and the request index.</summary>
public class FaultInjectorTests
{
    private static List<int> TearSchedule(long seed, uint remoteKey)
    {
        var f = new LoopbackFaultInjector(seed)
        {
            TargetRemoteKey = remoteKey,
            TearProbability = 0.3,
            TearUnit = 104,
            TearBoundaries = [8, 20, 36, 60],
        };
        var wr = WorkRequest.Read(1, 0, 832, 1, 0, remoteKey);
        var schedule = new List<int>();
        for (uint qp = 1; qp <= 3; qp++)
        {
            for (int i = 0; i < 200; i++)
            {
                f.BeforeExecute(qp, in wr); // advances the queue pair's request index
                schedule.Add(f.TearReadAt(qp, remoteKey, 0, 832));
            }
        }
        Assert.Equal(schedule.Count(t => t > 0), f.Tears);
        return schedule;
    }

    [Fact]
    public void Same_seed_same_schedule_other_seed_other_schedule()
    {
        var a = TearSchedule(5, 77);
        Assert.Equal(a, TearSchedule(5, 77));
        Assert.NotEqual(a, TearSchedule(6, 77));
        int tears = a.Count(t => t > 0);
        Assert.InRange(tears, 120, 240); // about 30% of 600
        Assert.All(a.Where(t => t > 0), t => Assert.True(t % 104 is 8 or 20 or 36 or 60, $"tear at {t}"));
        Assert.Equal(0, TearSchedule(5, 0).Count(t => t > 0)); // no target region: no tears
    }

    [Fact]
    public void Crashes_hit_only_large_writes_into_the_target_region_and_stop_at_the_limit()
    {
        var f = new LoopbackFaultInjector(1) { TargetRemoteKey = 9, CrashProbability = 1, MaxCrashes = 2 };
        var stamp = WorkRequest.Write(1, 0, 4, 1, 12, 9);
        var other = WorkRequest.Write(1, 0, 96, 1, 0, 10);
        var body = WorkRequest.Write(1, 0, 96, 1, 8, 9);
        f.BeforeExecute(1, in stamp);
        f.BeforeExecute(1, in other);
        Assert.Throws<LoopbackCrashException>(() => f.BeforeExecute(1, in body));
        Assert.Throws<LoopbackCrashException>(() => f.BeforeExecute(2, in body));
        f.BeforeExecute(3, in body); // limit reached
        Assert.Equal(2, f.Crashes);
    }

    [Fact]
    public void Offload_delays_slow_reads_only()
    {
        var d = new SeededOffloadDelays(3, probability: 1, maxMicroseconds: 50);
        var write = SubmissionQueueEntry.CreateWrite(1, 1, 0, 1, false);
        d.BeforeCommand(in write);
        Assert.Equal(0, d.Delayed);
        var read = SubmissionQueueEntry.CreateRead(2, 1, 0, 1);
        d.BeforeCommand(in read);
        Assert.Equal(1, d.Delayed);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SeededOffloadDelays(1, 1.5, 10));
    }
}
