using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Offload;

namespace Scalio.Tests.Verbs;

public class OffloadTargetTests
{
    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public void Write_then_read_through_the_target_moves_data_with_rdma_and_reports_nic_time(int lbaSize)
    {
        var fabric = new LoopbackFabric();
        using var ns = new RamNamespace(1, lbaSize, 64);
        using var target = new OffloadTarget(fabric, [ns]);
        var host = fabric.CreateDomain();
        using var initiator = new OffloadInitiator(host, target);
        var mr = host.Allocate(16384, MemoryAccess.All);
        for (int i = 0; i < 8192; i++) mr.Span[i] = (byte)(i * 7);

        int blocks = 8192 / lbaSize;
        Assert.True(initiator.Write(1, 3, blocks, lbaSize, mr, 0, forceUnitAccess: true).IsSuccess);
        Assert.True(initiator.Read(1, 3, blocks, lbaSize, mr, 8192).IsSuccess);
        Assert.Equal(mr.Span[..8192].ToArray(), mr.Span.Slice(8192, 8192).ToArray());
        Assert.True(initiator.Flush(1).IsSuccess);
        Assert.Equal(3, target.Commands);
        Assert.True(target.BusyNanoseconds > 0);
        Assert.Equal(1, ns.ReadCount);
        host.Dispose();
    }

    private sealed class ThreadRecorder : OffloadTargetFaults
    {
        public int ThreadId;
        public override void BeforeCommand(in SubmissionQueueEntry command) => ThreadId = Environment.CurrentManagedThreadId;
    }

    [Fact]
    public void Inline_target_executes_on_the_sending_thread_waits_the_model_there_and_fails_cleanly_once_stopped()
    {
        var fabric = new LoopbackFabric();
        using var ram = new RamNamespace(1, 4096, 64);
        var model = new SsdModelOptions { MaxIops = 1_000_000, ReadLatency = TimeSpan.FromMilliseconds(30), WriteLatency = TimeSpan.Zero, FlushLatency = TimeSpan.Zero };
        using var ns = new ModeledNamespace(ram, model, ownsInner: false);
        var recorder = new ThreadRecorder();
        var target = new OffloadTarget(fabric, [ns], new OffloadTargetOptions { Threads = 0, Faults = recorder });
        Assert.True(target.Inline);
        var host = fabric.CreateDomain();
        var initiator = new OffloadInitiator(host, target) { TimeoutMilliseconds = 300 };
        var mr = host.Allocate(8192, MemoryAccess.All);
        mr.Span[..4096].Fill(0x3C);
        Assert.True(initiator.Write(1, 5, 1, 4096, mr, 0, forceUnitAccess: false).IsSuccess);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(initiator.Read(1, 5, 1, 4096, mr, 4096).IsSuccess);
        Assert.True(sw.Elapsed.TotalMilliseconds >= 29, $"read answered after {sw.Elapsed.TotalMilliseconds:F2} ms, before its modelled 30 ms");
        Assert.Equal(Environment.CurrentManagedThreadId, recorder.ThreadId);
        Assert.True(mr.Span.Slice(4096, 4096).IndexOfAnyExcept((byte)0x3C) < 0);
        Assert.Equal(2, target.Commands);
        // NIC time excludes the modelled 30 ms device wait (a busy host may still preempt the copy for a few ms).
        Assert.InRange(target.BusyNanoseconds, 1, 15_000_000);
        target.Dispose();
        Assert.False(initiator.Read(1, 5, 1, 4096, mr, 4096).IsSuccess);
        initiator.Dispose();
        host.Dispose();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public void Bad_commands_get_nvme_errors_and_the_target_keeps_serving(int threads)
    {
        var fabric = new LoopbackFabric();
        using var ns = new RamNamespace(1, 4096, 16);
        using var target = new OffloadTarget(fabric, [ns], new OffloadTargetOptions { Threads = threads });
        var host = fabric.CreateDomain();
        using var initiator = new OffloadInitiator(host, target);
        var mr = host.Allocate(8192, MemoryAccess.All);

        Assert.Equal(NvmeStatus.InvalidNamespace.StatusCode, initiator.Read(9, 0, 1, 4096, mr, 0).StatusCode);
        Assert.Equal(NvmeStatus.LbaOutOfRange.StatusCode, initiator.Read(1, 15, 2, 4096, mr, 0).StatusCode);
        Assert.Throws<ArgumentOutOfRangeException>(() => initiator.Read(1, 0, 2, 4096, mr, 4096)); // buffer past the region: refused before sending
        Assert.True(initiator.Read(1, 0, 1, 4096, mr, 0).IsSuccess);
        Assert.Equal(2, target.Errors);
        host.Dispose();
    }

    [Fact]
    public void A_data_buffer_without_remote_write_right_fails_the_transfer_and_leaves_host_memory_untouched()
    {
        var fabric = new LoopbackFabric();
        using var ns = new RamNamespace(1, 4096, 16);
        ns.Write(0, 1, new byte[4096].AsSpan().ToArray().Select(_ => (byte)0x5A).ToArray(), fua: false);
        using var target = new OffloadTarget(fabric, [ns]);
        var host = fabric.CreateDomain();
        using var initiator = new OffloadInitiator(host, target) { TimeoutMilliseconds = 300 };
        var readOnly = host.Allocate(4096, MemoryAccess.LocalWrite | MemoryAccess.RemoteRead);
        var status = initiator.Read(1, 0, 1, 4096, readOnly, 0);
        Assert.False(status.IsSuccess);
        Assert.True(readOnly.Span.ToArray().All(b => b == 0));
        host.Dispose();
    }
}

public sealed class OffloadTargetModelTests
{
    [Fact(Timeout = 30_000)]
    public async Task One_engine_overlaps_modelled_device_latency_across_connections()
    {
        await Task.Yield();
        // 20 ms reads: 8 hosts reading at once through ONE engine thread finish in about one latency, not eight
        // (160 ms); the slack covers starting 8 threads on a busy 2-core host.
        var model = new SsdModelOptions { MaxIops = 1_000_000, ReadLatency = TimeSpan.FromMilliseconds(20), WriteLatency = TimeSpan.Zero, FlushLatency = TimeSpan.Zero };
        var fabric = new LoopbackFabric();
        using var ns = new ModeledNamespace(new RamNamespace(1, 4096, 64), model);
        using var target = new OffloadTarget(fabric, [ns], new OffloadTargetOptions { Threads = 1 });
        var hosts = new (ProtectionDomain Domain, OffloadInitiator Initiator, MemoryRegion Mr)[8];
        for (int i = 0; i < hosts.Length; i++)
        {
            var d = fabric.CreateDomain();
            hosts[i] = (d, new OffloadInitiator(d, target), d.Allocate(4096, MemoryAccess.All));
            hosts[i].Mr.Span.Fill((byte)(i + 1));
            Assert.True(hosts[i].Initiator.Write(1, (ulong)i, 1, 4096, hosts[i].Mr, 0, forceUnitAccess: false).IsSuccess);
            hosts[i].Mr.Span.Clear();
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var threads = new Thread[hosts.Length];
        var ok = new bool[hosts.Length];
        for (int i = 0; i < hosts.Length; i++)
        {
            int h = i;
            threads[i] = new Thread(() => ok[h] = hosts[h].Initiator.Read(1, (ulong)h, 1, 4096, hosts[h].Mr, 0).IsSuccess);
            threads[i].Start();
        }
        foreach (var t in threads) t.Join();
        double ms = sw.Elapsed.TotalMilliseconds;
        for (int i = 0; i < hosts.Length; i++)
        {
            Assert.True(ok[i]);
            Assert.True(hosts[i].Mr.Span.ToArray().All(b => b == (byte)(i + 1)), $"host {i} read someone else's data");
        }
        Assert.InRange(ms, 19, 110);
        foreach (var h in hosts) { h.Initiator.Dispose(); h.Mr.Dispose(); h.Domain.Dispose(); }
    }
}
