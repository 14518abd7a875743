using System.Diagnostics;
using System.Net;
using Scalio.Fast.Cache;
using Scalio.Fast.Remote;
using Scalio.Fast;

namespace Scalio.Cluster;

/// <summary>
/// A sharded Scalio store: one <see cref="RemoteScalioStore"/> per server of the cluster map read from etcd, and the
/// factory of <see cref="ClusterClient"/> sessions that route each operation to its key's owner. The map is followed
/// in the background (an etcd watch for speed, a read every <see cref="ClusterTiming.ClientMapRefresh"/> for the lease):
/// clients switch to a new map version between two operations, without stopping.
/// </summary>
public sealed class ClusterStore : IDisposable
{
    private readonly EtcdCluster _etcd;
    private readonly RemoteStoreOptions? _options;
    private readonly Dictionary<int, (string Address, RemoteScalioStore Store)> _stores = [];
    private readonly List<ClusterClient> _clients = [];
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _refresher;
    private volatile Routing _routing;
    private volatile bool _disposed;
    private long _mapChanges;
    private readonly int _writerBase;
    private int _sessions;

    /// <summary>One map with the connections it routes to, and how long it may be trusted (Stopwatch ticks; extended by
    /// each read of etcd that finds it still current, never once a newer map replaced it).</summary>
    internal sealed class Routing(ClusterMap map, RemoteScalioStore?[] stores, long validUntil, ClusterMap? previous)
    {
        public readonly ClusterMap? Previous = previous; // the map this one replaced here (null: the first)
        public readonly long InstalledAt = Stopwatch.GetTimestamp(); // when this process learned the map (after its flip)
        public readonly ClusterMap Map = map;
        public readonly RemoteScalioStore?[] Stores = stores; // by index in Map.Servers; null for joining servers
        public long ValidUntil = validUntil;
    }

    private ClusterStore(EtcdCluster etcd, RemoteStoreOptions? options)
    {
        _etcd = etcd;
        // A dead server's sessions must not hold an operation for long: the map (failover) tells where to go instead.
        _options = options ?? new RemoteStoreOptions { ReconnectTimeout = TimeSpan.FromSeconds(1) };
        long sent = Stopwatch.GetTimestamp();
        var map = etcd.ReadMap().Map;
        _writerBase = map.Replicas > 1 ? etcd.NextWriterNumber() << 8 : 0;
        _routing = Build(map, sent);
        _refresher = new Thread(Refresh) { IsBackground = true, Name = "scalio-cluster-map" };
    }

    /// <summary>Reads the map from <paramref name="etcd"/> and connects to every active server (throws what
    /// <see cref="RemoteScalioStore.Connect"/> throws, or <see cref="InvalidOperationException"/> when the map has no active server).</summary>
    public static ClusterStore Connect(EtcdCluster etcd, RemoteStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(etcd);
        var store = new ClusterStore(etcd, options);
        try
        {
            if (store._routing.Map.ActiveCount == 0) throw new InvalidOperationException($"the cluster map in etcd ({etcd.MapKey}) has no active server: add one with 'scalio cluster add'");
            etcd.WatchMap(() => store._wake.Set());
            store._refresher.Start();
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>The map clients route by now.</summary>
    public ClusterMap Map => _routing.Map;

    /// <summary>Times a newer map was installed.</summary>
    public long MapChanges => Interlocked.Read(ref _mapChanges);

    internal Routing Current => _routing;

    /// <summary>Longest value a client may write: the smallest value capacity of the connected servers, less the
    /// version header when keys are replicated.</summary>
    public int MaxValueLength
    {
        get
        {
            int m = int.MaxValue;
            lock (_stores) foreach (var e in _stores.Values) m = Math.Min(m, e.Store.Descriptor.Layout.ValueCapacity);
            return m == int.MaxValue ? 0 : m - (Map.Replicas > 1 ? ChainVersion.HeaderSize : 0);
        }
    }

    private Routing Build(ClusterMap map, long sentAt)
    {
        var stores = new RemoteScalioStore?[map.Servers.Count];
        lock (_stores)
        {
            for (int i = 0; i < map.Servers.Count; i++)
            {
                var s = map.Servers[i];
                if (s.State == ServerState.Joining) continue;
                if (!_stores.TryGetValue(s.Id, out var e) || e.Address != s.Address)
                {
                    e = (s.Address, RemoteScalioStore.Connect(IPEndPoint.Parse(s.Address), _options));
                    _stores[s.Id] = e;
                }
                stores[i] = e.Store;
            }
        }
        return new Routing(map, stores, sentAt + LeaseTicks, _routing?.Map);
    }

    private static readonly long LeaseTicks = (long)(ClusterTiming.ClientMapLease.TotalSeconds * Stopwatch.Frequency);

    private void Refresh()
    {
        while (!_disposed)
        {
            _wake.WaitOne(ClusterTiming.ClientMapRefresh);
            if (_disposed) break;
            try
            {
                long sent = Stopwatch.GetTimestamp(); // the lease counts from before the read: the map was current at some point after this
                var map = _etcd.ReadMap().Map;
                var r = _routing;
                if (map.Version == r.Map.Version) Volatile.Write(ref r.ValidUntil, sent + LeaseTicks);
                else if (map.Version > r.Map.Version)
                {
                    _routing = Build(map, sent);
                    Interlocked.Increment(ref _mapChanges);
                }
            }
            catch (Exception) when (!_disposed)
            {
                // etcd or a new server unreachable: the lease runs out and operations wait; try again.
                Thread.Sleep(50);
            }
        }
    }

    /// <summary>Asks the background reader to read the map now (an operation met a server that does not own its key).</summary>
    internal void RequestRefresh() => _wake.Set();

    /// <summary>Opens a client session (one per thread): one <see cref="RemoteScalioClient"/> per server, opened on first use.</summary>
    public ClusterClient OpenClient()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // Writer ids: this store's etcd-assigned number, then the session's (256 per store before they repeat).
        var c = new ClusterClient(this, (_writerBase | (Interlocked.Increment(ref _sessions) & 0xFF)) & ChainVersion.MaxWriter);
        lock (_clients) _clients.Add(c);
        return c;
    }

    /// <summary>Closes every session and connection.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _wake.Set();
        if (_refresher.IsAlive) _refresher.Join(TimeSpan.FromSeconds(5));
        lock (_clients) foreach (var c in _clients) c.Dispose();
        lock (_stores) foreach (var e in _stores.Values) e.Store.Dispose();
        _wake.Dispose();
    }
}

/// <summary>
/// A session of a <see cref="ClusterStore"/>: one per thread, not thread-safe. Each operation hashes its key, finds the
/// owner in the current map (precomputed per map: no allocation) and runs on that server's session. It waits (never
/// fails) while the map's lease is not confirmed, and retries a write the server refused with
/// <see cref="OpStatus.WrongOwner"/> (nothing was changed) after asking for the map again; both for at most
/// <see cref="OperationDeadline"/>, then it returns <see cref="OpStatus.Unavailable"/>. Other statuses are the server
/// session's (see <see cref="RemoteScalioClient"/>). With replicas (R &gt; 1) writes run down the key's chain
/// (<see cref="ChainWrite"/>) and reads go one-sided to its tail, retried on a new map when the tail is gone.
/// </summary>
public sealed partial class ClusterClient : IDisposable
{
    private readonly ClusterStore _store;
    private readonly int _writer;
    private ClusterStore.Routing? _bound;
    private RemoteScalioClient?[] _sessions = [];
    private readonly Dictionary<RemoteScalioStore, RemoteScalioClient> _open = [];
    private bool _disposed;

    internal ClusterClient(ClusterStore store, int writer)
    {
        _store = store;
        _writer = writer;
    }

    /// <summary>Longest an operation waits for a confirmed map or retries a refused write.</summary>
    public TimeSpan OperationDeadline { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries of writes answered <see cref="OpStatus.WrongOwner"/> (one per attempt, 1 ms apart).</summary>
    public long WrongOwnerRetries { get; private set; }

    /// <summary>Operations that waited for the map's lease to be confirmed.</summary>
    public long LeaseWaits { get; private set; }

    /// <summary>Reads <paramref name="key"/> from its owner into <paramref name="value"/>.</summary>
    public OpStatus Get(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength)
    {
        valueLength = 0;
        ulong h = new KeyHash(key).Value;
        if (_store.Current.Map.Replicas > 1) return ChainGet(key, h, value, out valueLength);
        long deadline = 0;
        while (true)
        {
            var s = Route(h, ref deadline);
            if (s is null) return OpStatus.Unavailable;
            return s.Get(key, value, out valueLength);
        }
    }

    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/> at its owner; durable there when it returns <see cref="OpStatus.Ok"/>.</summary>
    public OpStatus Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Write(key, value, remove: false);

    /// <summary>Removes <paramref name="key"/> at its owner.</summary>
    public OpStatus Delete(ReadOnlySpan<byte> key) => Write(key, default, remove: true);

    private OpStatus Write(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool remove)
    {
        ulong h = new KeyHash(key).Value;
        if (_store.Current.Map.Replicas > 1) return ChainWrite(key, h, value, remove);
        long deadline = 0;
        while (true)
        {
            var s = Route(h, ref deadline);
            if (s is null) return OpStatus.Unavailable;
            var st = remove ? s.Delete(key) : s.Put(key, value);
            if (st != OpStatus.WrongOwner) return st;
            // Not applied: the key is moving (its writes pause until the map flips) or this map is stale.
            WrongOwnerRetries++;
            _store.RequestRefresh();
            if (!Pause(ref deadline)) return OpStatus.Unavailable;
        }
    }

    /// <summary>The session of the key's owner under a map whose lease is confirmed; null when none came before the deadline.</summary>
    private RemoteScalioClient? Route(ulong keyHash, ref long deadline)
    {
        var r = RouteMap(ref deadline);
        if (r is null) return null;
        int owner = r.Map.ActiveOwner(keyHash);
        return owner < 0 ? null : Session(r, owner);
    }

    /// <summary>The session of server index <paramref name="index"/> of the bound map <paramref name="r"/>; null when it
    /// cannot be opened (the server is gone: the operation fails over to a newer map or reports Unavailable).</summary>
    private RemoteScalioClient? Session(ClusterStore.Routing r, int index)
    {
        if (_sessions[index] is { } s) return s;
        try
        {
            return _sessions[index] = Open(r.Stores[index]!);
        }
        catch (Exception e) when (IsConnectFailure(e))
        {
            return null;
        }
    }

    /// <summary>The failures of connecting to a server that is down or restarting (what a reconnection may cure).</summary>
    internal static bool IsConnectFailure(Exception e) => e is System.Net.Sockets.SocketException or IOException or TimeoutException or InvalidDataException
        or InvalidOperationException or OperationCanceledException or Scalio.Fast.ScalioException or Scalio.Verbs.Libfabric.LibfabricException
        or Scalio.Nvme.Tcp.NvmeTcpException or Scalio.Nvme.Tcp.NvmeCommandException;

    /// <summary>The map to route by, its lease confirmed, bound to this session; null when none came before the deadline.</summary>
    private ClusterStore.Routing? RouteMap(ref long deadline)
    {
        bool waited = false;
        while (true)
        {
            var r = _store.Current;
            if (Stopwatch.GetTimestamp() < Volatile.Read(ref r.ValidUntil))
            {
                if (!ReferenceEquals(r, _bound)) Bind(r);
                return r;
            }
            if (!waited) LeaseWaits++;
            waited = true;
            _store.RequestRefresh();
            if (!Pause(ref deadline)) return null;
        }
    }

    private bool Pause(ref long deadline)
    {
        long now = Stopwatch.GetTimestamp();
        if (deadline == 0) deadline = now + (long)(OperationDeadline.TotalSeconds * Stopwatch.Frequency);
        else if (now > deadline) return false;
        Thread.Sleep(1);
        return true;
    }

    /// <summary>A new map: sessions by its server indexes, reusing the open ones (runs once per map change).</summary>
    private void Bind(ClusterStore.Routing r)
    {
        var sessions = new RemoteScalioClient?[r.Stores.Length];
        for (int i = 0; i < sessions.Length; i++)
            if (r.Stores[i] is { } st && _open.TryGetValue(st, out var c)) sessions[i] = c;
        _sessions = sessions;
        _bound = r;
    }

    private RemoteScalioClient Open(RemoteScalioStore store)
    {
        if (!_open.TryGetValue(store, out var c))
        {
            c = store.OpenClient();
            _open[store] = c;
        }
        return c;
    }

    /// <summary>Closes the sessions.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var c in _open.Values) c.Dispose();
    }
}
