using System.Globalization;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;

namespace Scalio.Cluster;

/// <summary>A cluster map read from etcd with the revision it was last changed at (the compare value of the next change).</summary>
public readonly record struct VersionedMap(ClusterMap Map, long ModRevision);

/// <summary>A server's registration: the id and side-channel address it announced under its lease.</summary>
public readonly record struct ServerRegistration(int Id, string Address);

/// <summary>One old owner's report that it copied the keys moving away from it for a map version.</summary>
public readonly record struct MoveReport(int ServerId, long Moved, long Scanned);

/// <summary>
/// The cluster's state in etcd (through the dotnet-etcd gRPC client), under <c>/scalio/&lt;cluster&gt;/</c>:
/// <list type="bullet">
/// <item><c>map</c>: the versioned <see cref="ClusterMap"/> as JSON; every change is an etcd transaction that compares
/// the key's mod revision with the one read, so of two admins racing only one wins (the other reads again).</item>
/// <item><c>servers/&lt;id&gt;</c>: a server's address, put under a lease the server keeps alive (gone when it dies:
/// the hook failover will use).</item>
/// <item><c>moved/&lt;version&gt;/&lt;id&gt;</c>: "moved scanned" from an old owner that copied its moving keys for that map version.</item>
/// </list>
/// </summary>
public sealed class EtcdCluster : IDisposable
{
    private readonly EtcdClient _client;
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Connects to etcd at <paramref name="endpoint"/> (<c>etcd://HOST:PORT</c>, or <c>http://HOST:PORT</c>)
    /// for cluster <paramref name="name"/>. The gRPC channel connects lazily: an unreachable etcd shows at the first call.</summary>
    public EtcdCluster(string endpoint, string name = "default")
    {
        Endpoint = ParseEndpoint(endpoint);
        if (string.IsNullOrEmpty(name) || name.Contains('/', StringComparison.Ordinal)) throw new FormatException($"cluster name '{name}' must be non-empty and have no '/'");
        Name = name;
        _client = new EtcdClient(Endpoint.ToString().TrimEnd('/'));
    }

    /// <summary>Parses <c>etcd://HOST:PORT</c> (or http://) into the http URI gRPC dials; throws <see cref="FormatException"/>.</summary>
    public static Uri ParseEndpoint(string endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        string rest = endpoint.StartsWith("etcd://", StringComparison.Ordinal) ? endpoint["etcd://".Length..]
            : endpoint.StartsWith("http://", StringComparison.Ordinal) ? endpoint["http://".Length..]
            : throw new FormatException($"--cluster '{endpoint}' is not etcd://HOST:PORT");
        rest = rest.TrimEnd('/');
        int colon = rest.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(rest[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            throw new FormatException($"--cluster '{endpoint}' is not etcd://HOST:PORT");
        return new Uri($"http://{rest}");
    }

    /// <summary>etcd's address.</summary>
    public Uri Endpoint { get; }

    /// <summary>The cluster's name (the key prefix's last part).</summary>
    public string Name { get; }

    /// <summary>The key prefix of this cluster.</summary>
    public string Prefix => $"/scalio/{Name}/";

    /// <summary>The map's key.</summary>
    public string MapKey => Prefix + "map";

    private string ServerKey(int id) => Prefix + "servers/" + id.ToString(CultureInfo.InvariantCulture);

    private string MovedPrefix(long version) => Prefix + "moved/" + version.ToString(CultureInfo.InvariantCulture) + "/";

    private static DateTime Deadline(TimeSpan t) => DateTime.UtcNow + t;

    /// <summary>Reads the map (the empty map at revision 0 when none was written yet).</summary>
    public VersionedMap ReadMap(TimeSpan? timeout = null)
    {
        var r = _client.Get(MapKey, deadline: Deadline(timeout ?? TimeSpan.FromSeconds(5)));
        if (r.Kvs.Count == 0) return new VersionedMap(ClusterMap.Empty, 0);
        return new VersionedMap(ClusterMap.FromJson(r.Kvs[0].Value.ToStringUtf8()), r.Kvs[0].ModRevision);
    }

    /// <summary>Writes <paramref name="next"/> if the map is still at <paramref name="expectedModRevision"/> (0: no map yet),
    /// in one etcd transaction; false when another change came first.</summary>
    public bool TryReplaceMap(ClusterMap next, long expectedModRevision)
    {
        ArgumentNullException.ThrowIfNull(next);
        var key = ByteString.CopyFromUtf8(MapKey);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = key, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = expectedModRevision });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = ByteString.CopyFromUtf8(next.ToJson()) } });
        return _client.Transaction(txn, deadline: Deadline(TimeSpan.FromSeconds(5))).Succeeded;
    }

    /// <summary>
    /// Reads the map, asks <paramref name="change"/> for the next one (null: no change) and writes it with
    /// <see cref="TryReplaceMap"/>, reading again when another admin changed it meanwhile. Returns the map written
    /// (or the current one when <paramref name="change"/> returned null). <paramref name="change"/> may throw to refuse.
    /// </summary>
    public ClusterMap UpdateMap(Func<ClusterMap, ClusterMap?> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        for (int attempt = 0; attempt < 100; attempt++)
        {
            var (map, rev) = ReadMap();
            var next = change(map);
            if (next is null) return map;
            if (TryReplaceMap(next, rev)) return next;
        }
        throw new InvalidOperationException("the cluster map changed 100 times while this change was attempted");
    }

    /// <summary>
    /// Registers server <paramref name="id"/> at <paramref name="address"/> under a lease of <paramref name="ttlSeconds"/>
    /// that is kept alive in the background until <see cref="Dispose"/> (or the process dies: then etcd deletes the key
    /// when the lease expires). Returns the lease id.
    /// </summary>
    public long Register(int id, string address, int ttlSeconds = 5)
    {
        var lease = _client.LeaseGrant(new LeaseGrantRequest { TTL = ttlSeconds }, deadline: Deadline(TimeSpan.FromSeconds(5)));
        _client.Put(new PutRequest { Key = ByteString.CopyFromUtf8(ServerKey(id)), Value = ByteString.CopyFromUtf8(address), Lease = lease.ID },
            deadline: Deadline(TimeSpan.FromSeconds(5)));
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await _client.LeaseKeepAlive(lease.ID, _stop.Token).ConfigureAwait(false);
                }
                catch (Exception) when (!_stop.IsCancellationRequested)
                {
                    await Task.Delay(500).ConfigureAwait(false); // etcd restarting: keep trying
                }
                catch (Exception)
                {
                    return;
                }
            }
        });
        return lease.ID;
    }

    /// <summary>A number for a new client store, 1..65535: the etcd revision of a write to <c>writers</c> (every etcd write
    /// raises it) modulo 65535, so it differs from every store that asked within the last 65,534 revisions; the high bits
    /// of its sessions' writer ids.</summary>
    public int NextWriterNumber()
    {
        var r = _client.Put(new PutRequest { Key = ByteString.CopyFromUtf8(Prefix + "writers"), Value = ByteString.CopyFromUtf8("") },
            deadline: Deadline(TimeSpan.FromSeconds(5)));
        return (int)(r.Header.Revision % 65535) + 1;
    }

    /// <summary>The registered (live) servers.</summary>
    public IReadOnlyList<ServerRegistration> ReadRegistrations()
    {
        var r = _client.GetRange(Prefix + "servers/", deadline: Deadline(TimeSpan.FromSeconds(5)));
        var list = new List<ServerRegistration>();
        foreach (var kv in r.Kvs)
        {
            string k = kv.Key.ToStringUtf8();
            if (int.TryParse(k.AsSpan(k.LastIndexOf('/') + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int id))
                list.Add(new ServerRegistration(id, kv.Value.ToStringUtf8()));
        }
        return list;
    }

    /// <summary>Records that server <paramref name="serverId"/> copied its <paramref name="moved"/> moving keys (of
    /// <paramref name="scanned"/> it holds) for map <paramref name="version"/>.</summary>
    public void ReportMoved(long version, int serverId, long moved, long scanned)
        => _client.Put(MovedPrefix(version) + serverId.ToString(CultureInfo.InvariantCulture),
            moved.ToString(CultureInfo.InvariantCulture) + " " + scanned.ToString(CultureInfo.InvariantCulture), deadline: Deadline(TimeSpan.FromSeconds(5)));

    /// <summary>The reports for map <paramref name="version"/>.</summary>
    public IReadOnlyList<MoveReport> ReadMoved(long version)
    {
        var r = _client.GetRange(MovedPrefix(version), deadline: Deadline(TimeSpan.FromSeconds(5)));
        var list = new List<MoveReport>();
        foreach (var kv in r.Kvs)
        {
            string k = kv.Key.ToStringUtf8();
            var parts = kv.Value.ToStringUtf8().Split(' ');
            if (parts.Length == 2 && int.TryParse(k.AsSpan(k.LastIndexOf('/') + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int id)
                && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long moved)
                && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long scanned))
                list.Add(new MoveReport(id, moved, scanned));
        }
        return list;
    }

    /// <summary>Calls <paramref name="changed"/> (on a gRPC thread) each time the map key is written, until
    /// <see cref="Dispose"/>. The watch is a fast path only: a watch that breaks (etcd restarted) is not reopened, and
    /// every user of the map also reads it periodically, which is what correctness rests on.</summary>
    public void WatchMap(Action changed)
    {
        ArgumentNullException.ThrowIfNull(changed);
        var request = new WatchRequest { CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8(MapKey) } };
        _ = Task.Run(async () =>
        {
            try
            {
                await _client.WatchAsync(request, (WatchResponse r) => { if (r.Events.Count > 0) changed(); }, cancellationToken: _stop.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Broken or cancelled: the periodic reads carry on.
            }
        });
    }

    /// <summary>Stops the lease keep-alives and watches and closes the connection.</summary>
    public void Dispose()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _client.Dispose();
        _stop.Dispose();
    }
}
