using System.Net;
using System.Net.Sockets;
using Scalio.Fast.Client;
using Scalio.Fast.Server;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;
using Scalio.Nvme.Tcp;
using Scalio.Offload;

namespace Scalio.Fast.Remote;

/// <summary>Options of a <see cref="RemoteScalioStore"/>.</summary>
public sealed class RemoteStoreOptions
{
    /// <summary>
    /// libfabric options; null (default): provider <c>tcp</c> (tcp;ofi_rxm, which the server runs too), endpoints bound
    /// to the local address the OS routes to the server (127.0.0.1 for a server on loopback), so the server can reach them.
    /// </summary>
    public LibfabricOptions? Fabric { get; init; }

    /// <summary>Client options of every session.</summary>
    public ScalioClientOptions? Client { get; init; }

    /// <summary>
    /// Opens a session's miss path from the server's descriptor; null: NVMe/TCP
    /// (<see cref="NvmeTcpOffloadReadPath"/>) to the offload target the descriptor names.
    /// </summary>
    public Func<ServerDescriptor, IOffloadReadPath>? ReadPath { get; init; }

    /// <summary>Options of the default NVMe/TCP read path.</summary>
    public NvmeTcpOffloadReadPathOptions? NvmeTcp { get; init; }

    /// <summary>
    /// Token proving this client to a server started with one (<c>scalio server --auth-token-file</c>): an HMAC
    /// challenge–response on the side channel, the secret never sent. Null: no token (a server that requires one
    /// refuses the client with <see cref="BootstrapRefusedException"/>). With a token, the server must prove it holds
    /// the same one, and the default NVMe/TCP read path connects to the offload target as the host NQN derived from it
    /// (<see cref="AuthToken.OffloadHostNqn"/>) unless <see cref="NvmeTcp"/> names one.
    /// </summary>
    public AuthToken? AuthToken { get; init; }

    /// <summary>Longest one connection attempt (side channel and hello) may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a session keeps trying to reconnect (with backoff) before an operation gives up with
    /// <see cref="OpStatus.Unavailable"/>; the next operation tries again.</summary>
    public TimeSpan ReconnectTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>First wait between reconnection attempts; doubled after each failure up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Longest wait between reconnection attempts.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Throws a clear error when the options do not make sense.</summary>
    public void Validate()
    {
        if (ConnectTimeout <= TimeSpan.Zero || ConnectTimeout > TimeSpan.FromMinutes(5)) throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), "connect timeout must be in (0, 5 min]");
        if (ReconnectTimeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ReconnectTimeout), "reconnect timeout must not be negative");
        if (InitialBackoff <= TimeSpan.Zero || MaxBackoff < InitialBackoff) throw new ArgumentOutOfRangeException(nameof(MaxBackoff), "backoffs must be positive, the maximum at least the initial one");
    }
}

/// <summary>
/// A Scalio store served by a server in another process (or on another machine) over libfabric: the connector and
/// the factory of client sessions. Each session (<see cref="OpenClient"/>, one per thread) has its own libfabric
/// domain, queue pair and side channel to the server, and its own NVMe/TCP connection to the offload target for the
/// miss path; when the server goes away a session reports <see cref="OpStatus.Unavailable"/> and reconnects with
/// bounded backoff on its next operation.
/// </summary>
public sealed class RemoteScalioStore : IDisposable
{
    private readonly LibfabricFabric _fabric;
    private readonly List<RemoteScalioClient> _clients = [];
    private readonly List<ScalioAsyncClient> _asyncClients = [];
    private ServerDescriptor _descriptor;
    private long _reconnects;
    private bool _disposed;

    private RemoteScalioStore(IPEndPoint server, RemoteStoreOptions options, LibfabricFabric fabric, ServerDescriptor descriptor)
    {
        Server = server;
        Options = options;
        _fabric = fabric;
        _descriptor = descriptor;
    }

    // A client waits for every one-sided operation it posts and drives the provider meanwhile: its progress thread then
    // polls once per millisecond instead of taking a core from the server (measured: docs/remote.md, must-show 4).
    private const int ClientStepBackMicroseconds = 1000;

    /// <summary>
    /// Opens the fabric and makes one connection to check that the server answers (its descriptor is kept in
    /// <see cref="Descriptor"/>); throws <see cref="LibfabricUnavailableException"/> when libfabric cannot be loaded,
    /// <see cref="IOException"/> (with the reason inside) when the server cannot be reached, <see cref="InvalidDataException"/>
    /// when it answers with something that is not a Scalio server, <see cref="BootstrapRefusedException"/> (never retried)
    /// when it refuses this client's token or the absence of one.
    /// </summary>
    public static RemoteScalioStore Connect(IPEndPoint server, RemoteStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        options ??= new RemoteStoreOptions();
        options.Validate();
        var fabric = LibfabricFabric.Open(options.Fabric ?? new LibfabricOptions { Provider = "tcp", Node = LocalAddressTowards(server.Address), CallerStepBackMicroseconds = ClientStepBackMicroseconds });
        try
        {
            var store = new RemoteScalioStore(server, options, fabric, null!);
            var first = store.OpenSession(); // proves the server answers and its descriptor decodes
            store._descriptor = first.Client.Descriptor;
            store.Role = first.Link.Role;
            first.Dispose();
            return store;
        }
        catch
        {
            fabric.Dispose();
            throw;
        }
    }

    /// <summary>The local address the OS would use to reach <paramref name="server"/> (a UDP connect sends nothing).</summary>
    internal static string LocalAddressTowards(IPAddress server)
    {
        if (IPAddress.IsLoopback(server)) return server.AddressFamily == AddressFamily.InterNetworkV6 ? "::1" : "127.0.0.1";
        using var probe = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        probe.Connect(server, 9);
        return ((IPEndPoint)probe.LocalEndPoint!).Address.ToString();
    }

    /// <summary>What the server admitted this client as: <see cref="BootstrapRole.Reader"/> (its token is the server's
    /// reader token: PUT and DELETE return <see cref="OpStatus.Forbidden"/>) or <see cref="BootstrapRole.Writer"/>.</summary>
    public BootstrapRole Role { get; private set; } = BootstrapRole.Writer;

    /// <summary>The server's side-channel address.</summary>
    public IPEndPoint Server { get; }

    /// <summary>The options.</summary>
    public RemoteStoreOptions Options { get; }

    /// <summary>The descriptor of the latest connection (clock in this process's terms).</summary>
    public ServerDescriptor Descriptor => Volatile.Read(ref _descriptor);

    /// <summary>Sessions re-established after their server connection was lost.</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);

    /// <summary>Opens a client session (one per thread); it connects now and reconnects on its own after failures.</summary>
    public RemoteScalioClient OpenClient()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var client = new RemoteScalioClient(this, OpenSession());
        lock (_clients) _clients.Add(client);
        return client;
    }

    /// <summary>
    /// Opens a thread-safe asynchronous client (<see cref="ScalioAsyncClient"/>) over one session of this store, driven
    /// by its own pump thread and shared by any number of callers. The session reconnects as <see cref="RemoteScalioClient"/>
    /// does; while it cannot, operations complete with <see cref="OpStatus.Unavailable"/>. Timeouts are
    /// <see cref="RemoteStoreOptions.Client"/>'s. Dispose it when done.
    /// </summary>
    /// <param name="options">Batching, idle spin and pooling of the async client; null: defaults.</param>
    public ScalioAsyncClient OpenAsyncClient(ScalioAsyncClientOptions? options = null)
    {
        options ??= new ScalioAsyncClientOptions();
        options.Validate();
        var client = new ScalioAsyncClient(new RemoteAsyncBackend(OpenClient(), Descriptor.Layout), options);
        lock (_clients) _asyncClients.Add(client);
        return client;
    }

    /// <summary>Sums the counters of every session (closed ones included).</summary>
    public ClientCounters ReadCounters()
    {
        var c = new ClientCounters();
        lock (_clients) foreach (var cl in _clients) cl.AddCounters(ref c);
        return c;
    }

    internal void NoteReconnect() => Interlocked.Increment(ref _reconnects);

    /// <summary>One connection: domain, queue pair and side channel, descriptor, read path, client.</summary>
    internal RemoteSession OpenSession()
    {
        LibfabricConnection? link = null;
        IOffloadReadPath? readPath = null;
        try
        {
            link = _fabric.Connect(Server, new QueuePairOptions { MaxReceives = 2 },
                (int)Options.ConnectTimeout.TotalMilliseconds, Options.AuthToken);
            var descriptor = link.PeerClock is { } clock
                ? ServerDescriptor.Decode(link.Peer.Descriptor, clock)
                : ServerDescriptor.Decode(link.Peer.Descriptor, link.HelloSentTimestamp, link.ReplyReceivedTimestamp);
            readPath = Options.ReadPath is { } factory ? factory(descriptor) : OpenNvmeTcp(descriptor, NvmeTcpOptions(Options));
            var client = new ScalioClient(link.Domain, link.QueuePair, descriptor, readPath, Options.Client);
            Volatile.Write(ref _descriptor, descriptor);
            return new RemoteSession(client, link);
        }
        catch
        {
            readPath?.Dispose();
            link?.Dispose();
            throw;
        }
    }

    /// <summary>The read path's options: the host NQN derived from the token when there is a token and no NQN was given.</summary>
    private static NvmeTcpOffloadReadPathOptions? NvmeTcpOptions(RemoteStoreOptions o)
    {
        if (o.AuthToken is null || o.NvmeTcp?.HostNqn is not null) return o.NvmeTcp;
        var n = o.NvmeTcp ?? new NvmeTcpOffloadReadPathOptions();
        return new NvmeTcpOffloadReadPathOptions
        {
            HostNqn = o.AuthToken.OffloadHostNqn,
            HeaderDigest = n.HeaderDigest,
            DataDigest = n.DataDigest,
            CommandTimeout = n.CommandTimeout,
            ConnectTimeout = n.ConnectTimeout,
            KeepAliveTimeout = n.KeepAliveTimeout,
            ReconnectInterval = n.ReconnectInterval,
            Reconnect = n.Reconnect,
            QueueDepth = n.QueueDepth,
        };
    }

    private static NvmeTcpOffloadReadPath OpenNvmeTcp(ServerDescriptor descriptor, NvmeTcpOffloadReadPathOptions? options)
    {
        if (descriptor.OffloadTarget is not { } t)
            throw new InvalidOperationException("the server names no offload target (a library server: pass one to ScalioServer.Listen, e.g. StoreOffloadTarget.Serve), so misses cannot be served; " +
                "pass RemoteStoreOptions.ReadPath to read the SSDs another way");
        return NvmeTcpOffloadReadPath.Connect(t.Host, t.Port, t.SubsystemNqn, options);
    }

    /// <summary>True for the failures a reconnection may cure (server or target down, restarting, busy). A refused
    /// credential (<see cref="BootstrapRefusedException"/>) is not one: the same token would be refused again.</summary>
    internal static bool IsTransient(Exception e) => e is SocketException or IOException or TimeoutException or InvalidDataException
        or LibfabricException or ScalioException or NvmeTcpException or NvmeCommandException or OperationCanceledException;

    /// <summary>Closes every session and the fabric.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_clients)
        {
            foreach (var a in _asyncClients) a.Dispose(); // stops their pumps before their sessions go
            _asyncClients.Clear();
            foreach (var c in _clients) c.Dispose();
        }
        _fabric.Dispose();
    }
}

/// <summary>One live connection of a <see cref="RemoteScalioClient"/>.</summary>
internal sealed class RemoteSession(ScalioClient client, LibfabricConnection link) : IDisposable
{
    public ScalioClient Client { get; } = client;

    public LibfabricConnection Link { get; } = link;

    /// <summary>The batch of <see cref="RemoteScalioClient.BeginBatch"/>, made at its first use.</summary>
    public ScalioGetBatch? Batch { get; set; }

    public void Dispose()
    {
        Batch?.Dispose();
        Client.Dispose();
        Link.Dispose();
    }
}
