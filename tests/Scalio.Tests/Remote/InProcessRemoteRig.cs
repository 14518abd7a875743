using System.Net;
using Scalio.Fast;
using Scalio.Fast.OffloadTcp;
using Scalio.Fast.Server;
using Scalio.Verbs.Libfabric;

namespace Scalio.Tests.Remote;

/// <summary>
/// A store served in this process over libfabric tcp;ofi_rxm on 127.0.0.1, its files served by the NVMe/TCP offload
/// target, for tests that connect <see cref="Scalio.Fast.Remote.RemoteScalioStore"/> clients. Empty (every member null)
/// where libfabric is not installed: the tests' libfabric guard reports that.
/// </summary>
internal sealed class InProcessRemoteRig : IDisposable
{
    public InProcessRemoteRig(string name)
    {
        Directory = Path.Combine(Path.GetTempPath(), name + "-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        if (!LibfabricFabric.IsInstalled(out _)) return;
        System.IO.Directory.CreateDirectory(Directory);
        Fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp" });
        // A tiny cache (8 buckets of 8 slots) for a few hundred keys: most reads miss and go to the offload target.
        Store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, CacheBuckets = 8, DataDirectory = Directory, ServerDomain = Fabric.CreateDomain() });
        Target = StoreOffloadTarget.Open(Directory, new StoreOffloadTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), Threads = 1 });
        EndPoint = Store.Server.Listen(new IPEndPoint(IPAddress.Loopback, 0),
            new OffloadTargetEndpoint("127.0.0.1", Target.Endpoint.Port, Target.SubsystemNqn));
    }

    public string Directory { get; }

    public LibfabricFabric? Fabric { get; }

    public ScalioStore? Store { get; }

    public StoreOffloadTarget? Target { get; }

    public IPEndPoint? EndPoint { get; }

    public void Dispose()
    {
        Store?.Dispose();
        Target?.Dispose();
        Fabric?.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
