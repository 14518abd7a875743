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

    /// <summary>Makes a map; throws <see cref="ArgumentException"/> on duplicate ids or a negative version.</summary>
    public ClusterMap(long version, IReadOnlyList<ClusterServer> servers)
    {
        ArgumentNullException.ThrowIfNull(servers);
        if (version < 0) throw new ArgumentException("the map version must not be negative", nameof(version));
        Version = version;
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
    public ClusterMap Next(IReadOnlyList<ClusterServer> servers) => new(Version + 1, servers);

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

    private sealed record Wire(long Version, List<ClusterServer> Servers);

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The map as JSON: <c>{"version":N,"servers":[{"id":1,"address":"127.0.0.1:7001","state":"Active"}]}</c>.</summary>
    public string ToJson() => JsonSerializer.Serialize(new Wire(Version, [.. Servers]), JsonOptions);

    /// <summary>Reads a map from JSON; throws <see cref="InvalidDataException"/> when it is not one.</summary>
    public static ClusterMap FromJson(string json)
    {
        try
        {
            var w = JsonSerializer.Deserialize<Wire>(json, JsonOptions) ?? throw new InvalidDataException("the cluster map is JSON null");
            return new ClusterMap(w.Version, w.Servers ?? []);
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException("the cluster map is not valid: " + e.Message, e);
        }
    }

    /// <summary>One line: version and servers.</summary>
    public override string ToString()
        => $"version {Version}: " + (Servers.Count == 0 ? "no servers" : string.Join(", ", Servers.Select(s => $"{s.Id}@{s.Address} {s.State.ToString().ToLowerInvariant()}")));
}
