using Scalio.Verbs.Nvme;

namespace Scalio.Verbs.Offload;

/// <summary>
/// Host side of NVMe over RDMA for one thread: sends command capsules whose keyed SGL names a buffer in the host's
/// registered region, and waits for the response capsule. Not thread-safe; allocation-free per command.
/// </summary>
public sealed class OffloadInitiator : IOffloadReadPath
{
    private const int ResponseSlots = 4;
    private readonly QueuePair _qp;
    private readonly MemoryRegion _control; // [capsule 64][responses 4 x 16]
    private ushort _nextCid;

    /// <summary>Creates an initiator on an unconnected queue pair of <paramref name="domain"/> and connects it to <paramref name="target"/>.</summary>
    public OffloadInitiator(ProtectionDomain domain, OffloadTarget target)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(target);
        _qp = domain.CreateQueuePair(domain.CreateCompletionQueue(64), domain.CreateCompletionQueue(64), new QueuePairOptions { MaxReceives = ResponseSlots });
        _control = domain.Allocate(SubmissionQueueEntry.Size + ResponseSlots * CompletionQueueEntry.Size, MemoryAccess.LocalWrite, 64);
        for (int i = 0; i < ResponseSlots; i++) PostResponseReceive(i);
        target.Accept(_qp);
    }

    /// <summary>How long to wait for a response capsule before failing the command, in milliseconds.</summary>
    public int TimeoutMilliseconds { get; set; } = 5000;

    /// <summary>Commands sent.</summary>
    public long Commands { get; private set; }

    private void PostResponseReceive(int i)
        => _qp.PostReceive(new ReceiveRequest((ulong)i, _control.AddressOf(SubmissionQueueEntry.Size + i * CompletionQueueEntry.Size), CompletionQueueEntry.Size, _control.LocalKey));

    /// <summary>Reads <paramref name="blocks"/> LBAs starting at <paramref name="slba"/> of namespace <paramref name="nsid"/>
    /// into <paramref name="region"/> at <paramref name="offset"/> (the region must grant remote write).</summary>
    public NvmeStatus Read(uint nsid, ulong slba, int blocks, int lbaSize, MemoryRegion region, int offset)
    {
        var sqe = SubmissionQueueEntry.CreateRead(++_nextCid, nsid, slba, blocks);
        return Submit(ref sqe, region, offset, blocks * lbaSize);
    }

    /// <summary>Writes <paramref name="blocks"/> LBAs from <paramref name="region"/> at <paramref name="offset"/> (the region must grant remote read).</summary>
    public NvmeStatus Write(uint nsid, ulong slba, int blocks, int lbaSize, MemoryRegion region, int offset, bool forceUnitAccess)
    {
        var sqe = SubmissionQueueEntry.CreateWrite(++_nextCid, nsid, slba, blocks, forceUnitAccess);
        return Submit(ref sqe, region, offset, blocks * lbaSize);
    }

    /// <summary>Flushes namespace <paramref name="nsid"/>.</summary>
    public NvmeStatus Flush(uint nsid)
    {
        var sqe = SubmissionQueueEntry.CreateFlush(++_nextCid, nsid);
        return Submit(ref sqe, null, 0, 0);
    }

    private unsafe NvmeStatus Submit(ref SubmissionQueueEntry sqe, MemoryRegion? region, int offset, int length)
    {
        if (region is not null)
        {
            if (offset < 0 || (ulong)offset + (ulong)length > region.Length) ThrowHelper.ArgumentOutOfRange(nameof(offset), "data buffer lies outside the region");
            sqe.Psdt = DataPointerKind.SglMetadataBuffer;
            sqe.Sgl = SglDescriptor.KeyedDataBlock((ulong)offset, length, region.RemoteKey);
        }
        sqe.WriteTo(_control.Slice(0, SubmissionQueueEntry.Size));
        Commands++;
        _qp.PostSend(WorkRequest.Send(0, _control.BaseAddress, SubmissionQueueEntry.Size, _control.LocalKey, WorkFlags.None));
        if (_qp.SendQueue.TryPoll(out var sc) && !sc.IsSuccess) return NvmeStatus.DataTransferError;
        if (!_qp.ReceiveQueue.PollBlocking(out var wc, timeoutMilliseconds: TimeoutMilliseconds))
            return NvmeStatus.NamespaceNotReady;
        int slot = (int)wc.Id;
        if (!wc.IsSuccess) return NvmeStatus.DataTransferError;
        var cqe = CompletionQueueEntry.Read(_control.Slice(SubmissionQueueEntry.Size + slot * CompletionQueueEntry.Size, CompletionQueueEntry.Size));
        PostResponseReceive(slot);
        if (cqe.CommandId != sqe.CommandId) return NvmeStatus.InternalError;
        return cqe.Status;
    }

    /// <summary>Disconnects.</summary>
    public void Dispose()
    {
        _qp.Dispose();
        _control.Dispose();
    }
}
