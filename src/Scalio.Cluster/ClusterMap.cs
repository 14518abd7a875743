using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Scalio.Cluster;

/// <summary>Where a server stands in the cluster map.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ServerState>))]
public enum ServerState
{
    /// <summary>Owns its keys: clients route to it, it takes writes of the keys it owns.</summary>
    Active,
    /// <summary>Being added: not routed to yet; the current owners copy it the keys it will own, then the map flips it to active.</summary>
    Joining,
    /// <summary>Being removed: still routed to and owning its keys until they are copied to their next owners and the map drops it.</summary>
    Leaving,
}

/// <summary>One server of the map: its id (the placement's input), its side-channel address, its state.</summary>
public sealed record ClusterServer(int Id, string Address, ServerState State);

/// <summary>
/// One version of the cluster map (stored as JSON in etcd). Two server sets come out of it: the <b>active</b> set (states
/// active and leaving) that clients route by, and the <b>target</b> set (active and joining) that the map moves to when
/// the change in progress completes. With no change in progress they are the same. Placement over each set is
/// <see cref="RendezvousPlacement"/>; the per-set seed tables are computed once per map, so routing a key allocates nothing.
/// </summary>
public sealed class ClusterMap
{
    private readonly ulong[] _activeSeeds, _targetSeeds;
    private readonly int[] _activeIndex, _targetIndex; // index in Servers of each seed's server

    /// <summary>The most replicas a key may have (chains are computed on the stack).</summary>
    public const int MaxReplicas = 8;

    /// <summary>Makes a map; throws <see cref="ArgumentException"/> on duplicate ids, a negative version or
    /// <paramref name="replicas"/> outside 1..<see cref="MaxReplicas"/>.</summary>
    public ClusterMap(long version, IReadOnlyList<ClusterServer> servers, int replicas = 1)
    {
        ArgumentNullException.ThrowIfNull(servers);
        if (version < 0) throw new ArgumentException("the map version must not be negative", nameof(version));
        if (replicas is < 1 or > MaxReplicas) throw new ArgumentException($"replicas must be 1..{MaxReplicas}; got {replicas}", nameof(replicas));
        Version = version;
        Replicas = replicas;
        Servers = [.. servers];
        var seen = new HashSet<int>();
        foreach (var s in Servers)
        {
            if (!seen.Add(s.Id)) throw new ArgumentException($"server id {s.Id} appears twice in the map", nameof(servers));
            if (s.Id < 0) throw new ArgumentException($"server id {s.Id} is negative", nameof(servers));
        }
        var a = new List<int>();
        var t = new List<int>();
        for (int i = 0; i < Servers.Count; i++)
        {
            if (Servers[i].State != ServerState.Joining) a.Add(i);
            if (Servers[i].State != ServerState.Leaving) t.Add(i);
        }
        _activeIndex = [.. a];
        _targetIndex = [.. t];
        _activeSeeds = new ulong[a.Count];
        _targetSeeds = new ulong[t.Count];
        for (int i = 0; i < a.Count; i++) _activeSeeds[i] = RendezvousPlacement.Seed(Servers[a[i]].Id);
        for (int i = 0; i < t.Count; i++) _targetSeeds[i] = RendezvousPlacement.Seed(Servers[t[i]].Id);
    }

    /// <summary>The empty map (version 0, no servers): what a cluster has before its first server is added.</summary>
    public static ClusterMap Empty { get; } = new(0, []);

    /// <summary>The map's version: every change makes the next one.</summary>
    public long Version { get; }

    /// <summary>Replicas of each key (R): a key's chain is its first R owners by rendezvous order, head first, tail last
    /// (fewer while the map has fewer servers). Fixed when the map is created (docs/cluster.md, "Replicated writes").</summary>
    public int Replicas { get; }

    /// <summary>The servers, in the order they were added.</summary>
    public IReadOnlyList<ClusterServer> Servers { get; }

    /// <summary>True while a server is joining or leaving (the active and target sets differ).</summary>
    public bool InTransition => _activeIndex.Length != Servers.Count || _targetIndex.Length != Servers.Count;

    /// <summary>Servers clients route to.</summary>
    public int ActiveCount => _activeIndex.Length;

    /// <summary>Index in <see cref="Servers"/> of the server that owns the key of hash <paramref name="keyHash"/> now
    /// (the active set); -1 when the map has no active server. Allocates nothing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int ActiveOwner(ulong keyHash)
    {
        int w = RendezvousPlacement.Winner(keyHash, _activeSeeds);
        return w < 0 ? -1 : _activeIndex[w];
    }

    /// <summary>Index in <see cref="Servers"/> of the key's owner once the change in progress completes (the target set); -1 when none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TargetOwner(ulong keyHash)
    {
        int w = RendezvousPlacement.Winner(keyHash, _targetSeeds);
        return w < 0 ? -1 : _targetIndex[w];
    }

    /// <summary>Id of the active owner of the key, -1 when none.</summary>
    public int ActiveOwnerId(ulong keyHash) => ActiveOwner(keyHash) is var i and >= 0 ? Servers[i].Id : -1;

    /// <summary>Id of the target owner of the key, -1 when none.</summary>
    public int TargetOwnerId(ulong keyHash) => TargetOwner(keyHash) is var i and >= 0 ? Servers[i].Id : -1;

    /// <summary>
    /// The key's owners in the active set, best first (the chain of a replicated key, later: head first): fills
    /// <paramref name="owners"/> with up to its length server indexes; returns how many. Allocates nothing.
    /// </summary>
    public int ActiveOwners(ulong keyHash, Span<int> owners)
    {
        int n = RendezvousPlacement.Ranked(keyHash, _activeSeeds, owners);
        for (int i = 0; i < n; i++) owners[i] = _activeIndex[owners[i]];
        return n;
    }

    /// <summary>The key's chain in the active set (what clients write and read by): its first <see cref="Replicas"/> owners,
    /// head first, as server indexes in <paramref name="chain"/> (at least <see cref="MaxReplicas"/> long); returns the
    /// chain's length. Allocates nothing.</summary>
    public int ActiveChain(ulong keyHash, Span<int> chain) => ActiveOwners(keyHash, chain[..Math.Min(Replicas, chain.Length)]);

    /// <summary>The key's chain in the target set (once the change in progress completes); like <see cref="ActiveChain"/>.</summary>
    public int TargetChain(ulong keyHash, Span<int> chain)
    {
        int n = RendezvousPlacement.Ranked(keyHash, _targetSeeds, chain[..Math.Min(Replicas, chain.Length)]);
        for (int i = 0; i < n; i++) chain[i] = _targetIndex[chain[i]];
        return n;
    }

    /// <summary>Position of server <paramref name="id"/> in the key's active chain (0: head), or -1 when it is not in it.</summary>
    public int ActiveChainPosition(ulong keyHash, int id)
    {
        Span<int> c = stackalloc int[MaxReplicas];
        int n = ActiveChain(keyHash, c);
        for (int i = 0; i < n; i++) if (Servers[c[i]].Id == id) return i;
        return -1;
    }

    /// <summary>True when server <paramref name="id"/> is in the key's target chain.</summary>
    public bool InTargetChain(ulong keyHash, int id)
    {
        Span<int> c = stackalloc int[MaxReplicas];
        int n = TargetChain(keyHash, c);
        for (int i = 0; i < n; i++) if (Servers[c[i]].Id == id) return true;
        return false;
    }

    /// <summary>True when the key's active chain and target chain hold the same servers in the same order (its
    /// replicas do not change when the change in progress completes).</summary>
    public bool ChainStays(ulong keyHash)
    {
        Span<int> a = stackalloc int[MaxReplicas], t = stackalloc int[MaxReplicas];
        int n = ActiveChain(keyHash, a);
        if (TargetChain(keyHash, t) != n) return false;
        for (int i = 0; i < n; i++) if (a[i] != t[i]) return false;
        return true;
    }

    /// <summary>True when the key's active chain in this map and in <paramref name="other"/> are the same server ids in the same order.</summary>
    public bool SameActiveChain(ClusterMap other, ulong keyHash)
    {
        ArgumentNullException.ThrowIfNull(other);
        Span<int> a = stackalloc int[MaxReplicas], b = stackalloc int[MaxReplicas];
        int n = ActiveChain(keyHash, a);
        if (other.ActiveChain(keyHash, b) != n) return false;
        for (int i = 0; i < n; i++) if (Servers[a[i]].Id != other.Servers[b[i]].Id) return false;
        return true;
    }

    /// <summary>The server of id <paramref name="id"/>, or null.</summary>
    public ClusterServer? Find(int id)
    {
        foreach (var s in Servers) if (s.Id == id) return s;
        return null;
    }

    /// <summary>Index in <see cref="Servers"/> of the server of id <paramref name="id"/>, or -1.</summary>
    public int IndexOf(int id)
    {
        for (int i = 0; i < Servers.Count; i++) if (Servers[i].Id == id) return i;
        return -1;
    }

    /// <summary>The next version with <paramref name="servers"/>.</summary>
    public ClusterMap Next(IReadOnlyList<ClusterServer> servers) => new(Version + 1, servers, Replicas);

    /// <summary>The map after the change in progress: joining servers active, leaving ones gone, next version.</summary>
    public ClusterMap Completed()
    {
        var list = new List<ClusterServer>();
        foreach (var s in Servers)
        {
            if (s.State == ServerState.Leaving) continue;
            list.Add(s.State == ServerState.Joining ? s with { State = ServerState.Active } : s);
        }
        return Next(list);
    }

    private sealed record Wire(long Version, List<ClusterServer> Servers, int Replicas = 1);

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The map as JSON: <c>{"version":N,"servers":[{"id":1,"address":"127.0.0.1:7001","state":"Active"}],"replicas":R}</c>
    /// (a map without <c>replicas</c> has one).</summary>
    public string ToJson() => JsonSerializer.Serialize(new Wire(Version, [.. Servers], Replicas), JsonOptions);

    /// <summary>Reads a map from JSON; throws <see cref="InvalidDataException"/> when it is not one.</summary>
    public static ClusterMap FromJson(string json)
    {
        try
        {
            var w = JsonSerializer.Deserialize<Wire>(json, JsonOptions) ?? throw new InvalidDataException("the cluster map is JSON null");
            return new ClusterMap(w.Version, w.Servers ?? [], w.Replicas == 0 ? 1 : w.Replicas);
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException("the cluster map is not valid: " + e.Message, e);
        }
    }

    /// <summary>One line: version and servers.</summary>
    public override string ToString()
        => $"version {Version}{(Replicas > 1 ? $", {Replicas} replicas" : "")}: " + (Servers.Count == 0 ? "no servers" : string.Join(", ", Servers.Select(s => $"{s.Id}@{s.Address} {s.State.ToString().ToLowerInvariant()}")));
}
