using System.Net;
using System.Net.Sockets;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;

namespace Scalio.Fast.Server;

// Clients in other processes: the libfabric side channel (LibfabricListener) and the disconnect monitor.
public sealed partial class ScalioServer
{
    private readonly Lock _remoteGate = new();
    private readonly List<RemotePeer> _peers = [];
    private LibfabricListener? _listener;
    private ServerListenOptions _listenOptions = new();
    private CancellationTokenSource? _acceptCancel;
    private Task? _acceptLoop;
    private Thread? _monitor;
    private OffloadTargetEndpoint? _offloadTarget;
    private int _handshaking;
    private long _remoteAccepted, _remoteRefused, _remoteDisconnected, _remoteDenied, _remoteOverLimit, _forbidden;

    private sealed record RemotePeer(LibfabricConnection Link, Connection Connection);

    /// <summary>
    /// Starts accepting clients of other processes on <paramref name="endPoint"/> (a TCP side channel; port 0 picks a
    /// free port), for a server whose domain is <see cref="ProtectionDomain.ReachableFromOtherProcesses"/> (libfabric). Each client must first pass admission
    /// (the token of <paramref name="options"/>, when set); only then is its hello answered with the cache region, the
    /// location index region and the encoded <see cref="ServerDescriptor"/> (which names <paramref name="offloadTarget"/>
    /// and carries the server clock); its queue pair is then served by a worker like an in-process client's.
    /// Handshakes run concurrently, each bounded by <see cref="ServerListenOptions.HandshakeTimeout"/>. A client whose
    /// side channel closes is disconnected. Returns the bound address.
    /// </summary>
    /// <exception cref="InvalidOperationException">The server is not on libfabric, is already listening, or is stopping.</exception>
    public IPEndPoint Listen(IPEndPoint endPoint, OffloadTargetEndpoint? offloadTarget = null, ServerListenOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        options ??= new ServerListenOptions();
        options.Validate();
        if (!_domain.ReachableFromOtherProcesses)
            throw new InvalidOperationException("only a server on a fabric that reaches other processes (libfabric) accepts their clients (the loopback fabric is in-process)");
        lock (_remoteGate)
        {
            if (_stopping) throw new InvalidOperationException("the server is stopping");
            if (_listener is not null) throw new InvalidOperationException("the server is already listening");
            _offloadTarget = offloadTarget;
            _listenOptions = options;
            _listener = _domain.CreateListener(endPoint, [_cache, _store.IndexRegion], () => RemoteDescriptor().Encode(), new ListenerSettings
            {
                HelloTimeoutMilliseconds = (int)options.HandshakeTimeout.TotalMilliseconds,
                MaxHelloBytes = options.MaxHelloBytes,
                Token = options.Token,
                ReaderToken = options.ReaderToken,
            });
            _acceptCancel = new CancellationTokenSource();
            _acceptLoop = Task.Run(() => AcceptLoop(_listener, _acceptCancel.Token));
            _monitor = new Thread(MonitorPeers) { IsBackground = true, Name = "scalio-server-peers" };
            _monitor.Start();
            return _listener.LocalEndPoint;
        }
    }

    /// <summary>What a client in another process is told: <see cref="Describe"/> plus the offload target given to <see cref="Listen"/>.</summary>
    public ServerDescriptor RemoteDescriptor() => Describe() with { OffloadTarget = _offloadTarget };

    /// <summary>
    /// Raised (on a thread pool thread) once per client of another process that is refused, with its side-channel
    /// address and a one-line reason: failed admission, connection limit, oversized or malformed hello, handshake
    /// timeout. Handlers must be quick and must not throw.
    /// </summary>
    public event Action<EndPoint?, string>? RemoteClientRefused;

    /// <summary>Clients of other processes accepted so far.</summary>
    public long RemoteClientsAccepted => Interlocked.Read(ref _remoteAccepted);

    /// <summary>Clients of other processes refused for any reason (admission, limits, malformed hello, wrong provider,
    /// no handshake in time, provider errors).</summary>
    public long RemoteClientsRefused => Interlocked.Read(ref _remoteRefused);

    /// <summary>Of <see cref="RemoteClientsRefused"/>: clients that failed admission (no token or a wrong one).</summary>
    public long RemoteClientsDeniedAdmission => Interlocked.Read(ref _remoteDenied);

    /// <summary>Of <see cref="RemoteClientsRefused"/>: connections closed at accept because
    /// <see cref="ServerListenOptions.MaxConnections"/> were connected or handshaking.</summary>
    public long RemoteClientsOverLimit => Interlocked.Read(ref _remoteOverLimit);

    /// <summary>PUT and DELETE requests refused because the client was admitted as a reader.</summary>
    public long RequestsForbidden => Interlocked.Read(ref _forbidden);

    /// <summary>Clients of other processes whose side channel closed (process ended or disconnected).</summary>
    public long RemoteClientsDisconnected => Interlocked.Read(ref _remoteDisconnected);

    /// <summary>Clients of other processes connected now.</summary>
    public int RemoteClientsConnected
    {
        get
        {
            lock (_remoteGate) return _peers.Count;
        }
    }

    /// <summary>Clients of other processes whose handshake is under way now.</summary>
    public int RemoteClientsHandshaking => Volatile.Read(ref _handshaking);

    private async Task AcceptLoop(LibfabricListener listener, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(cancel).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException && cancel.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // a connection reset before we accepted it; keep accepting
            }
            bool admit;
            lock (_remoteGate)
            {
                // Connected plus handshaking: a flood of half-open handshakes counts against the same cap.
                admit = _peers.Count + _handshaking < _listenOptions.MaxConnections;
                if (admit) _handshaking++;
            }
            if (!admit)
            {
                var peer = socket.RemoteEndPoint;
                BootstrapAdmission.SendBusy(socket);
                socket.Dispose();
                Interlocked.Increment(ref _remoteOverLimit);
                Refused(peer, $"connection limit of {_listenOptions.MaxConnections} reached");
                continue;
            }
            // Each handshake on its own: a peer that stalls (slowloris) holds only its own task until its timeout.
            _ = Task.Run(() => HandshakeAsync(listener, socket, cancel), CancellationToken.None);
        }
    }

    private async Task HandshakeAsync(LibfabricListener listener, Socket socket, CancellationToken cancel)
    {
        var peer = socket.RemoteEndPoint;
        Worker? worker = null;
        try
        {
            LibfabricConnection link;
            try
            {
                link = await listener.HandshakeAsync(socket, _ =>
                {
                    lock (_remoteGate) worker = _workers[_nextWorker++ % _workers.Length]; // the worker travels with this handshake, not in a field
                    return (LibfabricQueuePair)worker.CreateQueuePair();
                }, cancel).ConfigureAwait(false);
            }
            catch (Exception) when (cancel.IsCancellationRequested)
            {
                return;
            }
            catch (BootstrapRefusedException e)
            {
                Interlocked.Increment(ref _remoteDenied);
                Refused(peer, "admission refused: " + e.Message);
                return;
            }
            catch (OperationCanceledException)
            {
                Refused(peer, $"no complete handshake within {_listenOptions.HandshakeTimeout.TotalSeconds:0.###} s");
                return;
            }
            catch (Exception e) when (e is InvalidDataException or IOException or SocketException or LibfabricException or InvalidOperationException or ObjectDisposedException)
            {
                Refused(peer, e.Message);
                return;
            }
            lock (_remoteGate)
            {
                if (_stopping)
                {
                    link.Dispose();
                    return;
                }
                var conn = worker!.AddConnected(link.QueuePair, readOnly: link.Role == BootstrapRole.Reader);
                _peers.Add(new RemotePeer(link, conn));
            }
            Interlocked.Increment(ref _remoteAccepted);
        }
        finally
        {
            lock (_remoteGate) _handshaking--;
        }
    }

    private void Refused(EndPoint? peer, string reason)
    {
        Interlocked.Increment(ref _remoteRefused);
        try
        {
            RemoteClientRefused?.Invoke(peer, reason);
        }
        catch (Exception)
        {
            // a logging handler must not take the accept path down
        }
    }

    private void MonitorPeers()
    {
        var gone = new List<RemotePeer>();
        while (!_stopping)
        {
            Thread.Sleep(50);
            lock (_remoteGate)
            {
                foreach (var p in _peers) if (!p.Link.IsPeerConnected || p.Link.QueuePair.State == QueuePairState.Error) gone.Add(p);
                foreach (var p in gone)
                {
                    _peers.Remove(p);
                    Interlocked.Increment(ref _remoteDisconnected);
                }
            }
            foreach (var p in gone)
            {
                p.Connection.Close();
                p.Link.Dispose();
            }
            gone.Clear();
        }
    }

    private void StopListening()
    {
        LibfabricListener? listener;
        lock (_remoteGate)
        {
            listener = _listener;
            _listener = null;
        }
        if (listener is null) return;
        _acceptCancel!.Cancel();
        listener.Dispose();
        try
        {
            _acceptLoop?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // the loop ends with the listener; nothing to report at shutdown
        }
        _monitor?.Join(TimeSpan.FromSeconds(5));
        _acceptCancel.Dispose();
    }

    private void DisposeRemoteConnections()
    {
        lock (_remoteGate)
        {
            foreach (var p in _peers) p.Link.Dispose();
            _peers.Clear();
        }
    }
}
