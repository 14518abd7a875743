using Scalio.Cli;
using Scalio.Ycsb;

namespace Scalio.Tests.Budget;

/// <summary>The paper's Figure 12 middle step: one-sided misses whose SSD reads a software target on the server serves.</summary>
public sealed class NoOffloadTests
{
    [Fact(Timeout = 120_000)]
    public async Task Without_offload_the_miss_path_reads_cost_server_cpu_and_with_it_they_cost_none()
    {
        await Task.Yield();
        var settings = new StoreSettings { Records = 4_000, Ssds = 2 };
        var options = new YcsbOptions { Workload = YcsbWorkload.C, RecordCount = 4_000, OperationCount = 6_000, Threads = 2, Load = true };
        var rows = SystemComparison.Run(options, settings, [YcsbSystem.ScalioNoOffload, YcsbSystem.ScalioNoBatch]);
        var noOffload = rows[0].Result;
        var offload = rows[1].Result;
        Assert.Equal(0, noOffload.ValueMismatches);
        Assert.True(noOffload.SsdReadsPerOp > 0.1, $"expected misses, {noOffload.SsdReadsPerOp} SSD reads/op");
        // YCSB-C has no writes: every server µs here is the software target serving the misses' reads.
        Assert.True(noOffload.ServerCpuMicrosPerOp > 0.05, $"server CPU {noOffload.ServerCpuMicrosPerOp} µs/op without offload");
        Assert.Equal(0, noOffload.OffloadMicrosPerOp);
        Assert.Equal(0, offload.ServerCpuMicrosPerOp);
        Assert.Equal("scalio-nooffload", SystemComparison.Name(SystemComparison.Parse("scalio-nooffload")[0]));
    }
}
