using System.Diagnostics;
using System.Net;
using Scalio.Fast.Cache;
using Scalio.Fast.Remote;
using Scalio.Fast.Rpc;
using Scalio.Fast.Server;

namespace Scalio.Cluster;

/// <summary>
/// One server's part in a sharded cluster (run by <c>scalio server --cluster etcd://HOST:PORT --id N</c>): registers the
/// server in etcd under a lease, follows the map (watch plus a periodic read), fences writes to the keys the server does
/// not own (<see cref="ScalioServer.WriteAdmission"/>, answered <see cref="OpStatus.WrongOwner"/>), and, when a change
/// is in progress, copies the keys that move away from this server to their next owners and reports it in etcd.
/// The protocol is in docs/cluster.md.
/// </summary>
public sealed class ClusterServerAgent : IDisposable
{
    private readonly EtcdCluster _etcd;
    private readonly ScalioServer _server;
    private readonly RemoteStoreOptions? _peerOptions;
    private readonly TextWriter? _log;
    private readonly AutoResetEvent _wake = new(false);
    private readonly Dictionary<int, (RemoteScalioStore Store, RemoteScalioClient Client)> _peers = [];
    private readonly Thread _thread;
    private volatile bool _stopping;
    private Fence _fence;
    private long _reportedVersion = -1;

    /// <summary>What the write fence decides by: the installed map, the one before it, and when the grace on gained keys ends.</summary>
    private sealed record Fence(ClusterMap Map, ClusterMap? Previous, long GraceUntil);

    /// <summary>Makes the agent of server <paramref name="id"/>, reachable at <paramref name="address"/> (its side channel);
    /// <see cref="Start"/> registers it. <paramref name="peerOptions"/>: how to connect to other servers to copy keys.</summary>
    public ClusterServerAgent(EtcdCluster etcd, int id, string address, ScalioServer server, RemoteStoreOptions? peerOptions = null, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(etcd);
        ArgumentNullException.ThrowIfNull(server);
        if (id < 0) throw new ArgumentOutOfRangeException(nameof(id), "the server id must not be negative");
        _etcd = etcd;
        Id = id;
        Address = address;
        _server = server;
        _peerOptions = peerOptions;
        _log = log;
        _fence = new Fence(ClusterMap.Empty, null, 0);
        _thread = new Thread(Run) { IsBackground = true, Name = $"scalio-cluster-agent-{id}" };
    }

    /// <summary>This server's id.</summary>
    public int Id { get; }

    /// <summary>This server's side-channel address as registered.</summary>
    public string Address { get; }

    /// <summary>The map the fence decides by.</summary>
    public ClusterMap Map => Volatile.Read(ref _fence).Map;

    /// <summary>Keys this server copied to other servers so far.</summary>
    public long KeysMovedOut { get; private set; }

    /// <summary>Reads the map, fences writes by it, registers the server under a lease, and starts following the map.
    /// etcd errors are retried for <paramref name="timeout"/> (default 30 s: an etcd just started may still be electing
    /// its leader), then thrown.</summary>
    public void Start(TimeSpan? timeout = null)
    {
        var sw = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                Install(_etcd.ReadMap().Map);
                _server.WriteAdmission = Admit;
                _etcd.Register(Id, Address);
                break;
            }
            catch (Grpc.Core.RpcException e) when (sw.Elapsed < limit)
            {
                _log?.WriteLine($"cluster: server {Id}: etcd not ready ({e.Status.StatusCode}); trying again");
                Thread.Sleep(250);
            }
        }
        _etcd.WatchMap(() => _wake.Set());
        _thread.Start();
    }

    /// <summary>The write fence (on a server worker, per PUT/DELETE; allocates nothing).</summary>
    private bool Admit(ReadOnlySpan<byte> key)
    {
        var f = Volatile.Read(ref _fence);
        ulong h = new KeyHash(key).Value;
        if (f.Map.TargetOwnerId(h) != Id) return false;              // not ours once the change completes (or not in the map)
        if (f.Map.ActiveOwnerId(h) != Id) return f.Map.InTransition;  // ours next: only the old owners' copies arrive now
        if (Stopwatch.GetTimestamp() >= f.GraceUntil) return true;
        return f.Previous is not null && f.Previous.ActiveOwnerId(h) == Id; // gained just now: wait out the clients' map leases
    }

    private void Install(ClusterMap map)
    {
        var old = Volatile.Read(ref _fence);
        if (map.Version <= old.Map.Version && old.Map.Version != 0) return;
        long grace = Stopwatch.GetTimestamp() + (long)(ClusterTiming.OwnerGrace.TotalSeconds * Stopwatch.Frequency);
        Interlocked.Exchange(ref _fence, new Fence(map, old.Map.Version == 0 && old.Previous is null ? null : old.Map, grace)); // full fence: see DrainAdmittedWrites
        _log?.WriteLine($"cluster: server {Id} follows map {map}");
    }

    private void Run()
    {
        while (!_stopping)
        {
            _wake.WaitOne(ClusterTiming.ServerMapPoll);
            if (_stopping) break;
            try
            {
                var map = _etcd.ReadMap().Map;
                if (map.Version > Map.Version) Install(map);
                var current = Map;
                int me = current.IndexOf(Id);
                if (current.InTransition && me >= 0 && current.Servers[me].State != ServerState.Joining && _reportedVersion != current.Version)
                {
                    MoveKeys(current);
                    _reportedVersion = current.Version;
                }
            }
            catch (Exception e)
            {
                if (_stopping) break; // etcd may be gone first at shutdown
                _log?.WriteLine($"cluster: server {Id}: {e.GetType().Name}: {e.Message} (trying again)");
                Thread.Sleep(200);
            }
        }
    }

    /// <summary>Copies the keys leaving this server under <paramref name="map"/> to their target owners, then reports.</summary>
    private void MoveKeys(ClusterMap map)
    {
        // The fence for this map is installed (Install's Interlocked.Exchange): wait for the writes admitted before it.
        if (!_server.DrainAdmittedWrites(TimeSpan.FromSeconds(10))) throw new TimeoutException("writes admitted before the fence did not commit within 10 s");
        var moving = new List<byte[]>();
        long scanned = 0;
        _server.ForEachStoredKey(key =>
        {
            scanned++;
            ulong h = new KeyHash(key).Value;
            if (map.ActiveOwnerId(h) == Id && map.TargetOwnerId(h) != Id) moving.Add(key.ToArray());
        });
        var value = new byte[64 * 1024];
        long moved = 0;
        foreach (var key in moving)
        {
            var st = _server.ReadStored(key, value, out int length);
            if (st == OpStatus.NotFound) continue;
            if (st != OpStatus.Ok) throw new IOException($"reading a moving key from this server's SSDs failed: {st}");
            int target = map.TargetOwnerId(new KeyHash(key).Value);
            PutToPeer(map.Find(target)!, key, value.AsSpan(0, length));
            moved++;
        }
        KeysMovedOut += moved;
        _etcd.ReportMoved(map.Version, Id, moved, scanned);
        _log?.WriteLine($"cluster: server {Id} copied {moved} of its {scanned} keys for map version {map.Version}");
    }

    private void PutToPeer(ClusterServer peer, byte[] key, ReadOnlySpan<byte> value)
    {
        long deadline = Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency;
        while (true)
        {
            if (!_peers.TryGetValue(peer.Id, out var p))
            {
                var store = RemoteScalioStore.Connect(IPEndPoint.Parse(peer.Address), _peerOptions);
                p = (store, store.OpenClient());
                _peers[peer.Id] = p;
            }
            var st = p.Client.Put(key, value);
            if (st == OpStatus.Ok) return;
            // WrongOwner: the peer has not followed the map to this version yet; Unavailable/Timeout: it is busy or restarting.
            if (st is not (OpStatus.WrongOwner or OpStatus.Unavailable or OpStatus.Timeout) || Stopwatch.GetTimestamp() > deadline)
                throw new IOException($"copying a key to server {peer.Id} ({peer.Address}) failed: {st}");
            Thread.Sleep(10);
        }
    }

    /// <summary>Stops following the map and closes the peer connections (the registration's lease ends with the etcd client).</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Set();
        if (_thread.IsAlive) _thread.Join(TimeSpan.FromSeconds(10));
        foreach (var p in _peers.Values) { p.Client.Dispose(); p.Store.Dispose(); }
        _wake.Dispose();
    }
}
