using Scalio.Nvme;

namespace Scalio.Fast.OffloadTcp;

/// <summary>
/// A write-protected view of a store device that the server keeps writing: reads go to the device, writes answer
/// Namespace is Write Protected (only the server writes the SSDs), disposing the view leaves the device open.
/// </summary>
internal sealed class ReadOnlyDeviceView(NvmeNamespace device) : NvmeNamespace(device.Nsid, device.LbaSize, device.LbaCount)
{
    /// <inheritdoc/>
    public override bool IsReadOnly => true;

    /// <inheritdoc/>
    protected override NvmeStatus ReadCore(ulong slba, int blocks, Span<byte> destination) => device.Read(slba, blocks, destination);

    /// <inheritdoc/>
    protected override NvmeStatus WriteCore(ulong slba, int blocks, ReadOnlySpan<byte> source, bool fua) => NvmeStatus.NamespaceWriteProtected;

    /// <inheritdoc/>
    protected override NvmeStatus FlushCore() => NvmeStatus.Success; // nothing of its own to make durable: the server flushes the device
}
