using System.Runtime.InteropServices;

namespace Scalio.Verbs;

/// <summary>Operation carried by a <see cref="WorkRequest"/>, as in ibverbs' <c>ibv_wr_opcode</c>.</summary>
public enum WorkOpcode : byte
{
    /// <summary>One-sided read of remote memory into a local buffer.</summary>
    Read = 0,
    /// <summary>One-sided write of a local buffer into remote memory.</summary>
    Write = 1,
    /// <summary>One-sided write that also consumes a receive at the peer and delivers <see cref="WorkRequest.Immediate"/>.</summary>
    WriteWithImmediate = 2,
    /// <summary>Atomic compare-and-swap on an aligned remote 8-byte word; the old value lands in the local buffer.</summary>
    CompareSwap = 3,
    /// <summary>Atomic fetch-and-add on an aligned remote 8-byte word; the old value lands in the local buffer.</summary>
    FetchAdd = 4,
    /// <summary>Two-sided send: consumes a receive posted by the peer.</summary>
    Send = 5,
    /// <summary>Two-sided send with 32 bits of immediate data.</summary>
    SendWithImmediate = 6,
    /// <summary>Completion of a posted receive (appears only in <see cref="Completion.Opcode"/>).</summary>
    Receive = 7,
}

/// <summary>Per-request flags.</summary>
[Flags]
public enum WorkFlags : byte
{
    /// <summary>No flags: the request completes silently on success (errors always complete).</summary>
    None = 0,
    /// <summary>Generate a completion on success.</summary>
    Signaled = 1,
    /// <summary>Wait for all earlier READ and atomic requests on the queue pair before starting.</summary>
    Fence = 2,
    /// <summary>Ordered against no other request of the queue pair: it may start before earlier requests complete and
    /// later ones do not wait for it (the poster orders by waiting for completions itself, or needs no order, as for an
    /// access stamp). Providers that execute in order ignore it; an unsignaled WRITE of a few bytes may then be sent
    /// inline with no completion at all (libfabric fi_inject_write), its failure showing on later requests.</summary>
    Unordered = 4,
}

/// <summary>
/// A send-queue work request: an unmanaged struct built on the stack or in a preallocated array and posted
/// without allocation. Remote addresses are byte offsets into the memory region named by <see cref="RemoteKey"/>
/// (libfabric's offset addressing); local addresses are absolute pointers inside a region registered locally.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct WorkRequest
{
    /// <summary>Caller's identifier, returned in the completion.</summary>
    public ulong Id;
    /// <summary>Absolute address of the local buffer (inside a region registered with <see cref="LocalKey"/>).</summary>
    public ulong LocalAddress;
    /// <summary>Offset into the remote region.</summary>
    public ulong RemoteOffset;
    /// <summary>Compare operand (CAS) or addend (fetch-add).</summary>
    public ulong CompareAdd;
    /// <summary>Swap operand (CAS).</summary>
    public ulong Swap;
    /// <summary>Length of the local buffer in bytes (8 for atomics).</summary>
    public uint Length;
    /// <summary>Local key of the region that holds <see cref="LocalAddress"/>.</summary>
    public uint LocalKey;
    /// <summary>Remote key of the target region.</summary>
    public uint RemoteKey;
    /// <summary>Immediate data for the *WithImmediate opcodes.</summary>
    public uint Immediate;
    /// <summary>The operation.</summary>
    public WorkOpcode Opcode;
    /// <summary>Flags.</summary>
    public WorkFlags Flags;

    /// <summary>Builds a one-sided READ of <paramref name="length"/> bytes at <paramref name="remoteOffset"/>.</summary>
    public static WorkRequest Read(ulong id, ulong localAddress, uint length, uint localKey, ulong remoteOffset, uint remoteKey, WorkFlags flags = WorkFlags.Signaled)
        => new() { Id = id, Opcode = WorkOpcode.Read, LocalAddress = localAddress, Length = length, LocalKey = localKey, RemoteOffset = remoteOffset, RemoteKey = remoteKey, Flags = flags };

    /// <summary>Builds a one-sided WRITE of <paramref name="length"/> bytes to <paramref name="remoteOffset"/>.</summary>
    public static WorkRequest Write(ulong id, ulong localAddress, uint length, uint localKey, ulong remoteOffset, uint remoteKey, WorkFlags flags = WorkFlags.Signaled)
        => new() { Id = id, Opcode = WorkOpcode.Write, LocalAddress = localAddress, Length = length, LocalKey = localKey, RemoteOffset = remoteOffset, RemoteKey = remoteKey, Flags = flags };

    /// <summary>Builds an 8-byte compare-and-swap; the previous remote value is written to <paramref name="localAddress"/>.</summary>
    public static WorkRequest CompareSwap(ulong id, ulong localAddress, uint localKey, ulong remoteOffset, uint remoteKey, ulong expected, ulong desired, WorkFlags flags = WorkFlags.Signaled)
        => new() { Id = id, Opcode = WorkOpcode.CompareSwap, LocalAddress = localAddress, Length = 8, LocalKey = localKey, RemoteOffset = remoteOffset, RemoteKey = remoteKey, CompareAdd = expected, Swap = desired, Flags = flags };

    /// <summary>Builds an 8-byte fetch-and-add; the previous remote value is written to <paramref name="localAddress"/>.</summary>
    public static WorkRequest FetchAdd(ulong id, ulong localAddress, uint localKey, ulong remoteOffset, uint remoteKey, ulong addend, WorkFlags flags = WorkFlags.Signaled)
        => new() { Id = id, Opcode = WorkOpcode.FetchAdd, LocalAddress = localAddress, Length = 8, LocalKey = localKey, RemoteOffset = remoteOffset, RemoteKey = remoteKey, CompareAdd = addend, Flags = flags };

    /// <summary>Builds a two-sided SEND of <paramref name="length"/> bytes.</summary>
    public static WorkRequest Send(ulong id, ulong localAddress, uint length, uint localKey, WorkFlags flags = WorkFlags.Signaled)
        => new() { Id = id, Opcode = WorkOpcode.Send, LocalAddress = localAddress, Length = length, LocalKey = localKey, Flags = flags };
}

/// <summary>A receive-queue work request: a local buffer that one incoming SEND (or WRITE with immediate) consumes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ReceiveRequest
{
    /// <summary>Caller's identifier, returned in the completion.</summary>
    public ulong Id;
    /// <summary>Absolute address of the local buffer.</summary>
    public ulong LocalAddress;
    /// <summary>Capacity of the buffer in bytes.</summary>
    public uint Length;
    /// <summary>Local key of the region that holds the buffer.</summary>
    public uint LocalKey;

    /// <summary>Creates a receive request.</summary>
    public ReceiveRequest(ulong id, ulong localAddress, uint length, uint localKey)
    {
        Id = id; LocalAddress = localAddress; Length = length; LocalKey = localKey;
    }
}

/// <summary>Status of a completion, as in ibverbs' <c>ibv_wc_status</c> (subset).</summary>
public enum CompletionStatus : byte
{
    /// <summary>The request completed.</summary>
    Success = 0,
    /// <summary>The local buffer is not inside a region registered with the given local key, or lacks local write access.</summary>
    LocalProtectionError,
    /// <summary>A receive buffer was too small for the incoming message.</summary>
    LocalLengthError,
    /// <summary>The remote key is unknown, the access is out of the region's bounds, or the region lacks the access right.</summary>
    RemoteAccessError,
    /// <summary>The request is malformed for the remote side (e.g. a misaligned atomic).</summary>
    RemoteInvalidRequest,
    /// <summary>The peer had no receive posted (receiver not ready) and retries were exhausted.</summary>
    ReceiverNotReady,
    /// <summary>The queue pair was in the error state: the request was flushed without executing.</summary>
    Flushed,
    /// <summary>The peer is gone (disconnected or destroyed).</summary>
    PeerGone,
}

/// <summary>A completion entry polled from a <see cref="CompletionQueue"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Completion
{
    /// <summary>The <see cref="WorkRequest.Id"/> or <see cref="ReceiveRequest.Id"/> of the request.</summary>
    public ulong Id;
    /// <summary>Bytes transferred (receives: bytes received).</summary>
    public uint ByteLength;
    /// <summary>Immediate data delivered with a receive.</summary>
    public uint Immediate;
    /// <summary>Number of the queue pair the request belongs to.</summary>
    public uint QueuePairNumber;
    /// <summary>Outcome.</summary>
    public CompletionStatus Status;
    /// <summary>Operation that completed.</summary>
    public WorkOpcode Opcode;
    /// <summary>True when the receive carried immediate data.</summary>
    public bool HasImmediate;

    /// <summary>True when <see cref="Status"/> is <see cref="CompletionStatus.Success"/>.</summary>
    public readonly bool IsSuccess => Status == CompletionStatus.Success;
}
