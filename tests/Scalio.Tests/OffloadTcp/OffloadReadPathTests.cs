using System.Net;
using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;
using Scalio.Offload;
using Xunit.Abstractions;

namespace Scalio.Tests.OffloadTcp;

/// <summary>Runs alone: the allocation test counts bytes while it reads.</summary>
[CollectionDefinition(nameof(OffloadTcpCollection), DisableParallelization = true)]
public sealed class OffloadTcpCollection
{
}

/// <summary>A RAM namespace whose reads can be held at a gate (to make a command time out).</summary>
internal sealed class GatedNamespace : NvmeNamespace
{
    private readonly RamNamespace _inner;

    public GatedNamespace(uint nsid, int lbaSize, ulong blocks)
        : base(nsid, lbaSize, blocks) => _inner = new RamNamespace(nsid, lbaSize, blocks);

    public ManualResetEventSlim Gate { get; } = new(true);

    public RamNamespace Inner => _inner;

    private int _reads;

    /// <summary>Reads the target has asked of this namespace.</summary>
    public int Reads => Volatile.Read(ref _reads);

    protected override NvmeStatus ReadCore(ulong slba, int blocks, Span<byte> destination)
    {
        Interlocked.Increment(ref _reads);
        Gate.Wait(TimeSpan.FromSeconds(10));
        return _inner.Read(slba, blocks, destination);
    }

    protected override NvmeStatus WriteCore(ulong slba, int blocks, ReadOnlySpan<byte> source, bool fua) => _inner.Write(slba, blocks, source, fua);

    protected override NvmeStatus FlushCore() => NvmeStatus.Success;

    protected override void Dispose(bool disposing)
    {
        Gate.Set();
        _inner.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary><see cref="NvmeTcpOffloadReadPath"/> against the project's NVMe/TCP target over RAM namespaces.</summary>
[Collection(nameof(OffloadTcpCollection))]
public sealed class OffloadReadPathTests : IDisposable
{
    private const string Nqn = "nqn.2024-01.io.scalio:offload-test";
    private const ulong Blocks = 1024; // 4 MiB of 4 KiB blocks
    private readonly GatedNamespace _ns = new(1, 4096, Blocks);
    private readonly RamNamespace _ns2 = new(2, 512, 64);
    private readonly NvmeTcpTarget _target;
    private readonly ProtectionDomain _domain = new LoopbackFabric().CreateDomain();
    private readonly MemoryRegion _region;

    private readonly ITestOutputHelper _output;

    public OffloadReadPathTests(ITestOutputHelper output)
    {
        _output = output;
        var pattern = new byte[Blocks * 4096];
        for (int i = 0; i < pattern.Length; i += 8) BitConverter.TryWriteBytes(pattern.AsSpan(i), (ulong)i * 0x9E3779B97F4A7C15UL);
        Assert.True(_ns.Inner.Write(0, (int)Blocks, pattern, false).IsSuccess);
        _target = new NvmeTcpTarget(new NvmeTcpTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), SubsystemNqn = Nqn, PduTimeout = TimeSpan.FromSeconds(5) }, [_ns, _ns2]);
        _target.Start();
        _region = _domain.Allocate(64 * 1024, MemoryAccess.LocalWrite, 4096);
    }

    private int Port => _target.Endpoint.Port;

    private NvmeTcpOffloadReadPath Connect(NvmeTcpOffloadReadPathOptions? options = null) =>
        NvmeTcpOffloadReadPath.Connect("127.0.0.1", Port, Nqn, options ?? new NvmeTcpOffloadReadPathOptions { CommandTimeout = TimeSpan.FromSeconds(5) });

    private byte[] Expected(ulong slba, int blocks)
    {
        var data = new byte[blocks * 4096];
        Assert.True(_ns.Inner.Read(slba, blocks, data).IsSuccess);
        return data;
    }

    [Fact]
    public void Reads_land_in_the_region_at_the_offset_and_match_the_namespace()
    {
        using var path = Connect();
        foreach (var (slba, blocks, offset) in new[] { (0UL, 1, 0), (7UL, 2, 4096), (1000UL, 8, 8192), (Blocks - 1, 1, 60 * 1024) })
        {
            _region.Span.Fill(0xEE);
            Assert.Equal(NvmeStatus.Success, path.Read(1, slba, blocks, 4096, _region, offset));
            Assert.True(_region.Slice(offset, blocks * 4096).SequenceEqual(Expected(slba, blocks)), $"slba {slba} blocks {blocks}");
            Assert.True(_region.Span[..offset].IndexOfAnyExcept((byte)0xEE) < 0, "bytes before the destination were touched");
            Assert.True(_region.Span[(offset + blocks * 4096)..].IndexOfAnyExcept((byte)0xEE) < 0, "bytes after the destination were touched");
        }

        Assert.Equal(4, path.Commands);
        Assert.True(path.IsConnected);
        Assert.True(_target.BusyNanoseconds > 0, "the target's busy time was not counted");
    }

    [Fact]
    public void Queued_reads_are_all_in_flight_at_once_and_complete_with_their_tags_and_data()
    {
        using var path = Connect(new NvmeTcpOffloadReadPathOptions { CommandTimeout = TimeSpan.FromSeconds(5), QueueDepth = 8 });
        Assert.Equal(8, path.Depth);
        _region.Span.Fill(0xEE);
        _ns.Gate.Reset(); // the target holds every read: posting must not wait for any of them
        for (int i = 0; i < 8; i++) Assert.Equal(NvmeStatus.Success, path.PostRead(1, (ulong)(100 + 3 * i), 1, 4096, _region, i * 4096, tag: 40 + i));
        Assert.Equal(8, path.Outstanding);
        Assert.Throws<InvalidOperationException>(() => path.PostRead(1, 0, 1, 4096, _region, 0, tag: 99));
        _ns.Gate.Set();
        var seen = new HashSet<int>();
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(NvmeStatus.Success, path.WaitCompletion(out int tag));
            Assert.True(seen.Add(tag), $"tag {tag} completed twice");
        }

        Assert.Equal(0, path.Outstanding);
        Assert.Equal(Enumerable.Range(40, 8).ToHashSet(), seen);
        for (int i = 0; i < 8; i++) Assert.True(_region.Slice(i * 4096, 4096).SequenceEqual(Expected((ulong)(100 + 3 * i), 1)), $"read {i}");

        // An NVMe error completes only its own read.
        Assert.Equal(NvmeStatus.Success, path.PostRead(1, Blocks, 1, 4096, _region, 0, tag: 1));
        Assert.Equal(NvmeStatus.Success, path.PostRead(1, 5, 1, 4096, _region, 4096, tag: 2));
        var statuses = new Dictionary<int, NvmeStatus>();
        for (int i = 0; i < 2; i++) { var st = path.WaitCompletion(out int tag); statuses[tag] = st; }
        Assert.Equal(NvmeStatus.LbaOutOfRange, statuses[1]);
        Assert.Equal(NvmeStatus.Success, statuses[2]);

        // Queued reads allocate nothing on the calling thread.
        int failures = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 200; round++)
        {
            for (int i = 0; i < 8; i++)
                if (!path.PostRead(1, (ulong)(round + i), 1, 4096, _region, i * 4096, i).IsSuccess) failures++;
            for (int i = 0; i < 8; i++)
                if (!path.WaitCompletion(out _).IsSuccess) failures++;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, failures);
        Assert.True(allocated == 0, $"{allocated} bytes allocated by 1,600 queued reads");
    }

    [Fact]
    public void Queued_reads_leave_together_when_the_poster_waits()
    {
        using var path = Connect(new NvmeTcpOffloadReadPathOptions { CommandTimeout = TimeSpan.FromSeconds(5), QueueDepth = 8 });
        Assert.Equal(NvmeStatus.Success, path.Read(1, 0, 1, 4096, _region, 0)); // connected, I/O queue up
        int before = _ns.Reads;
        for (int i = 0; i < 6; i++) Assert.Equal(NvmeStatus.Success, path.PostRead(1, (ulong)(7 * i), 1, 4096, _region, i * 4096, tag: i));
        Thread.Sleep(200);
        Assert.Equal(before, _ns.Reads); // posted, not yet sent: the wait is the doorbell
        for (int i = 0; i < 6; i++) Assert.Equal(NvmeStatus.Success, path.WaitCompletion(out _));
        Assert.Equal(before + 6, _ns.Reads);
        for (int i = 0; i < 6; i++) Assert.True(_region.Slice(i * 4096, 4096).SequenceEqual(Expected((ulong)(7 * i), 1)), $"read {i}");
    }

    [Fact]
    public void Queued_reads_without_a_response_are_abandoned_together_then_the_path_reconnects()
    {
        using var path = Connect(new NvmeTcpOffloadReadPathOptions { CommandTimeout = TimeSpan.FromMilliseconds(300), QueueDepth = 4 });
        _ns.Gate.Reset();
        for (int i = 0; i < 3; i++) Assert.Equal(NvmeStatus.Success, path.PostRead(1, (ulong)i, 1, 4096, _region, i * 4096, tag: i));
        Assert.Equal(NvmeStatus.CommandAbortedByHost, path.WaitCompletion(out int tag));
        Assert.Equal(-1, tag);
        Assert.Equal(0, path.Outstanding);
        Assert.Equal(1, path.Timeouts);
        _ns.Gate.Set();
        Assert.Equal(NvmeStatus.Success, path.PostRead(1, 9, 1, 4096, _region, 0, tag: 7)); // reconnects first
        Assert.Equal(NvmeStatus.Success, path.WaitCompletion(out tag));
        Assert.Equal(7, tag);
        Assert.True(_region.Slice(0, 4096).SequenceEqual(Expected(9, 1)));
    }

    [Fact]
    public void A_read_allocates_nothing_on_the_calling_thread()
    {
        using var path = Connect();
        for (int i = 0; i < 300; i++) Assert.Equal(NvmeStatus.Success, path.Read(1, (ulong)(i % 512), 1, 4096, _region, 0));
        const int N = 3000;
        long before = GC.GetAllocatedBytesForCurrentThread();
        int failures = 0;
        for (int i = 0; i < N; i++)
        {
            if (!path.Read(1, (ulong)(i % 1000), 1 + (i & 1), 4096, _region, 4096).IsSuccess) failures++;
        }

        // Error completions come back without allocating either.
        for (int i = 0; i < 100; i++)
        {
            if (path.Read(1, Blocks + (ulong)i, 1, 4096, _region, 0) != NvmeStatus.LbaOutOfRange) failures++;
            if (path.Read(7, 0, 1, 4096, _region, 0) != NvmeStatus.InvalidNamespace) failures++;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, failures);
        Assert.True(allocated == 0, $"{allocated} bytes allocated over {N} reads ({(double)allocated / N:0.##} B/read)");
        Assert.True(_region.Slice(4096, 4096).SequenceEqual(Expected((N - 1) % 1000, 1)));

        // Process-wide too (the queue's receive thread and the in-process target): pinned slots, pooled buffers and
        // blocking sockets. The slack covers the initiator's 1 s watchdog timer.
        // Cleanest of up to three rounds: other threads of the process (timers, the test host) may allocate in one.
        long perRead = long.MaxValue;
        for (int round = 0; round < 3 && perRead > 0; round++)
        {
            long total = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < N; i++) path.Read(1, (ulong)(i % 1000), 1, 4096, _region, 0);
            perRead = Math.Min(perRead, (GC.GetTotalAllocatedBytes(precise: true) - total) / N);
        }

        Assert.True(perRead < 16, $"{perRead} bytes allocated per read process-wide (read path, receive thread and target together)");
    }

    [Fact] // latency of one 4 KiB read, read path and target in one process (see it with --logger "console;verbosity=detailed");
           // a short sample by default, SCALIO_OFFLOADTCP_PERF_N=20000 for a measurement
    public void Read_latency_is_measured_and_every_read_succeeds()
    {
        using var path = Connect();
        int N = int.TryParse(Environment.GetEnvironmentVariable("SCALIO_OFFLOADTCP_PERF_N"), out int n) && n >= 100 ? n : 2_000;
        var samples = new double[N];
        for (int i = 0; i < 1000; i++) path.Read(1, (ulong)(i % 1000), 1, 4096, _region, 0);
        for (int i = 0; i < N; i++)
        {
            long t = System.Diagnostics.Stopwatch.GetTimestamp();
            Assert.Equal(NvmeStatus.Success, path.Read(1, (ulong)(i % 1000), 1, 4096, _region, 0));
            samples[i] = System.Diagnostics.Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }

        Array.Sort(samples);
        double busyUs = _target.BusyNanoseconds / 1000.0 / _target.Commands;
        _output.WriteLine($"4 KiB read: p50 {samples[N / 2]:0.0} us, p99 {samples[N * 99 / 100]:0.0} us, p99.9 {samples[N * 999 / 1000]:0.0} us; target CPU {busyUs:0.0} us/command");
    }

    [Fact]
    public void Past_the_end_and_a_wrong_nsid_return_nvme_errors_and_never_data()
    {
        using var path = Connect();
        _region.Span.Fill(0xEE);
        Assert.Equal(NvmeStatus.LbaOutOfRange, path.Read(1, Blocks, 1, 4096, _region, 0));
        Assert.Equal(NvmeStatus.LbaOutOfRange, path.Read(1, Blocks - 1, 2, 4096, _region, 0));
        Assert.Equal(NvmeStatus.LbaOutOfRange, path.Read(1, ulong.MaxValue, 1, 4096, _region, 0));
        Assert.Equal(NvmeStatus.InvalidNamespace, path.Read(9, 0, 1, 4096, _region, 0));
        Assert.Equal(NvmeStatus.InvalidNamespace, path.Read(0, 0, 1, 4096, _region, 0));
        // The caller's LBA size disagrees with the namespace's (512 B): the target refuses the transfer length.
        Assert.Equal(NvmeStatus.DataSglLengthInvalid, path.Read(2, 0, 1, 4096, _region, 0));
        Assert.True(_region.Span.IndexOfAnyExcept((byte)0xEE) < 0, "an error status came with data in the region");
        // The connection survives command errors.
        Assert.Equal(NvmeStatus.Success, path.Read(1, 3, 1, 4096, _region, 0));
        Assert.True(_region.Slice(0, 4096).SequenceEqual(Expected(3, 1)));
        Assert.Equal(NvmeStatus.Success, path.Read(2, 63, 1, 512, _region, 0));
        Assert.Equal(0, path.TransportFailures);
    }

    [Fact]
    public void Bad_arguments_throw_and_send_nothing()
    {
        using var path = Connect();
        Assert.Throws<ArgumentOutOfRangeException>(() => path.Read(1, 0, 0, 4096, _region, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => path.Read(1, 0, 1, 1000, _region, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => path.Read(1, 0, 17, 4096, _region, 0)); // 68 KiB > 64 KiB region
        Assert.Throws<ArgumentOutOfRangeException>(() => path.Read(1, 0, 1, 4096, _region, -1));
        Assert.Equal(0, path.Commands);
    }

    [Fact]
    public void Connect_fails_with_a_clear_error_for_a_wrong_nqn_or_no_listener()
    {
        var refused = Assert.Throws<NvmeCommandException>(() => NvmeTcpOffloadReadPath.Connect("127.0.0.1", Port, "nqn.2024-01.io.scalio:nobody"));
        Assert.Equal(NvmeStatus.ConnectInvalidParameters, refused.Status);
        using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int closedPort = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var e = Assert.Throws<NvmeTcpException>(() => NvmeTcpOffloadReadPath.Connect("127.0.0.1", closedPort, Nqn));
        Assert.Contains($"127.0.0.1:{closedPort}", e.Message);
    }

    [Fact]
    public void A_command_without_a_response_times_out_as_aborted_by_host_then_the_path_reconnects()
    {
        using var path = Connect(new NvmeTcpOffloadReadPathOptions { CommandTimeout = TimeSpan.FromMilliseconds(300), ReconnectInterval = TimeSpan.Zero });
        Assert.Equal(NvmeStatus.Success, path.Read(1, 0, 1, 4096, _region, 0));
        _ns.Gate.Reset();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(NvmeStatus.CommandAbortedByHost, path.Read(1, 1, 1, 4096, _region, 0));
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(8));
        Assert.Equal(1, path.Timeouts);
        Assert.False(path.IsConnected);
        _ns.Gate.Set();
        Assert.Equal(NvmeStatus.Success, path.Read(1, 5, 1, 4096, _region, 0));
        Assert.True(_region.Slice(0, 4096).SequenceEqual(Expected(5, 1)));
        Assert.Equal(1, path.Reconnects);
    }

    [Fact]
    public void A_lost_target_gives_host_pathing_error_not_an_exception_and_a_new_target_is_picked_up()
    {
        var options = new NvmeTcpOffloadReadPathOptions { CommandTimeout = TimeSpan.FromSeconds(2), ConnectTimeout = TimeSpan.FromSeconds(2), ReconnectInterval = TimeSpan.Zero };
        using var ns = new RamNamespace(1, 4096, 16);
        var first = new NvmeTcpTarget(new NvmeTcpTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), SubsystemNqn = Nqn }, [ns]);
        first.Start();
        int port = first.Endpoint.Port;
        using var path = NvmeTcpOffloadReadPath.Connect("127.0.0.1", port, Nqn, options);
        Assert.Equal(NvmeStatus.Success, path.Read(1, 0, 1, 4096, _region, 0));
        first.Dispose();
        Assert.Equal(NvmeStatus.HostPathingError, path.Read(1, 0, 1, 4096, _region, 0));
        Assert.Equal(NvmeStatus.HostPathingError, path.Read(1, 0, 1, 4096, _region, 0)); // reconnect refused: still a status
        Assert.True(path.TransportFailures >= 2);
        Assert.NotNull(path.LastFailure);

        var block = new byte[4096];
        block.AsSpan().Fill(0x42);
        Assert.True(ns.Write(3, 1, block, false).IsSuccess);
        using var second = new NvmeTcpTarget(new NvmeTcpTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, port), SubsystemNqn = Nqn }, [ns]);
        second.Start();
        Assert.Equal(NvmeStatus.Success, path.Read(1, 3, 1, 4096, _region, 0));
        Assert.True(_region.Slice(0, 4096).SequenceEqual(block));
        Assert.True(path.Reconnects >= 1);
    }

    [Fact]
    public void A_target_restart_between_reads_costs_the_client_no_error()
    {
        using var ns = new RamNamespace(1, 4096, 16);
        var block = new byte[4096];
        block.AsSpan().Fill(0x5A);
        Assert.True(ns.Write(2, 1, block, false).IsSuccess);
        var first = new NvmeTcpTarget(new NvmeTcpTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), SubsystemNqn = Nqn }, [ns]);
        first.Start();
        int port = first.Endpoint.Port;
        using var path = NvmeTcpOffloadReadPath.Connect("127.0.0.1", port, Nqn);
        Assert.Equal(NvmeStatus.Success, path.Read(1, 0, 1, 4096, _region, 0));
        first.Dispose();
        using var second = new NvmeTcpTarget(new NvmeTcpTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, port), SubsystemNqn = Nqn }, [ns]);
        second.Start();
        _region.Span.Clear();
        Assert.Equal(NvmeStatus.Success, path.Read(1, 2, 1, 4096, _region, 0)); // the default 1 s reconnect interval does not apply
        Assert.True(_region.Slice(0, 4096).SequenceEqual(block));
        Assert.Equal(1, path.Reconnects);
    }

    [Fact]
    public void Reads_with_header_and_data_digests_match_too()
    {
        using var path = Connect(new NvmeTcpOffloadReadPathOptions { HeaderDigest = true, DataDigest = true });
        for (int i = 0; i < 20; i++)
        {
            ulong slba = (ulong)(i * 37 % 1000);
            Assert.Equal(NvmeStatus.Success, path.Read(1, slba, 4, 4096, _region, 8192));
            Assert.True(_region.Slice(8192, 4 * 4096).SequenceEqual(Expected(slba, 4)));
        }
    }

    [Fact]
    public async Task Execution_threads_cap_the_commands_executing_at_once_over_all_connections()
    {
        using var gated = new GatedNamespace(1, 4096, 16);
        using var free = new RamNamespace(2, 4096, 16);
        using var target = new NvmeTcpTarget(new NvmeTcpTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), SubsystemNqn = Nqn, ExecutionThreads = 1 }, [gated, free]);
        target.Start();
        using var a = NvmeTcpOffloadReadPath.Connect("127.0.0.1", target.Endpoint.Port, Nqn);
        using var b = NvmeTcpOffloadReadPath.Connect("127.0.0.1", target.Endpoint.Port, Nqn);
        using var regionB = _domain.Allocate(4096, MemoryAccess.LocalWrite, 4096);
        gated.Gate.Reset();
        Task<NvmeStatus> held = Task.Factory.StartNew(() => a.Read(1, 0, 1, 4096, _region, 0), TaskCreationOptions.LongRunning);
        await Task.Delay(200); // a's command now holds the one engine, parked in the gated namespace
        Task<NvmeStatus> queued = Task.Factory.StartNew(() => b.Read(2, 0, 1, 4096, regionB, 0), TaskCreationOptions.LongRunning);
        Assert.True(await Task.WhenAny(queued, Task.Delay(400)) != queued, "a command on another connection ran while the only engine was busy");
        gated.Gate.Set();
        Assert.Equal(NvmeStatus.Success, await held.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(NvmeStatus.Success, await queued.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(2, target.Commands);
    }

    [Fact]
    public void Without_reconnect_a_failed_path_stays_failed()
    {
        using var ns = new RamNamespace(1, 4096, 16);
        var target = new NvmeTcpTarget(new NvmeTcpTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), SubsystemNqn = Nqn }, [ns]);
        target.Start();
        using var path = NvmeTcpOffloadReadPath.Connect("127.0.0.1", target.Endpoint.Port, Nqn, new NvmeTcpOffloadReadPathOptions { Reconnect = false });
        target.Dispose();
        Assert.Equal(NvmeStatus.HostPathingError, path.Read(1, 0, 1, 4096, _region, 0));
        Assert.Equal(NvmeStatus.HostPathingError, path.Read(1, 0, 1, 4096, _region, 0));
        Assert.Equal(0, path.Reconnects);
    }

    public void Dispose()
    {
        _target.Dispose();
        _ns.Dispose();
        _ns2.Dispose();
        _region.Dispose();
        _domain.Dispose();
    }
}
