using System.Diagnostics;
using System.Threading.Tasks.Sources;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;
using Scalio.Verbs;

namespace Scalio.Offload;

// The queued reads of the NVMe/TCP miss path (IOffloadReadQueue): a batch's misses go out together on the I/O queue and
// complete in the order the target answers. Same status mapping as Read; a queued read is never sent twice (the caller
// retries a failed one through Read, which reconnects).
public sealed unsafe partial class NvmeTcpOffloadReadPath
{
    private struct Posted
    {
        public NvmeTcpHostQueue.CommandSlot? Slot;
        public short Token;
        public int Tag;
        public NativeWindow Window;
    }

    private readonly Posted[] _posted;
    private int _outstanding;

    /// <inheritdoc />
    public int Depth => _posted.Length;

    /// <inheritdoc />
    public int Outstanding => _outstanding;

    /// <inheritdoc />
    public NvmeStatus PostRead(uint nsid, ulong slba, int blocks, int lbaSize, MemoryRegion region, int offset, int tag)
    {
        long length = Validate(blocks, lbaSize, region, offset);
        if (_outstanding == _posted.Length) ThrowHelper.InvalidOperation($"{_posted.Length} reads are outstanding already");
        NvmeTcpInitiator? initiator = _initiator;
        if (initiator?.IoQueue is not { Failure: null })
        {
            // Reconnect only between batches' reads: a reconnect would abandon the reads in flight.
            initiator = _outstanding == 0 ? Reconnect() : null;
            if (initiator is null)
            {
                Interlocked.Increment(ref _transportFailures);
                return NvmeStatus.HostPathingError;
            }
        }

        if (length > initiator.MaxTransferBytes) return NvmeStatus.InvalidField;
        NvmeTcpHostQueue queue = initiator.IoQueue!;
        NvmeTcpHostQueue.CommandSlot? slot = queue.TryRent();
        if (slot is null) return Failed(initiator, queue.Failure);
        int p = 0;
        while (_posted[p].Slot is not null) p++;
        ref Posted entry = ref _posted[p];
        NvmeTcpWire.WriteTransportRead(slot.Sqe, slot.Cid, nsid, slba, blocks, (int)length);
        slot.ReadDestination = entry.Window.Point(region.Address + offset, (int)length);
        slot.Waiter = _done;
        short token = slot.Version;
        Interlocked.Increment(ref _commands);
        try
        {
            queue.Submit(slot, default, more: true); // sent by WaitCompletion's flush, with the batch's other reads
        }
        catch (NvmeTcpException e)
        {
            return Failed(initiator, e); // the queue had failed; Submit gave the slot back
        }

        entry.Slot = slot;
        entry.Token = token;
        entry.Tag = tag;
        _outstanding++;
        return NvmeStatus.Success;
    }

    /// <inheritdoc />
    public NvmeStatus WaitCompletion(out int tag)
    {
        if (_outstanding == 0) ThrowHelper.InvalidOperation("no read is outstanding");
        _initiator?.IoQueue?.Flush(); // the doorbell: every read posted since the last wait leaves in one send
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            // Reset before looking: a result is set before the event, so a completion between the two is not missed.
            _done.Reset();
            for (int p = 0; p < _posted.Length; p++)
            {
                ref Posted entry = ref _posted[p];
                if (entry.Slot is not { } slot || slot.GetStatus(entry.Token) == ValueTaskSourceStatus.Pending) continue;
                tag = entry.Tag;
                entry.Slot = null;
                _outstanding--;
                try
                {
                    return slot.GetResult(entry.Token).Status; // gives the slot back
                }
                catch (NvmeTcpException e)
                {
                    Interlocked.Increment(ref _transportFailures);
                    _lastFailure = e;
                    if (_initiator is { } broken) Drop(broken);
                    return NvmeStatus.HostPathingError;
                }
            }

            int left = _timeoutMs - (int)Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (left <= 0 || !_done.Wait(left) && Stopwatch.GetElapsedTime(start).TotalMilliseconds >= _timeoutMs)
            {
                AbandonAll();
                tag = -1;
                return NvmeStatus.CommandAbortedByHost;
            }
        }
    }

    /// <summary>No completion in time: the connection is closed (its receive thread joined, so nothing writes into a
    /// client region afterwards) and every outstanding read is given up.</summary>
    private void AbandonAll()
    {
        Interlocked.Increment(ref _timeouts);
        _lastFailure = new NvmeTcpException($"{_outstanding} queued read(s): no response from {_host}:{_port} within {_timeoutMs} ms; the connection was closed.");
        if (_initiator is { } initiator) Drop(initiator);
        for (int p = 0; p < _posted.Length; p++) _posted[p].Slot = null;
        _outstanding = 0;
    }
}
