using Scalio.Nvme;
using Scalio.Verbs;

namespace Scalio.Offload;

/// <summary>
/// Host side of NVMe over RDMA for one thread: sends command capsules whose keyed SGL names a buffer in the host's
/// registered region and takes the response capsules, up to the target's queue depth in flight
/// (<see cref="IOffloadReadQueue"/>), or one at a time through <see cref="Read"/>. Not thread-safe; allocation-free per command.
/// </summary>
public sealed class OffloadInitiator : IOffloadReadQueue
{
    // Command ids carry the capsule slot in their low bits and a generation above, so a late response is recognised.
    private const int SlotBits = 6;
    private const int MaxDepth = 1 << SlotBits;
    private readonly QueuePair _qp;
    private readonly MemoryRegion _control; // [capsules Depth x 64][responses Depth x 16]
    private readonly int _responses;
    private readonly ushort[] _cids;
    private readonly int[] _tags;
    private readonly int[] _free;
    private int _freeCount;
    private ushort _generation;

    /// <summary>Creates an initiator on an unconnected queue pair of <paramref name="domain"/> and connects it to <paramref name="target"/>.</summary>
    public OffloadInitiator(ProtectionDomain domain, OffloadTarget target)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(target);
        Depth = Math.Clamp(target.QueueDepth, 1, MaxDepth);
        _responses = Depth * SubmissionQueueEntry.WireSize;
        _qp = domain.CreateQueuePair(domain.CreateCompletionQueue(64), domain.CreateCompletionQueue(Math.Max(64, Depth)), new QueuePairOptions { MaxReceives = Depth });
        _control = domain.Allocate((nuint)(Depth * (SubmissionQueueEntry.WireSize + NvmeCompletion.WireSize)), MemoryAccess.LocalWrite, 64);
        _cids = new ushort[Depth];
        _tags = new int[Depth];
        _free = new int[Depth];
        for (int i = 0; i < Depth; i++)
        {
            _free[i] = Depth - 1 - i;
            PostResponseReceive(i);
        }
        _freeCount = Depth;
        target.Accept(_qp);
    }

    /// <summary>How long to wait for a response capsule before failing the command, in milliseconds.</summary>
    public int TimeoutMilliseconds { get; set; } = 5000;

    /// <summary>Commands sent.</summary>
    public long Commands { get; private set; }

    /// <inheritdoc/>
    public int Depth { get; }

    /// <inheritdoc/>
    public int Outstanding => Depth - _freeCount;

    private void PostResponseReceive(int i)
        => _qp.PostReceive(new ReceiveRequest((ulong)i, _control.AddressOf(_responses + i * NvmeCompletion.WireSize), NvmeCompletion.WireSize, _control.LocalKey));

    /// <summary>Reads <paramref name="blocks"/> LBAs starting at <paramref name="slba"/> of namespace <paramref name="nsid"/>
    /// into <paramref name="region"/> at <paramref name="offset"/> (the region must grant remote write).</summary>
    public NvmeStatus Read(uint nsid, ulong slba, int blocks, int lbaSize, MemoryRegion region, int offset)
    {
        var st = PostRead(nsid, slba, blocks, lbaSize, region, offset, 0);
        return st.IsSuccess ? WaitOne() : st;
    }

    /// <inheritdoc/>
    public NvmeStatus PostRead(uint nsid, ulong slba, int blocks, int lbaSize, MemoryRegion region, int offset, int tag)
    {
        var sqe = SubmissionQueueEntry.CreateRead(0, nsid, slba, blocks);
        return Post(ref sqe, region, offset, blocks * lbaSize, tag);
    }

    /// <summary>Writes <paramref name="blocks"/> LBAs from <paramref name="region"/> at <paramref name="offset"/> (the region must grant remote read).</summary>
    public NvmeStatus Write(uint nsid, ulong slba, int blocks, int lbaSize, MemoryRegion region, int offset, bool forceUnitAccess)
    {
        var sqe = SubmissionQueueEntry.CreateWrite(0, nsid, slba, blocks, forceUnitAccess);
        var st = Post(ref sqe, region, offset, blocks * lbaSize, 0);
        return st.IsSuccess ? WaitOne() : st;
    }

    /// <summary>Flushes namespace <paramref name="nsid"/>.</summary>
    public NvmeStatus Flush(uint nsid)
    {
        var sqe = SubmissionQueueEntry.CreateFlush(0, nsid);
        var st = Post(ref sqe, null, 0, 0, 0);
        return st.IsSuccess ? WaitOne() : st;
    }

    private NvmeStatus WaitOne()
    {
        if (Outstanding != 1) ThrowHelper.InvalidOperation("a synchronous command cannot run while posted reads are outstanding");
        return WaitCompletion(out _);
    }

    private NvmeStatus Post(ref SubmissionQueueEntry sqe, MemoryRegion? region, int offset, int length, int tag)
    {
        if (region is not null)
        {
            if (offset < 0 || (ulong)offset + (ulong)length > region.Length) ThrowHelper.ArgumentOutOfRange(nameof(offset), "data buffer lies outside the region");
            sqe.Psdt = DataPointerKind.SglMetadataBuffer;
            sqe.Sgl = SglDescriptor.KeyedDataBlock((ulong)offset, length, region.RemoteKey);
        }
        if (_freeCount == 0) ThrowHelper.InvalidOperation($"{Depth} commands are outstanding already (the queue depth)");
        int slot = _free[--_freeCount];
        ushort cid = (ushort)((++_generation << SlotBits) | slot);
        if (cid == 0 || cid == 0xFFFF) cid = (ushort)((++_generation << SlotBits) | slot); // 0 marks a free slot; 0xFFFF is reserved by NVMe
        sqe.CommandId = cid;
        _cids[slot] = cid;
        _tags[slot] = tag;
        sqe.WriteTo(_control.Slice(slot * SubmissionQueueEntry.WireSize, SubmissionQueueEntry.WireSize));
        Commands++;
        _qp.PostSend(WorkRequest.Send(0, _control.AddressOf(slot * SubmissionQueueEntry.WireSize), SubmissionQueueEntry.WireSize, _control.LocalKey, WorkFlags.None));
        if (_qp.SendQueue.TryPoll(out var sc) && !sc.IsSuccess)
        {
            _free[_freeCount++] = slot;
            return NvmeStatus.DataTransferError;
        }
        return NvmeStatus.Success;
    }

    /// <inheritdoc/>
    public NvmeStatus WaitCompletion(out int tag)
    {
        tag = -1;
        if (_freeCount == Depth) ThrowHelper.InvalidOperation("no command is outstanding");
        while (true)
        {
            if (!_qp.ReceiveQueue.PollBlocking(out var wc, timeoutMilliseconds: TimeoutMilliseconds))
            {
                AbandonAll();
                return NvmeStatus.NamespaceNotReady;
            }
            int rslot = (int)wc.Id;
            if (!wc.IsSuccess)
            {
                AbandonAll();
                return NvmeStatus.DataTransferError;
            }
            var cqe = NvmeCompletion.Read(_control.Slice(_responses + rslot * NvmeCompletion.WireSize, NvmeCompletion.WireSize));
            PostResponseReceive(rslot);
            int slot = cqe.CommandId & (MaxDepth - 1);
            if (slot >= Depth || _cids[slot] != cqe.CommandId) continue; // late response of an abandoned command
            _cids[slot] = 0;
            _free[_freeCount++] = slot;
            tag = _tags[slot];
            return cqe.Status;
        }
    }

    private void AbandonAll()
    {
        for (int i = 0; i < Depth; i++) { _free[i] = i; _cids[i] = 0; }
        _freeCount = Depth;
    }

    /// <summary>Disconnects.</summary>
    public void Dispose()
    {
        _qp.Dispose();
        _control.Dispose();
    }
}
