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
    private CancellationTokenSource? _acceptCancel;
    private Task? _acceptLoop;
    private Thread? _monitor;
    private Worker? _acceptWorker;
    private OffloadTargetEndpoint? _offloadTarget;
    private long _remoteAccepted, _remoteRefused, _remoteDisconnected;

    private sealed record RemotePeer(LibfabricConnection Link, Connection Connection);

    /// <summary>
    /// Starts accepting clients of other processes on <paramref name="endPoint"/> (a TCP side channel; port 0 picks a
    /// free port), for a server whose domain is a <see cref="LibfabricDomain"/>. Each client's hello is answered with
    /// the cache region, the location index region and the encoded <see cref="ServerDescriptor"/> (which names
    /// <paramref name="offloadTarget"/> and carries the server clock); its queue pair is then served by a worker like an
    /// in-process client's. A client whose side channel closes is disconnected. Returns the bound address.
    /// </summary>
    /// <exception cref="InvalidOperationException">The server is not on libfabric, is already listening, or is stopping.</exception>
    public IPEndPoint Listen(IPEndPoint endPoint, OffloadTargetEndpoint? offloadTarget = null)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (_domain is not LibfabricDomain lf)
            throw new InvalidOperationException("only a server on a libfabric domain accepts clients of other processes (the loopback fabric is in-process)");
        lock (_remoteGate)
        {
            if (_stopping) throw new InvalidOperationException("the server is stopping");
            if (_listener is not null) throw new InvalidOperationException("the server is already listening");
            _offloadTarget = offloadTarget;
            var regions = new[] { lf.Describe(_cache), lf.Describe(_store.IndexRegion) };
            _listener = new LibfabricListener(lf, endPoint, _ => (regions, RemoteDescriptor().Encode()))
            {
                QueuePairFactory = _ =>
                {
                    var worker = _workers[_nextWorker++ % _workers.Length];
                    _acceptWorker = worker;
                    return (LibfabricQueuePair)worker.CreateQueuePair();
                },
                HelloTimeoutMilliseconds = 5000,
            };
            _acceptCancel = new CancellationTokenSource();
            _acceptLoop = Task.Run(() => AcceptLoop(_listener, _acceptCancel.Token));
            _monitor = new Thread(MonitorPeers) { IsBackground = true, Name = "scalio-server-peers" };
            _monitor.Start();
            return _listener.LocalEndPoint;
        }
    }

    /// <summary>What a client in another process is told: <see cref="Describe"/> plus the offload target given to <see cref="Listen"/>.</summary>
    public ServerDescriptor RemoteDescriptor() => Describe() with { OffloadTarget = _offloadTarget };

    /// <summary>Clients of other processes accepted so far.</summary>
    public long RemoteClientsAccepted => Interlocked.Read(ref _remoteAccepted);

    /// <summary>Clients of other processes refused (malformed hello, wrong provider, no hello in time, provider errors).</summary>
    public long RemoteClientsRefused => Interlocked.Read(ref _remoteRefused);

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

    private async Task AcceptLoop(LibfabricListener listener, CancellationToken cancel)
    {
        while (!cancel.IsCancellationRequested)
        {
            LibfabricConnection link;
            try
            {
                link = await listener.AcceptAsync(cancel).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException && cancel.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is InvalidDataException or OperationCanceledException or IOException or SocketException or LibfabricException
                or InvalidOperationException or ObjectDisposedException)
            {
                Interlocked.Increment(ref _remoteRefused); // this client only; keep accepting
                continue;
            }
            lock (_remoteGate)
            {
                if (_stopping)
                {
                    link.Dispose();
                    return;
                }
                var conn = _acceptWorker!.AddConnected(link.QueuePair);
                _peers.Add(new RemotePeer(link, conn));
            }
            Interlocked.Increment(ref _remoteAccepted);
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
