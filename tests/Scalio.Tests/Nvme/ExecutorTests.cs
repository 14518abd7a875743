using Scalio.Nvme;

namespace Scalio.Tests.Nvme;

public sealed class ExecutorTests : IDisposable
{
    private readonly RamNamespace _ns1 = new(1, 512, 128);
    private readonly RamNamespace _ns3 = new(3, 4096, 16);
    private readonly NvmeCommandExecutor _executor;

    public ExecutorTests() => _executor = new NvmeCommandExecutor([_ns3, _ns1]);

    public void Dispose()
    {
        _ns1.Dispose();
        _ns3.Dispose();
    }

    [Fact]
    public void Write_then_read_through_commands()
    {
        var data = new byte[2 * 4096];
        new Random(5).NextBytes(data);
        var write = SubmissionQueueEntry.CreateWrite(0x0A0B, 3, 4, 2, forceUnitAccess: true);
        NvmeStatus s = _executor.Execute(in write, data, sqId: 2, sqHead: 17, out NvmeCompletion cqe);
        Assert.Equal(NvmeStatus.Success, s);
        Assert.Equal(0x0A0B, cqe.CommandId);
        Assert.Equal(2, cqe.SqId);
        Assert.Equal(17, cqe.SqHead);
        Assert.Equal(0, cqe.StatusField);
        Assert.False(cqe.Phase);

        var back = new byte[2 * 4096];
        var read = SubmissionQueueEntry.CreateRead(0x0A0C, 3, 4, 2);
        Assert.Equal(NvmeStatus.Success, _executor.Execute(in read, back, 2, 18, out cqe));
        Assert.Equal(data, back);
        Assert.Equal(0x0A0C, cqe.CommandId);
        Assert.Equal(1, _ns3.ReadCount);
        Assert.Equal(1, _ns3.WriteCount);
        Assert.Equal(0, _ns1.WriteCount);
    }

    [Fact]
    public void Error_statuses_land_in_the_completion()
    {
        var buf = new byte[8192];
        // Unknown namespaces: 0, a gap in the NSID space, past the end.
        foreach (uint nsid in new uint[] { 0, 2, 4, 9999, 0xFFFF_FFFF })
        {
            var read = SubmissionQueueEntry.CreateRead(1, nsid, 0, 1);
            Assert.Equal(NvmeStatus.InvalidNamespace, _executor.Execute(in read, buf, 1, 0, out NvmeCompletion c));
            Assert.Equal(0x0B, c.Status.StatusCode);
            Assert.True(c.Status.DoNotRetry);
        }

        // Opcodes other than Flush/Write/Read (e.g. an admin Identify sent to this executor, Compare 05h).
        foreach (byte opcode in new byte[] { AdminOpcode.Identify, 0x05, AdminOpcode.Fabrics, 0xFF })
        {
            var sqe = new SubmissionQueueEntry { Opcode = opcode, CommandId = 77, Nsid = 1 };
            Assert.Equal(NvmeStatus.InvalidOpcode, _executor.Execute(in sqe, buf, 1, 0, out NvmeCompletion c));
            Assert.Equal(77, c.CommandId);
            Assert.Equal((0x01 << 1) | (1 << 15), c.StatusField); // SC 01h, SCT 0, DNR
        }

        var outOfRange = SubmissionQueueEntry.CreateRead(9, 1, 127, 2);
        Assert.Equal(NvmeStatus.LbaOutOfRange, _executor.Execute(in outOfRange, buf, 1, 0, out NvmeCompletion c1));
        Assert.Equal((0x80 << 1) | (1 << 15), c1.StatusField);

        var tooBig = SubmissionQueueEntry.CreateWrite(9, 3, 0, 3); // 3 x 4 KiB into an 8 KiB buffer
        Assert.Equal(NvmeStatus.DataSglLengthInvalid, _executor.Execute(in tooBig, buf, 1, 0, out _));

        var fused = SubmissionQueueEntry.CreateWrite(9, 1, 0, 1);
        fused.Fuse = FusedOperation.First;
        Assert.Equal(NvmeStatus.InvalidField, _executor.Execute(in fused, buf, 1, 0, out _));
        Assert.Equal(0, _ns1.WriteCount + _ns3.WriteCount);
    }

    [Fact]
    public void Flush_one_or_all_namespaces()
    {
        var flush = SubmissionQueueEntry.CreateFlush(1, 1);
        Assert.Equal(NvmeStatus.Success, _executor.Execute(in flush, default, 1, 0, out _));
        Assert.Equal(1, _ns1.FlushCount);
        Assert.Equal(0, _ns3.FlushCount);

        var all = SubmissionQueueEntry.CreateFlush(2, NvmeCommandExecutor.BroadcastNsid);
        Assert.Equal(NvmeStatus.Success, _executor.Execute(in all, default, 1, 0, out _));
        Assert.Equal(2, _ns1.FlushCount);
        Assert.Equal(1, _ns3.FlushCount);

        var missing = SubmissionQueueEntry.CreateFlush(3, 2);
        Assert.Equal(NvmeStatus.InvalidNamespace, _executor.Execute(in missing, default, 1, 0, out _));
    }

    [Fact]
    public void Data_transfer_is_described_before_execution()
    {
        var w = SubmissionQueueEntry.CreateWrite(1, 3, 0, 3);
        Assert.Equal(NvmeStatus.Success, _executor.GetDataTransfer(in w, out NvmeDataDirection dir, out int len));
        Assert.Equal(NvmeDataDirection.HostToController, dir);
        Assert.Equal(3 * 4096, len);

        var r = SubmissionQueueEntry.CreateRead(1, 1, 0, 65536);
        Assert.Equal(NvmeStatus.Success, _executor.GetDataTransfer(in r, out dir, out len));
        Assert.Equal(NvmeDataDirection.ControllerToHost, dir);
        Assert.Equal(65536 * 512, len);

        var f = SubmissionQueueEntry.CreateFlush(1, NvmeCommandExecutor.BroadcastNsid);
        Assert.Equal(NvmeStatus.Success, _executor.GetDataTransfer(in f, out dir, out len));
        Assert.Equal((NvmeDataDirection.None, 0), (dir, len));

        var bad = SubmissionQueueEntry.CreateRead(1, 7, 0, 1);
        Assert.Equal(NvmeStatus.InvalidNamespace, _executor.GetDataTransfer(in bad, out _, out _));
        var op = new SubmissionQueueEntry { Opcode = 0x09 };
        Assert.Equal(NvmeStatus.InvalidOpcode, _executor.GetDataTransfer(in op, out _, out _));
    }

    [Fact]
    public void Execute_does_not_allocate()
    {
        var buf = new byte[4096];
        var read = SubmissionQueueEntry.CreateRead(1, 1, 0, 8);
        var write = SubmissionQueueEntry.CreateWrite(2, 3, 1, 1);
        var bad = SubmissionQueueEntry.CreateRead(3, 1, 1000, 1);
        var flush = SubmissionQueueEntry.CreateFlush(4, NvmeCommandExecutor.BroadcastNsid);
        for (int i = 0; i < 10; i++)
        {
            Run();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            Run();
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());

        void Run()
        {
            _executor.Execute(in read, buf, 1, 0, out _);
            _executor.Execute(in write, buf, 1, 0, out _);
            _executor.Execute(in bad, buf, 1, 0, out _);
            _executor.Execute(in flush, default, 1, 0, out _);
            _executor.GetDataTransfer(in read, out _, out _);
        }
    }

    [Fact]
    public void Construction_rejects_duplicates_and_reports_namespaces()
    {
        Assert.Equal([1u, 3u], _executor.Namespaces.Select(n => n.Nsid));
        Assert.Same(_ns3, _executor.GetNamespace(3));
        Assert.Null(_executor.GetNamespace(2));
        using var dup = new RamNamespace(1, 512, 1);
        Assert.Throws<ArgumentException>(() => new NvmeCommandExecutor([_ns1, dup]));
        using var high = new RamNamespace(NvmeCommandExecutor.MaxNsid + 1, 512, 1);
        Assert.Throws<ArgumentException>(() => new NvmeCommandExecutor([high]));
    }
}
