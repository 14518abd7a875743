using System.Runtime.CompilerServices;

namespace Scalio.Nvme.Tcp;

// The I/O queue's commands: Read, Write (in-capsule or on R2T) and Flush.
public sealed partial class NvmeTcpInitiator
{
    /// <summary>Reads <paramref name="blocks"/> blocks at <paramref name="slba"/> into <paramref name="destination"/>.</summary>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="slba">Starting LBA.</param>
    /// <param name="blocks">Number of blocks, 1..65536.</param>
    /// <param name="destination">At least blocks × LBA size bytes; must stay valid until the task completes.</param>
    /// <param name="cancellationToken">Cancels waiting for a command slot (not a command in flight).</param>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadAsync(uint nsid, ulong slba, int blocks, Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        int length = await TransferLengthAsync(nsid, blocks, destination.Length, cancellationToken).ConfigureAwait(false);
        NvmeTcpHostQueue io = Io;
        NvmeTcpHostQueue.CommandSlot slot = await io.RentAsync(cancellationToken).ConfigureAwait(false);
        NvmeTcpWire.WriteTransportRead(slot.Sqe, slot.Cid, nsid, slba, blocks, length);
        slot.ReadDestination = destination.Slice(0, length);
        NvmeCompletion cqe = await io.SubmitAsync(slot, default).ConfigureAwait(false);
        if (!cqe.Status.IsSuccess)
        {
            ThrowCommand("Read", nsid, slba, blocks, cqe);
        }
    }

    /// <summary>Writes <paramref name="blocks"/> blocks at <paramref name="slba"/> from <paramref name="source"/>: in-capsule when it fits the controller's in-capsule size, otherwise on R2T.</summary>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="slba">Starting LBA.</param>
    /// <param name="blocks">Number of blocks, 1..65536.</param>
    /// <param name="source">At least blocks × LBA size bytes; must stay valid until the task completes.</param>
    /// <param name="cancellationToken">Cancels waiting for a command slot (not a command in flight).</param>
    public ValueTask WriteAsync(uint nsid, ulong slba, int blocks, ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) =>
        WriteAsync(nsid, slba, blocks, source, false, cancellationToken);

    /// <summary>Writes like <see cref="WriteAsync(uint, ulong, int, ReadOnlyMemory{byte}, CancellationToken)"/>, optionally with Force Unit Access.</summary>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="slba">Starting LBA.</param>
    /// <param name="blocks">Number of blocks, 1..65536.</param>
    /// <param name="source">At least blocks × LBA size bytes; must stay valid until the task completes.</param>
    /// <param name="forceUnitAccess">Set FUA: the data is durable when the command completes.</param>
    /// <param name="cancellationToken">Cancels waiting for a command slot (not a command in flight).</param>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(uint nsid, ulong slba, int blocks, ReadOnlyMemory<byte> source, bool forceUnitAccess, CancellationToken cancellationToken = default)
    {
        int length = await TransferLengthAsync(nsid, blocks, source.Length, cancellationToken).ConfigureAwait(false);
        NvmeTcpHostQueue io = Io;
        NvmeTcpHostQueue.CommandSlot slot = await io.RentAsync(cancellationToken).ConfigureAwait(false);
        bool inCapsule = length <= io.InCapsuleLimit;
        new NvmeWriteCommand
        {
            CommandId = slot.Cid,
            Flags = NvmeTcpWire.PsdtSgl,
            Nsid = nsid,
            SglIdentifier = inCapsule ? NvmeTcpWire.SglInCapsule : NvmeTcpWire.SglTransport,
            SglLength = (uint)length,
            StartingLba = slba,
            BlockCountZeroBased = (ushort)(blocks - 1),
            ForceUnitAccess = forceUnitAccess,
        }.WriteTo(slot.Sqe);
        slot.InCapsuleWrite = inCapsule;
        if (!inCapsule)
        {
            slot.WriteSource = source.Slice(0, length);
        }

        NvmeCompletion cqe = await io.SubmitAsync(slot, inCapsule ? source.Span.Slice(0, length) : default).ConfigureAwait(false);
        if (!cqe.Status.IsSuccess)
        {
            ThrowCommand("Write", nsid, slba, blocks, cqe);
        }
    }

    /// <summary>Flushes the namespace's volatile write cache (FFFFFFFFh = all namespaces).</summary>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="cancellationToken">Cancels waiting for a command slot.</param>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask FlushAsync(uint nsid, CancellationToken cancellationToken = default)
    {
        NvmeTcpHostQueue io = Io;
        NvmeTcpHostQueue.CommandSlot slot = await io.RentAsync(cancellationToken).ConfigureAwait(false);
        new NvmeFlushCommand { CommandId = slot.Cid, Flags = NvmeTcpWire.PsdtSgl, Nsid = nsid }.WriteTo(slot.Sqe);
        NvmeCompletion cqe = await io.SubmitAsync(slot, default).ConfigureAwait(false);
        if (!cqe.Status.IsSuccess)
        {
            ThrowCommand("Flush", nsid, 0, 0, cqe);
        }
    }

    private NvmeTcpHostQueue Io
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return _io ?? throw new InvalidOperationException("The I/O queue is not connected.");
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> TransferLengthAsync(uint nsid, int blocks, int bufferLength, CancellationToken cancellationToken)
    {
        if (blocks is < 1 or > 65536)
        {
            throw new ArgumentOutOfRangeException(nameof(blocks), blocks, "An NVMe Read/Write moves 1..65536 blocks.");
        }

        int shift;
        bool known;
        lock (_lbaShift)
        {
            known = _lbaShift.TryGetValue(nsid, out shift);
        }

        if (!known)
        {
            IdentifyNamespaceSummary ns = await IdentifyNamespaceAsync(nsid, cancellationToken).ConfigureAwait(false);
            shift = System.Numerics.BitOperations.Log2((uint)ns.LbaSize);
        }

        long length = (long)blocks << shift;
        if (length > MaxTransferBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(blocks), blocks, $"{length} bytes exceed the controller's maximum transfer of {MaxTransferBytes} bytes (MDTS).");
        }

        if (bufferLength < length)
        {
            throw new ArgumentException($"{blocks} blocks of {1 << shift} B need {length} bytes; the buffer has {bufferLength}.", nameof(blocks));
        }

        return (int)length;
    }

    private static void ThrowCommand(string op, uint nsid, ulong slba, int blocks, in NvmeCompletion cqe) =>
        throw new NvmeCommandException(blocks == 0 ? $"{op} nsid {nsid}" : $"{op} nsid {nsid} slba {slba} blocks {blocks}", cqe.Status, cqe.Dw0);
}
