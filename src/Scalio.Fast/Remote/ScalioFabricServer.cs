using System.Net;
using System.Net.Sockets;
using Scalio.Fast.OffloadTcp;
using Scalio.Fast.Server;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;
using Scalio.Offload;

namespace Scalio.Fast.Remote;

/// <summary>What <see cref="ScalioFabricServer.Start"/> builds: the store, where it listens and where its misses are read.</summary>
public sealed class ScalioFabricServerOptions
{
    /// <summary>Side-channel address clients connect to (port 0 picks a free one).</summary>
    public IPEndPoint Listen { get; init; } = new(IPAddress.Loopback, 0);

    /// <summary>The store (its <see cref="ScalioStoreOptions.ServerDomain"/> must be null: the server sets it to its libfabric domain).</summary>
    public ScalioStoreOptions Store { get; init; } = new();

    /// <summary>Address of the in-process emulated NIC (the NVMe/TCP offload target on the store's own devices); null:
    /// the <see cref="Listen"/> address on a free port. Ignored with <see cref="ExternalOffloadTarget"/>.</summary>
    public IPEndPoint? NicListen { get; init; }

    /// <summary>An external offload target (<c>scalio target</c>) serving the store's data directory, told to clients
    /// instead of starting the emulated NIC; null: the emulated NIC.</summary>
    public OffloadTargetEndpoint? ExternalOffloadTarget { get; init; }

    /// <summary>Subsystem NQN of the emulated NIC.</summary>
    public string SubsystemNqn { get; init; } = NvmeTcpOffloadReadPath.DefaultSubsystemNqn;

    /// <summary>Admission tokens and connection limits.</summary>
    public ServerListenOptions? ListenOptions { get; init; }

    /// <summary>Called once per refused client (admission, limits, bad handshakes) with its address and the reason; set
    /// before the server listens, so no refusal is missed.</summary>
    public Action<EndPoint?, string>? ClientRefused { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option that does not make sense.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Listen, nameof(Listen));
        ArgumentNullException.ThrowIfNull(Store, nameof(Store));
        if (Store.ServerDomain is not null) throw new ArgumentException("Store.ServerDomain must be null: the server opens its own libfabric domain", nameof(Store));
        if (ExternalOffloadTarget is not null && NicListen is not null)
            throw new ArgumentException("NicListen places the in-process emulated NIC and ExternalOffloadTarget replaces it: give one of them", nameof(NicListen));
        var nic = NicListen?.Address ?? Listen.Address;
        if (ExternalOffloadTarget is null && IsWildcard(nic))
            throw new ArgumentException("the emulated NIC needs an address clients can reach, not a wildcard: set NicListen (or ExternalOffloadTarget)", nameof(NicListen));
        ArgumentException.ThrowIfNullOrEmpty(SubsystemNqn, nameof(SubsystemNqn));
        ListenOptions?.Validate();
    }

    internal static bool IsWildcard(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);
}

/// <summary>
/// A Scalio server for clients of other processes (<see cref="RemoteScalioStore"/>): the libfabric fabric (tcp;ofi_rxm),
/// the store on its domain, the emulated NIC (an NVMe/TCP offload target on the store's devices, a MODEL of the DPU's
/// NVMe-oF target offload) or an external target, and the side channel listening. <c>scalio server --fabric tcp</c>
/// and <c>AddScalioServer</c> both run this. <see cref="Dispose"/> stops accepting, stops the NIC, commits the
/// queued batches (their writers get their replies), checkpoints and closes the devices, then the fabric.
/// </summary>
public sealed class ScalioFabricServer : IDisposable
{
    private readonly LibfabricFabric _fabric;
    private bool _disposed;

    private ScalioFabricServer(LibfabricFabric fabric, ScalioStore store, StoreOffloadTarget? nic, IPEndPoint endPoint, OffloadTargetEndpoint offloadTarget)
    {
        _fabric = fabric;
        Store = store;
        Nic = nic;
        EndPoint = endPoint;
        OffloadTarget = offloadTarget;
    }

    /// <summary>
    /// Opens the fabric and the store (recovering a data directory), starts the emulated NIC unless an external target
    /// is named, and listens. On failure everything opened so far is closed again.
    /// </summary>
    /// <exception cref="ArgumentException">The options do not make sense.</exception>
    /// <exception cref="LibfabricException">libfabric cannot be opened (e.g. <see cref="LibfabricUnavailableException"/>).</exception>
    /// <exception cref="IOException">The store's files cannot be opened, or an address cannot be bound (the message says which).</exception>
    /// <exception cref="InvalidDataException">The data directory holds files of other options or no intact store.</exception>
    public static ScalioFabricServer Start(ScalioFabricServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var listen = options.Listen;
        // Endpoints bind to the listen address (clients on other machines must reach them); a wildcard: the provider's choice.
        var fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp", Node = ScalioFabricServerOptions.IsWildcard(listen.Address) ? null : listen.Address.ToString() });
        ScalioStore? store = null;
        StoreOffloadTarget? nic = null;
        try
        {
            var domain = ((IFabric)fabric).CreateDomain(); // through the abstraction: the product never names a provider's domain type
            try
            {
                store = new ScalioStore(options.Store.WithServerDomain(domain));
            }
            catch
            {
                domain.Dispose();
                throw;
            }
            var target = options.ExternalOffloadTarget;
            if (target is null)
            {
                var nicEndPoint = options.NicListen ?? new IPEndPoint(listen.Address, 0);
                // Admitted clients only: each token's derived host NQN, as 'scalio target --auth-token-file' admits.
                var lo = options.ListenOptions;
                string[]? hosts = lo?.Token is not { } token ? null : lo.ReaderToken is not { } reader ? [token.OffloadHostNqn] : [token.OffloadHostNqn, reader.OffloadHostNqn];
                try
                {
                    nic = StoreOffloadTarget.Serve(store, new StoreOffloadTargetOptions { Endpoint = nicEndPoint, SubsystemNqn = options.SubsystemNqn, AllowedHosts = hosts });
                }
                catch (SocketException e)
                {
                    throw new IOException($"the emulated NIC cannot listen on {nicEndPoint}: {e.Message}", e);
                }
                target = new OffloadTargetEndpoint(nic.Endpoint.Address.ToString(), nic.Endpoint.Port, nic.SubsystemNqn);
            }
            if (options.ClientRefused is { } refused) store.Server.RemoteClientRefused += refused;
            IPEndPoint bound;
            try
            {
                bound = store.Server.Listen(listen, target, options.ListenOptions);
            }
            catch (SocketException e)
            {
                throw new IOException($"cannot listen on {listen}: {e.Message}", e);
            }
            return new ScalioFabricServer(fabric, store, nic, bound, target);
        }
        catch
        {
            nic?.Dispose();
            store?.Dispose();
            fabric.Dispose();
            throw;
        }
    }

    /// <summary>The store (its server is <see cref="ScalioStore.Server"/>; it has no in-process clients).</summary>
    public ScalioStore Store { get; }

    /// <summary>The emulated NIC; null when <see cref="ScalioFabricServerOptions.ExternalOffloadTarget"/> serves the misses.</summary>
    public StoreOffloadTarget? Nic { get; }

    /// <summary>The bound side-channel address clients connect to.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The offload target clients are told to read the SSDs through.</summary>
    public OffloadTargetEndpoint OffloadTarget { get; }

    /// <summary>Stops accepting and the NIC, commits queued batches, checkpoints, closes the devices and the fabric.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Nic?.Dispose(); // the NIC reads the devices the store closes
        Store.Dispose();
        _fabric.Dispose();
    }
}
