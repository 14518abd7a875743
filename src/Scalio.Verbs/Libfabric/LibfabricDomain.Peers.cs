using System.Net;

namespace Scalio.Verbs.Libfabric;

// What the domain offers its users as capabilities of any ProtectionDomain: peers in other processes, self-connection, progress thread.
public sealed partial class LibfabricDomain
{
    /// <inheritdoc />
    public override bool ReachableFromOtherProcesses => true;

    /// <inheritdoc />
    public override bool HasProgressThread => true;

    /// <inheritdoc />
    public override LibfabricListener CreateListener(IPEndPoint endPoint, IReadOnlyList<MemoryRegion> exported, Func<byte[]> descriptor, ListenerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(exported);
        ArgumentNullException.ThrowIfNull(descriptor);
        ArgumentNullException.ThrowIfNull(settings);
        var regions = new RemoteRegion[exported.Count];
        for (int i = 0; i < regions.Length; i++) regions[i] = Describe(exported[i]);
        return new LibfabricListener(this, endPoint, _ => (regions, descriptor()))
        {
            HelloTimeoutMilliseconds = settings.HelloTimeoutMilliseconds,
            MaxHelloBytes = settings.MaxHelloBytes,
            Token = settings.Token,
            ReaderToken = settings.ReaderToken,
        };
    }

    /// <summary>Two endpoints of this domain connected to each other: a compare-swap of the initiator travels through the
    /// provider like a peer's and is executed by the same code under the same lock (tcp;ofi_rxm emulates atomics).</summary>
    public override (QueuePair Initiator, QueuePair Target) ConnectToSelf(IReadOnlyList<MemoryRegion> reachable)
    {
        ArgumentNullException.ThrowIfNull(reachable);
        var regions = new RemoteRegion[reachable.Count];
        for (int i = 0; i < regions.Length; i++) regions[i] = Describe(reachable[i]);
        var target = CreateLibfabricQueuePair();
        var self = CreateLibfabricQueuePair();
        try
        {
            target.Connect(self.LocalAddress.Span, []);
            self.Connect(target.LocalAddress.Span, regions);
        }
        catch
        {
            self.Dispose();
            target.Dispose();
            throw;
        }
        return (self, target);
    }
}
