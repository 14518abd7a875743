using Scalio.Verbs;

namespace Scalio.Tests.Libfabric;

public sealed class ProgressCpuTests
{
    [LibfabricFact(Timeout = 30_000)]
    public async Task The_progress_thread_that_serves_peers_reads_reports_its_cpu_time()
    {
        await Task.Yield();
        using var pair = new LibfabricProviderTests.Pair();
        for (int i = 0; i < 200 && pair.Remote.ProgressThreadCpuNanoseconds <= 0; i++) Thread.Sleep(5);
        long before = pair.Remote.ProgressThreadCpuNanoseconds;
        Assert.True(before >= 0, "the progress thread's CPU clock is readable");
        for (int i = 0; i < 2_000; i++)
        {
            var wc = pair.Post(WorkRequest.Read((ulong)i, pair.LocalMr.AddressOf(0), 64, pair.LocalMr.LocalKey, 0, pair.RemoteMr.RemoteKey));
            Assert.True(wc.IsSuccess, $"READ {i}: {wc.Status}");
        }
        long after = pair.Remote.ProgressThreadCpuNanoseconds;
        Assert.True(after > before, $"serving 2,000 READs cost the target's progress thread no CPU ({before} -> {after} ns)");
        // The figure is a thread's CPU time, so it cannot exceed the wall time that passed by much.
        Assert.True(after < 60_000_000_000L);
    }
}
