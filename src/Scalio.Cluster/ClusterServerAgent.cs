using System.Diagnostics;
using System.Net;
using Scalio.Fast.Cache;
using Scalio.Fast.Remote;
using Scalio.Fast;
using Scalio.Fast.Server;

namespace Scalio.Cluster;

/// <summary>
/// One server's part in a sharded cluster (run by <c>scalio server --cluster etcd://HOST:PORT --id N</c>): registers the
/// server in etcd under a lease, follows the map (watch plus a periodic read), fences writes to the keys the server does
/// not own (<see cref="ScalioServer.WriteAdmission"/>, answered <see cref="OpStatus.WrongOwner"/>), and, when a change
/// is in progress, copies the keys that move away from this server to their next owners and reports it in etcd.
/// With replicas (R &gt; 1) it also admits only writes whose version is newer than the key's last one here, and removes
/// servers whose registration lease expired from the map (failover). The protocol is in docs/cluster.md.
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
    private readonly VersionTable? _versions; // R > 1 only
    private readonly int _replicas;
    private Fence _fence;
    private long _reportedVersion = -1, _refusedFailover = -1;

    /// <summary>What the write fence decides by: the installed map, the one before it, and when the grace on gained keys ends.</summary>
    private sealed record Fence(ClusterMap Map, ClusterMap? Previous, long GraceUntil);

    /// <summary>Makes the agent of server <paramref name="id"/>, reachable at <paramref name="address"/> (its side channel);
    /// <see cref="Start"/> registers it. <paramref name="peerOptions"/>: how to connect to other servers to copy keys.
    /// <paramref name="replicas"/>: the cluster's R (a new cluster takes it; an existing one must have it).
    /// <paramref name="expectedKeys"/>: keys this server may hold (sizes the version table).</summary>
    public ClusterServerAgent(EtcdCluster etcd, int id, string address, ScalioServer server, RemoteStoreOptions? peerOptions = null, TextWriter? log = null,
        int replicas = 1, int expectedKeys = 1 << 16)
    {
        if (replicas is < 1 or > ClusterMap.MaxReplicas) throw new ArgumentOutOfRangeException(nameof(replicas), $"replicas must be 1..{ClusterMap.MaxReplicas}");
        _replicas = replicas;
        _versions = replicas > 1 ? new VersionTable(expectedKeys) : null;
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

    /// <summary>Servers this agent removed from the map after their registration lease expired.</summary>
    public long ServersRemoved { get; private set; }

    /// <summary>Reads the map, fences writes by it, registers the server under a lease, and starts following the map.
    /// etcd errors are retried for <paramref name="timeout"/> (default 30 s: an etcd just started may still be electing
    /// its leader), then thrown. Throws <see cref="InvalidOperationException"/> when the cluster has another R, or (R &gt; 1)
    /// when this server is still in the map: it restarted before failover removed it, and its store may lack writes
    /// acknowledged meanwhile (it rejoins with 'scalio cluster add' once removed, which copies it its keys).</summary>
    public void Start(TimeSpan? timeout = null)
    {
        var sw = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                var map = _etcd.UpdateMap(m => m.Servers.Count == 0 && m.Replicas != _replicas ? new ClusterMap(m.Version + 1, [], _replicas) : null);
                if (map.Replicas != _replicas)
                    throw new InvalidOperationException($"the cluster in etcd has {map.Replicas} replica(s) per key; this server was started with --replicas {_replicas}");
                if (map.Replicas > 1 && map.Find(Id) is not null)
                    throw new InvalidOperationException($"server {Id} is still in the map ({map}): it restarted before failover removed it; wait until its lease expires and it is removed, then start it and add it again ('scalio cluster add' copies it its keys)");
                Install(map);
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
    private bool Admit(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool remove)
    {
        var f = Volatile.Read(ref _fence);
        ulong h = new KeyHash(key).Value;
        if (f.Map.Replicas <= 1) return AdmitOwner(f, h);
        if (!f.Map.InTargetChain(h, Id)) return false;                   // not a replica once the change completes
        if (f.Map.ActiveChainPosition(h, Id) < 0)
        {
            if (!f.Map.InTransition) return false;                        // not a replica (or not in the map)
        }
        else if (f.Map.InTransition && !f.Map.ChainStays(h)) return false; // its chain changes: fenced while its head copies it
        else if (Stopwatch.GetTimestamp() < f.GraceUntil && (f.Previous is null || !f.Previous.SameActiveChain(f.Map, h)))
            return false;                                                 // its chain just changed: wait out the clients' map leases
        // Replicated writes are versioned PUTs (a deletion is a tombstone); a replica takes only newer versions.
        if (remove || !ChainVersion.TryRead(value, out ulong version, out _)) return false;
        return _versions is not null && _versions.TryAdvance(h, version);
    }

    /// <summary>The fence of an unreplicated map (R = 1): the key's one owner.</summary>
    private bool AdmitOwner(Fence f, ulong h)
    {
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
                if (current.Replicas > 1 && RemoveExpired(current)) continue;
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
            ulong h = new KeyHash(key).Value;
            if (map.ActiveChainPosition(h, Id) != 0) return; // each key is counted and copied by its head only
            scanned++;
            if (!map.ChainStays(h)) moving.Add(key.ToArray());
        });
        var value = new byte[64 * 1024];
        var chain = new int[ClusterMap.MaxReplicas];
        long moved = 0;
        foreach (var key in moving)
        {
            var st = _server.ReadStored(key, value, out int length);
            if (st == OpStatus.NotFound) continue;
            if (st != OpStatus.Ok) throw new IOException($"reading a moving key from this server's SSDs failed: {st}");
            ulong h = new KeyHash(key).Value;
            int n = map.TargetChain(h, chain);
            bool copied = false; // a key whose chain only loses a server (a removal with servers <= R) needs no copy
            for (int i = 0; i < n; i++)
            {
                if (map.ActiveChainPosition(h, map.Servers[chain[i]].Id) >= 0) continue;
                PutToPeer(map.Servers[chain[i]], key, value.AsSpan(0, length));
                copied = true;
            }
            if (copied) moved++;
        }
        KeysMovedOut += moved;
        _etcd.ReportMoved(map.Version, Id, moved, scanned);
        _log?.WriteLine($"cluster: server {Id} copied {moved} of its {scanned} keys for map version {map.Version}");
    }

    /// <summary>Failover (R &gt; 1): removes the servers of the map whose registration is gone (lease expired: the process
    /// died or lost etcd) in one compare-and-swap on the map's revision; whoever of the survivors comes first wins, the
    /// others find nothing to do. Only while every chain holds every server (servers ≤ R), so the shorter chains are made
    /// of servers that already hold their keys. True when this agent changed the map.</summary>
    private bool RemoveExpired(ClusterMap map)
    {
        var live = new HashSet<int>();
        foreach (var r in _etcd.ReadRegistrations()) live.Add(r.Id);
        bool any = false;
        foreach (var s in map.Servers) any |= s.Id != Id && !live.Contains(s.Id);
        if (!any) return false;
        if (map.ActiveCount > map.Replicas)
        {
            // Chains would take in a server that holds none of their keys: that needs a copy first (not done yet).
            if (_refusedFailover != map.Version) _log?.WriteLine($"cluster: server {Id}: a server's lease expired, but with more servers ({map.ActiveCount}) than replicas ({map.Replicas}) failover would need a copy to the new chain members, which is not implemented; not removing it");
            _refusedFailover = map.Version;
            return false;
        }
        List<int> gone = [];
        var next = _etcd.UpdateMap(m =>
        {
            gone = [.. m.Servers.Where(s => s.Id != Id && !live.Contains(s.Id)).Select(s => s.Id)];
            var rest = m.Servers.Where(s => !gone.Contains(s.Id)).ToList();
            if (gone.Count == 0 || m.ActiveCount > m.Replicas || !rest.Any(s => s.State != ServerState.Joining)) return null;
            return m.Next(rest);
        });
        if (next.Version <= map.Version || gone.Count == 0) return false;
        ServersRemoved += gone.Count;
        _log?.WriteLine($"cluster: server {Id} removed server(s) {string.Join(", ", gone)} from the map (registration lease expired): map {next}");
        _wake.Set();
        return true;
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
