namespace Scalio.Cluster;

/// <summary>
/// The two times the key-movement protocol's reads rest on (docs/cluster.md, "Why reads stay linearizable"): a client
/// routes by a map only while it confirmed within <see cref="ClientMapLease"/> that the map was still etcd's latest, and a
/// server that gains keys under a new map takes no write to them for <see cref="OwnerGrace"/> after it learned the map.
/// <see cref="OwnerGrace"/> must exceed <see cref="ClientMapLease"/> (clock rates of client and server processes differ by
/// far less than the margin).
/// </summary>
public static class ClusterTiming
{
    /// <summary>How long a client trusts a map after the read (measured from when the read was sent) that confirmed it.</summary>
    public static readonly TimeSpan ClientMapLease = TimeSpan.FromSeconds(1);

    /// <summary>How often a client confirms its map (well inside the lease, so routing does not stall).</summary>
    public static readonly TimeSpan ClientMapRefresh = TimeSpan.FromMilliseconds(200);

    /// <summary>How long a server that gained keys waits before it takes writes to them.</summary>
    public static readonly TimeSpan OwnerGrace = TimeSpan.FromSeconds(2);

    /// <summary>How often a server reads the map besides its watch.</summary>
    public static readonly TimeSpan ServerMapPoll = TimeSpan.FromMilliseconds(250);
}
