namespace Scalio.Verbs;

/// <summary>State of a queue pair.</summary>
public enum QueuePairState
{
    /// <summary>Created, not connected.</summary>
    Reset,
    /// <summary>Connected and usable.</summary>
    ReadyToSend,
    /// <summary>An error completion moved the queue pair here: further requests are flushed.</summary>
    Error,
    /// <summary>Destroyed.</summary>
    Closed,
}

/// <summary>
/// A reliable-connected queue pair. Requests posted to one queue pair execute in order; a chain posted with one
/// call rings the doorbell once. An error completion moves the queue pair to <see cref="QueuePairState.Error"/>,
/// after which requests complete as <see cref="CompletionStatus.Flushed"/>, as on RDMA NICs.
/// </summary>
public abstract class QueuePair : IDisposable
{
    private static int s_nextNumber;

    /// <summary>Creates a queue pair bound to a domain and its completion queues.</summary>
    protected QueuePair(ProtectionDomain domain, CompletionQueue sendQueue, CompletionQueue receiveQueue)
    {
        Domain = domain;
        SendQueue = sendQueue;
        ReceiveQueue = receiveQueue;
        Number = (uint)Interlocked.Increment(ref s_nextNumber);
    }

    /// <summary>Queue pair number, unique in the process.</summary>
    public uint Number { get; }

    /// <summary>The domain whose regions local buffers must lie in.</summary>
    public ProtectionDomain Domain { get; }

    /// <summary>Completion queue for send-queue requests.</summary>
    public CompletionQueue SendQueue { get; }

    /// <summary>Completion queue for receives.</summary>
    public CompletionQueue ReceiveQueue { get; }

    /// <summary>Current state.</summary>
    public abstract QueuePairState State { get; }

    /// <summary>True when this queue pair's send work requests complete in the order they were posted (an RDMA RC queue
    /// pair's guarantee): a signaled request's completion then means every earlier request of the queue completed, so a
    /// chain needs only its last request signaled. An unsignaled request that fails still reports its completion.</summary>
    public virtual bool CompletesInOrder => false;

    /// <summary>Posts one request.</summary>
    public abstract void PostSend(in WorkRequest request);

    /// <summary>Posts a chain of requests with one doorbell; they execute in order.</summary>
    public abstract void PostSend(ReadOnlySpan<WorkRequest> chain);

    /// <summary>Posts a receive buffer.</summary>
    /// <exception cref="InvalidOperationException">The receive queue is full.</exception>
    public abstract void PostReceive(in ReceiveRequest request);

    /// <summary>True when atomics executed by this fabric are atomic with respect to CPU atomics on the same memory
    /// (true for the loopback provider; false for real RDMA NICs, where the owner must use fabric atomics).</summary>
    public abstract bool AtomicsCoherentWithCpu { get; }

    /// <summary>Disconnects and releases the queue pair; pending receives are flushed.</summary>
    public abstract void Dispose();

    /// <summary>
    /// Reports a finished send-queue request as verbs do: errors always, successes only when the request was signaled
    /// (or <paramref name="signalAll"/> is set). Providers call this once per request, in posting order.
    /// </summary>
    protected void CompleteSend(in WorkRequest request, CompletionStatus status, uint bytes, bool signalAll)
    {
        if (status != CompletionStatus.Success || (request.Flags & WorkFlags.Signaled) != 0 || signalAll)
        {
            SendQueue.Push(new Completion
            {
                Id = request.Id,
                Opcode = request.Opcode,
                Status = status,
                ByteLength = status == CompletionStatus.Success ? bytes : 0,
                QueuePairNumber = Number,
            });
        }
    }
}
