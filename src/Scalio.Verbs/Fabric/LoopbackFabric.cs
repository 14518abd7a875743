using System.Diagnostics;

namespace Scalio.Verbs;

/// <summary>
/// Options of the loopback provider. The loopback provider executes requests in the posting thread (the
/// "NIC" is the caller), so an injected latency is spent by the poster before the request takes effect.
/// </summary>
public sealed class LoopbackOptions
{
    /// <summary>One-way latency added to every request that crosses to the peer, in nanoseconds (0: none).</summary>
    public long LatencyNanoseconds { get; init; }

    /// <summary>How long a SEND waits for the peer to post a receive before failing with
    /// <see cref="CompletionStatus.ReceiverNotReady"/> (RNR retry), in milliseconds.</summary>
    public int ReceiverNotReadyTimeoutMilliseconds { get; init; } = 2000;

    /// <summary>Optional fault injection (tests and the checker harness only).</summary>
    public LoopbackFaults? Faults { get; init; }
}

/// <summary>
/// Faults the loopback provider can inject so that protocol tests see what real fabrics do rarely. Every hook runs
/// in the posting thread (the loopback "NIC" is the poster), so a delay in a hook slows that queue pair only and
/// reorders its effects and completions against every other queue pair. <see cref="LoopbackFaultInjector"/> is a
/// seeded implementation; tests subclass this type for targeted faults.
/// </summary>
public class LoopbackFaults
{
    /// <summary>
    /// Called before a READ copies remote memory. Return a boundary in (0, length) to split the copy there and
    /// run <see cref="BetweenTornHalves"/> between the halves (a torn read); return 0 to copy in one piece.
    /// </summary>
    /// <param name="queuePairNumber">The posting queue pair.</param>
    /// <param name="remoteKey">Remote key of the region read.</param>
    /// <param name="remoteOffset">Offset of the READ in the region.</param>
    /// <param name="length">Bytes read.</param>
    public virtual int TearReadAt(uint queuePairNumber, uint remoteKey, ulong remoteOffset, uint length) => 0;

    /// <summary>Runs between the two halves of a torn READ (e.g. sleeps, or lets a writer land in between).</summary>
    /// <param name="queuePairNumber">The posting queue pair.</param>
    public virtual void BetweenTornHalves(uint queuePairNumber) => Thread.Yield();

    /// <summary>Called before every request executes; a delay here (in the posting thread) slows that queue pair only,
    /// which reorders its effects against other queue pairs. Throwing <see cref="LoopbackCrashException"/> here
    /// simulates the death of the posting process: the request does not execute and the queue pair goes to the
    /// error state.</summary>
    /// <param name="queuePairNumber">The posting queue pair.</param>
    /// <param name="request">The request about to execute.</param>
    public virtual void BeforeExecute(uint queuePairNumber, in WorkRequest request) { }

    /// <summary>Called after a request took effect and before its completion is queued: a delay here delays the
    /// completion (the effect is already visible to everyone else).</summary>
    /// <param name="queuePairNumber">The posting queue pair.</param>
    /// <param name="request">The request that executed.</param>
    public virtual void BeforeCompletion(uint queuePairNumber, in WorkRequest request) { }
}

/// <summary>
/// The embedded, single-process fabric: memory regions live in this process, queue pairs are connected in pairs,
/// and requests execute in the posting thread with the semantics of RDMA: only aligned 8-byte atomics are atomic,
/// larger READs may observe concurrent WRITEs partially (torn), requests on one queue pair execute in order, keys,
/// bounds and access rights are checked on every access.
/// </summary>
public sealed class LoopbackFabric : IFabric
{
    /// <summary>Creates a loopback fabric.</summary>
    public LoopbackFabric(LoopbackOptions? options = null) => Options = options ?? new LoopbackOptions();

    /// <summary>The options in force.</summary>
    public LoopbackOptions Options { get; }

    /// <summary>Creates a protection domain (one per simulated node or process).</summary>
    public ProtectionDomain CreateDomain() => new LoopbackDomain(this);

    /// <summary>Connects two unconnected queue pairs of this fabric to each other.</summary>
    public static void Connect(QueuePair a, QueuePair b)
    {
        if (a is not LoopbackQueuePair la || b is not LoopbackQueuePair lb)
        {
            ThrowHelper.Argument(nameof(a), "both queue pairs must belong to a loopback fabric");
            return;
        }
        if (ReferenceEquals(la, lb)) ThrowHelper.Argument(nameof(b), "a queue pair cannot connect to itself; create a second one");
        la.ConnectTo(lb);
        lb.ConnectTo(la);
    }

    /// <summary>Creates a connected pair of queue pairs between two domains, each with its own completion queues.</summary>
    public static (QueuePair Local, QueuePair Remote) CreateConnectedPair(ProtectionDomain local, ProtectionDomain remote, QueuePairOptions? options = null)
    {
        var a = local.CreateQueuePair(local.CreateCompletionQueue(), local.CreateCompletionQueue(), options);
        var b = remote.CreateQueuePair(remote.CreateCompletionQueue(), remote.CreateCompletionQueue(), options);
        Connect(a, b);
        return (a, b);
    }

    internal static void SpinNanoseconds(long nanos)
    {
        if (nanos <= 0) return;
        long end = Stopwatch.GetTimestamp() + nanos * Stopwatch.Frequency / 1_000_000_000;
        var spin = new SpinWait();
        while (Stopwatch.GetTimestamp() < end)
        {
            if (nanos > 50_000) spin.SpinOnce(sleep1Threshold: -1); else Thread.SpinWait(20);
        }
    }
}

internal sealed class LoopbackDomain : ProtectionDomain
{
    public LoopbackDomain(LoopbackFabric fabric) => Fabric = fabric;

    public LoopbackFabric Fabric { get; }

    public override QueuePair CreateQueuePair(CompletionQueue sendQueue, CompletionQueue receiveQueue, QueuePairOptions? options = null)
        => new LoopbackQueuePair(this, sendQueue, receiveQueue, options ?? new QueuePairOptions());

    // Requests execute in the posting thread: a fabric atomic is a CPU atomic on the same word.
    public override bool CpuAtomicsCoherentWithPeers => true;

    public override (QueuePair Initiator, QueuePair Target) ConnectToSelf(IReadOnlyList<MemoryRegion> reachable)
    {
        ArgumentNullException.ThrowIfNull(reachable);
        var a = CreateQueuePair(CreateCompletionQueue(16), CreateCompletionQueue(16));
        var b = CreateQueuePair(CreateCompletionQueue(16), CreateCompletionQueue(16));
        LoopbackFabric.Connect(a, b); // a peer reaches every region of the domain by its key
        return (a, b);
    }
}
