using System.Diagnostics;

namespace Scalio.Cluster;

/// <summary>What a membership change did: the map versions it went through and the keys that changed owner.</summary>
/// <param name="TransitionVersion">The map with the server joining or leaving (0 when the change needed none: the first server).</param>
/// <param name="FinalVersion">The map after the change.</param>
/// <param name="Moved">Keys copied to a new owner.</param>
/// <param name="Scanned">Keys the old owners held.</param>
public readonly record struct MembershipChange(long TransitionVersion, long FinalVersion, long Moved, long Scanned)
{
    /// <summary>Moved / scanned (0 when there were no keys).</summary>
    public double MovedFraction => Scanned == 0 ? 0 : (double)Moved / Scanned;
}

/// <summary>
/// Adds and removes servers (<c>scalio cluster add|remove</c>), as docs/cluster.md describes: the map goes to a version
/// with the server joining (or leaving); every old owner fences writes to its moving keys, copies them to their next
/// owners and reports in etcd; once all reported, the map goes to the next version with the server active (or gone).
/// Both map writes are compare-and-swap transactions, so concurrent admins cannot interleave changes.
/// </summary>
public static class ClusterAdmin
{
    /// <summary>Adds registered server <paramref name="id"/>. The first server of an empty map becomes active at once.
    /// Throws <see cref="InvalidOperationException"/> (one-line reason) when the change cannot be made, <see cref="TimeoutException"/>
    /// when the old owners did not report within <paramref name="timeout"/> (the map is left joining; run remove or wait).</summary>
    public static MembershipChange Add(EtcdCluster etcd, int id, TimeSpan timeout, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(etcd);
        string? address = null;
        foreach (var r in etcd.ReadRegistrations()) if (r.Id == id) address = r.Address;
        if (address is null) throw new InvalidOperationException($"server {id} is not registered in etcd (start it with 'scalio server ... --cluster {etcd.Endpoint} --id {id}')");
        var map = etcd.UpdateMap(m =>
        {
            if (m.InTransition) throw new InvalidOperationException($"a change is in progress (map {m}); wait for it to finish");
            if (m.Find(id) is not null) throw new InvalidOperationException($"server {id} is already in the map");
            var list = m.Servers.ToList();
            list.Add(new ClusterServer(id, address, m.ActiveCount == 0 ? ServerState.Active : ServerState.Joining));
            return m.Next(list);
        });
        log?.WriteLine($"map {map}");
        if (!map.InTransition) return new MembershipChange(0, map.Version, 0, 0);
        return Complete(etcd, map, timeout, log);
    }

    /// <summary>Removes server <paramref name="id"/>: its keys are copied to their next owners first. Throws like <see cref="Add"/>.</summary>
    public static MembershipChange Remove(EtcdCluster etcd, int id, TimeSpan timeout, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(etcd);
        var map = etcd.UpdateMap(m =>
        {
            if (m.InTransition) throw new InvalidOperationException($"a change is in progress (map {m}); wait for it to finish");
            if (m.Find(id) is null) throw new InvalidOperationException($"server {id} is not in the map ({m})");
            if (m.ActiveCount == 1) throw new InvalidOperationException($"server {id} is the last server: its keys would have nowhere to go");
            var list = m.Servers.Select(s => s.Id == id ? s with { State = ServerState.Leaving } : s).ToList();
            return m.Next(list);
        });
        log?.WriteLine($"map {map}");
        return Complete(etcd, map, timeout, log);
    }

    /// <summary>Waits for every old owner's report for <paramref name="transition"/>, then flips the map to its completed version.</summary>
    private static MembershipChange Complete(EtcdCluster etcd, ClusterMap transition, TimeSpan timeout, TextWriter? log)
    {
        var owners = transition.Servers.Where(s => s.State != ServerState.Joining).Select(s => s.Id).ToHashSet();
        var sw = Stopwatch.StartNew();
        IReadOnlyList<MoveReport> reports;
        while (true)
        {
            reports = etcd.ReadMoved(transition.Version);
            if (owners.All(o => reports.Any(r => r.ServerId == o))) break;
            if (sw.Elapsed > timeout)
            {
                var missing = owners.Where(o => !reports.Any(r => r.ServerId == o));
                throw new TimeoutException($"server(s) {string.Join(", ", missing)} did not report their keys copied for map version {transition.Version} within {timeout.TotalSeconds:F0} s; the map stays at that version");
            }
            Thread.Sleep(100);
        }
        var final = etcd.UpdateMap(m => m.Version == transition.Version ? m.Completed()
            : throw new InvalidOperationException($"the map changed during the move (now version {m.Version}); not flipping it"));
        log?.WriteLine($"map {final}");
        long moved = reports.Where(r => owners.Contains(r.ServerId)).Sum(r => r.Moved);
        long scanned = reports.Where(r => owners.Contains(r.ServerId)).Sum(r => r.Scanned);
        return new MembershipChange(transition.Version, final.Version, moved, scanned);
    }
}
