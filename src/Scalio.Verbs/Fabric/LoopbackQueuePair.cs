using System.Runtime.Intrinsics.X86;

namespace Scalio.Verbs;

/// <summary>Queue pair of the loopback provider. Requests execute in the posting thread under the queue pair's
/// lock, which keeps them in order; their effects on the peer's memory are plain memory operations.</summary>
internal sealed unsafe class LoopbackQueuePair : QueuePair
{
    private readonly LoopbackDomain _domain;
    private readonly QueuePairOptions _options;
    private readonly Lock _sendGate = new();
    private readonly object _receiveGate = new();
    private readonly ReceiveRequest[] _receives;
    private int _receiveHead, _receiveCount;
    private LoopbackQueuePair? _peer;
    private volatile QueuePairState _state = QueuePairState.Reset;

    public LoopbackQueuePair(LoopbackDomain domain, CompletionQueue sendQueue, CompletionQueue receiveQueue, QueuePairOptions options)
        : base(domain, sendQueue, receiveQueue)
    {
        _domain = domain;
        _options = options;
        _receives = new ReceiveRequest[Math.Max(1, options.MaxReceives)];
    }

    public override QueuePairState State => _state;

    public override bool AtomicsCoherentWithCpu => true;

    /// <summary>Set on a queue pair whose receiver is hardware emulated inline (the offload target with no engine
    /// thread): told on the delivering thread after each receive completion is queued.</summary>
    internal IInlineReceiver? InlineReceiver;

    internal void ConnectTo(LoopbackQueuePair peer)
    {
        if (_state != QueuePairState.Reset) ThrowHelper.InvalidOperation("queue pair is already connected or closed");
        _peer = peer;
        _state = QueuePairState.ReadyToSend;
    }

    /// <inheritdoc/>
    public override bool CompletesInOrder => true; // each chain executes in order, under the send lock, before PostSend returns

    // Executing a posted request is the NIC's work, done here by the posting thread (HardwareWork).
    public override void PostSend(in WorkRequest request)
    {
        long t = HardwareWork.Begin();
        lock (_sendGate) Execute(in request);
        HardwareWork.End(t);
    }

    public override void PostSend(ReadOnlySpan<WorkRequest> chain)
    {
        long t = HardwareWork.Begin();
        lock (_sendGate)
        {
            if (chain.Length <= 1 || !TryExecuteCopies(chain))
            {
                if (chain.Length > 1) PrefetchReads(chain);
                for (int i = 0; i < chain.Length; i++) Execute(in chain[i]);
            }
        }
        HardwareWork.End(t);
    }

    /// <summary>Most requests of one chain that <see cref="TryExecuteCopies"/> takes.</summary>
    private const int CopyChainLimit = 256;

    // A doorbell of READs and plain WRITEs only, on a healthy queue pair with no faults or latency injected: every
    // request is checked first (regions looked up once per key, not once per request) and, only if all would succeed,
    // the READs' remote lines are asked for and the copies made in order. Anything else (or any check that fails) goes
    // the general way, request by request, which gives each its exact status.
    private bool TryExecuteCopies(ReadOnlySpan<WorkRequest> chain)
    {
        var peer = _peer;
        var options = _domain.Fabric.Options;
        if (chain.Length > CopyChainLimit || _state != QueuePairState.ReadyToSend || peer is null || peer._state == QueuePairState.Closed
            || options.Faults is not null || options.LatencyNanoseconds > 0)
            return false;
        byte** remotes = stackalloc byte*[chain.Length];
        MemoryRegion? local = null, remote = null;
        for (int i = 0; i < chain.Length; i++)
        {
            ref readonly WorkRequest wr = ref chain[i];
            bool read = wr.Opcode == WorkOpcode.Read;
            if ((!read && wr.Opcode != WorkOpcode.Write) || wr.Length == 0) return false;
            if (local is null || local.LocalKey != wr.LocalKey) local = _domain.FindLocal(wr.LocalKey);
            if (!LocalUsable(local, wr.LocalAddress, wr.Length, writes: read)) return false;
            if (remote is null || remote.RemoteKey != wr.RemoteKey) remote = peer.Domain.FindRemote(wr.RemoteKey);
            remotes[i] = RemoteAddress(remote, wr.RemoteOffset, wr.Length, read ? MemoryAccess.RemoteRead : MemoryAccess.RemoteWrite);
            if (remotes[i] == null) return false;
        }
        for (int i = 0; i < chain.Length; i++)
            if (chain[i].Opcode == WorkOpcode.Read) PrefetchLines(remotes[i], chain[i].Length);
        bool signalAll = _options.SignalAll;
        for (int i = 0; i < chain.Length; i++)
        {
            ref readonly WorkRequest wr = ref chain[i];
            if (wr.Opcode == WorkOpcode.Read) Buffer.MemoryCopy(remotes[i], (byte*)wr.LocalAddress, wr.Length, wr.Length);
            else Buffer.MemoryCopy((byte*)wr.LocalAddress, remotes[i], wr.Length, wr.Length);
            CompleteSend(in wr, CompletionStatus.Success, wr.Length, signalAll);
        }
        return true;
    }

    // A NIC's DMA engines fetch the targets of one doorbell's READs concurrently; executed one after another in
    // software, each READ of a cold bucket would wait for memory alone. Ask the CPU for every READ's remote lines
    // first (a hint: nothing is read or checked here, Execute still checks bounds and rights and copies).
    private void PrefetchReads(ReadOnlySpan<WorkRequest> chain)
    {
        var peer = _peer;
        if (!Sse.IsSupported || peer is null) return;
        for (int i = 0; i < chain.Length; i++)
        {
            ref readonly WorkRequest wr = ref chain[i];
            if (wr.Opcode != WorkOpcode.Read) continue;
            byte* remote = ResolveRemote(peer, wr.RemoteKey, wr.RemoteOffset, wr.Length, MemoryAccess.RemoteRead);
            if (remote != null) PrefetchLines(remote, wr.Length);
        }
    }

    /// <summary>Asks the CPU for the lines of <paramref name="length"/> bytes at <paramref name="p"/> (at most
    /// <see cref="PrefetchLimit"/>); a hint only.</summary>
    private static void PrefetchLines(byte* p, uint length)
    {
        if (!Sse.IsSupported) return;
        length = Math.Min(length, PrefetchLimit);
        for (uint offset = 0; offset < length; offset += 64) Sse.Prefetch0(p + offset);
    }

    /// <summary>Most bytes of one READ prefetched before a chain executes.</summary>
    private const uint PrefetchLimit = 4096;

    public override void PostReceive(in ReceiveRequest request)
    {
        lock (_receiveGate)
        {
            if (_state == QueuePairState.Closed) ThrowHelper.ObjectDisposed(nameof(QueuePair));
            if (_receiveCount == _receives.Length) ThrowHelper.InvalidOperation($"receive queue full ({_receives.Length} receives posted)");
            _receives[(_receiveHead + _receiveCount) % _receives.Length] = request;
            _receiveCount++;
            Monitor.PulseAll(_receiveGate);
        }
    }

    private void Execute(in WorkRequest wr)
    {
        var peer = _peer;
        CompletionStatus status;
        uint bytes = wr.Length;
        if (_state != QueuePairState.ReadyToSend)
        {
            status = _state == QueuePairState.Reset ? CompletionStatus.RemoteInvalidRequest : CompletionStatus.Flushed;
        }
        else if (peer is null || peer._state == QueuePairState.Closed)
        {
            status = CompletionStatus.PeerGone;
        }
        else
        {
            var options = _domain.Fabric.Options;
            var faults = options.Faults;
            if (faults is not null) BeforeExecuteWithFaults(faults, in wr);
            if (options.LatencyNanoseconds > 0) LoopbackFabric.SpinNanoseconds(options.LatencyNanoseconds);
            status = ExecuteOn(peer, in wr, faults);
            faults?.BeforeCompletion(Number, in wr);
        }

        if (status != CompletionStatus.Success)
        {
            if (_state == QueuePairState.ReadyToSend) _state = QueuePairState.Error;
        }
        CompleteSend(in wr, status, bytes, _options.SignalAll);
    }

    private void BeforeExecuteWithFaults(LoopbackFaults faults, in WorkRequest wr)
    {
        try
        {
            faults.BeforeExecute(Number, in wr);
        }
        catch (LoopbackCrashException)
        {
            // The posting process "died" here: nothing it posts from now on executes.
            _state = QueuePairState.Error;
            throw;
        }
    }

    private CompletionStatus ExecuteOn(LoopbackQueuePair peer, in WorkRequest wr, LoopbackFaults? faults)
    {
        // Local buffer check: every opcode names a local buffer; READ and atomics write into it.
        bool writesLocal = wr.Opcode is WorkOpcode.Read or WorkOpcode.CompareSwap or WorkOpcode.FetchAdd;
        if (wr.Length > 0)
        {
            if (!LocalUsable(_domain.FindLocal(wr.LocalKey), wr.LocalAddress, wr.Length, writesLocal))
                return CompletionStatus.LocalProtectionError;
        }

        switch (wr.Opcode)
        {
            case WorkOpcode.Read:
            {
                byte* remote = ResolveRemote(peer, wr.RemoteKey, wr.RemoteOffset, wr.Length, MemoryAccess.RemoteRead);
                if (remote == null) return CompletionStatus.RemoteAccessError;
                byte* dst = (byte*)wr.LocalAddress;
                int tear = faults is null ? 0 : faults.TearReadAt(Number, wr.RemoteKey, wr.RemoteOffset, wr.Length);
                if (tear > 0 && (uint)tear < wr.Length)
                {
                    Buffer.MemoryCopy(remote, dst, tear, tear);
                    faults!.BetweenTornHalves(Number);
                    Buffer.MemoryCopy(remote + tear, dst + tear, wr.Length - tear, wr.Length - tear);
                }
                else
                {
                    Buffer.MemoryCopy(remote, dst, wr.Length, wr.Length);
                }
                return CompletionStatus.Success;
            }
            case WorkOpcode.Write:
            case WorkOpcode.WriteWithImmediate:
            {
                byte* remote = ResolveRemote(peer, wr.RemoteKey, wr.RemoteOffset, wr.Length, MemoryAccess.RemoteWrite);
                if (remote == null) return CompletionStatus.RemoteAccessError;
                Buffer.MemoryCopy((byte*)wr.LocalAddress, remote, wr.Length, wr.Length);
                if (wr.Opcode == WorkOpcode.WriteWithImmediate)
                    return peer.Deliver(null, 0, wr.Immediate, hasImmediate: true, WorkOpcode.WriteWithImmediate, _domain.Fabric.Options.ReceiverNotReadyTimeoutMilliseconds);
                return CompletionStatus.Success;
            }
            case WorkOpcode.CompareSwap:
            case WorkOpcode.FetchAdd:
            {
                if (wr.Length != 8 || (wr.RemoteOffset & 7) != 0) return CompletionStatus.RemoteInvalidRequest;
                byte* remote = ResolveRemote(peer, wr.RemoteKey, wr.RemoteOffset, 8, MemoryAccess.RemoteAtomic);
                if (remote == null) return CompletionStatus.RemoteAccessError;
                if (((ulong)remote & 7) != 0) return CompletionStatus.RemoteInvalidRequest;
                ulong old = wr.Opcode == WorkOpcode.CompareSwap
                    ? Interlocked.CompareExchange(ref *(ulong*)remote, wr.Swap, wr.CompareAdd)
                    : Interlocked.Add(ref *(ulong*)remote, wr.CompareAdd) - wr.CompareAdd;
                *(ulong*)wr.LocalAddress = old;
                return CompletionStatus.Success;
            }
            case WorkOpcode.Send:
            case WorkOpcode.SendWithImmediate:
                return peer.Deliver((byte*)wr.LocalAddress, wr.Length, wr.Immediate, wr.Opcode == WorkOpcode.SendWithImmediate, WorkOpcode.Send, _domain.Fabric.Options.ReceiverNotReadyTimeoutMilliseconds);
            default:
                return CompletionStatus.RemoteInvalidRequest;
        }
    }

    private static byte* ResolveRemote(LoopbackQueuePair peer, uint rkey, ulong offset, uint length, MemoryAccess right)
        => RemoteAddress(peer.Domain.FindRemote(rkey), offset, length, right);

    /// <summary>Where <paramref name="length"/> bytes at <paramref name="offset"/> of a peer's region are, if the region
    /// exists, grants <paramref name="right"/> and holds them all; null otherwise.</summary>
    private static byte* RemoteAddress(MemoryRegion? region, ulong offset, uint length, MemoryAccess right)
    {
        if (region is null || (region.Access & right) == 0) return null;
        if (offset > region.Length || length > region.Length - offset) return null;
        return region.Address + offset;
    }

    /// <summary>True when a local region exists, holds the buffer and, for a request that writes it, allows local writes.</summary>
    private static bool LocalUsable(MemoryRegion? local, ulong address, uint length, bool writes)
        => local is not null && local.Contains(address, length) && (!writes || (local.Access & MemoryAccess.LocalWrite) != 0);

    // Consumes one posted receive of this (the receiving) queue pair. Waits up to the RNR timeout for one to be posted.
    private CompletionStatus Deliver(byte* source, uint length, uint immediate, bool hasImmediate, WorkOpcode opcode, int rnrTimeoutMs)
    {
        ReceiveRequest rr;
        lock (_receiveGate)
        {
            if (_receiveCount == 0)
            {
                long deadline = Environment.TickCount64 + rnrTimeoutMs;
                while (_receiveCount == 0 && _state != QueuePairState.Closed)
                {
                    long left = deadline - Environment.TickCount64;
                    if (left <= 0) return CompletionStatus.ReceiverNotReady;
                    Monitor.Wait(_receiveGate, (int)Math.Min(left, 20));
                }
                if (_state == QueuePairState.Closed) return CompletionStatus.PeerGone;
            }
            rr = _receives[_receiveHead];
            _receiveHead = (_receiveHead + 1) % _receives.Length;
            _receiveCount--;
        }

        CompletionStatus receiverStatus = CompletionStatus.Success;
        CompletionStatus senderStatus = CompletionStatus.Success;
        if (length > rr.Length)
        {
            receiverStatus = CompletionStatus.LocalLengthError;
            senderStatus = CompletionStatus.RemoteInvalidRequest;
        }
        else if (length > 0)
        {
            var region = _domain.FindLocal(rr.LocalKey);
            if (region is null || !region.Contains(rr.LocalAddress, length) || (region.Access & MemoryAccess.LocalWrite) == 0)
            {
                receiverStatus = CompletionStatus.LocalProtectionError;
                senderStatus = CompletionStatus.RemoteInvalidRequest;
            }
            else
            {
                Buffer.MemoryCopy(source, (byte*)rr.LocalAddress, rr.Length, length);
            }
        }
        ReceiveQueue.Push(new Completion
        {
            Id = rr.Id,
            Opcode = opcode == WorkOpcode.WriteWithImmediate ? WorkOpcode.WriteWithImmediate : WorkOpcode.Receive,
            Status = receiverStatus,
            ByteLength = receiverStatus == CompletionStatus.Success ? length : 0,
            Immediate = immediate,
            HasImmediate = hasImmediate,
            QueuePairNumber = Number,
        });
        if (receiverStatus != CompletionStatus.Success) _state = QueuePairState.Error;
        else InlineReceiver?.Received(); // a receiver emulated inline acts on the delivering thread, as NIC work does
        return senderStatus;
    }

    public override void Dispose()
    {
        lock (_receiveGate)
        {
            if (_state == QueuePairState.Closed) return;
            _state = QueuePairState.Closed;
            // Pending receives are flushed with an error completion, as when a verbs QP is destroyed in the error state.
            while (_receiveCount > 0)
            {
                var rr = _receives[_receiveHead];
                _receiveHead = (_receiveHead + 1) % _receives.Length;
                _receiveCount--;
                ReceiveQueue.Push(new Completion { Id = rr.Id, Opcode = WorkOpcode.Receive, Status = CompletionStatus.Flushed, QueuePairNumber = Number });
            }
            Monitor.PulseAll(_receiveGate);
        }
    }
}

/// <summary>A receiver emulated inline: acts on each delivered message on the sender's thread.</summary>
internal interface IInlineReceiver
{
    /// <summary>A receive completion was just queued on the receiver's queue pair.</summary>
    void Received();
}
