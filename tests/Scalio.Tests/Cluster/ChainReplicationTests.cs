using Scalio.Checking;
using Scalio.Cluster;

namespace Scalio.Tests.Cluster;

/// <summary>The pieces of chain replication that need no servers: chains from the map, the version header, and the
/// lost-write judgement of a history's read-back.</summary>
public sealed class ChainReplicationTests
{
    private static ClusterMap Map(int replicas, params (int Id, ServerState State)[] servers)
        => new(7, [.. servers.Select(s => new ClusterServer(s.Id, $"127.0.0.1:{7000 + s.Id}", s.State))], replicas);

    [Fact]
    public void A_chain_is_the_first_R_owners_in_rendezvous_order_and_the_map_keeps_R_through_json_and_changes()
    {
        var map = Map(3, (1, ServerState.Active), (2, ServerState.Active), (3, ServerState.Active), (4, ServerState.Active));
        Span<int> chain = stackalloc int[ClusterMap.MaxReplicas], all = stackalloc int[ClusterMap.MaxReplicas];
        for (ulong h = 1; h < 2000; h += 7)
        {
            ulong key = RendezvousPlacement.Mix(h);
            Assert.Equal(3, map.ActiveChain(key, chain));
            Assert.Equal(4, map.ActiveOwners(key, all[..4]));
            Assert.True(chain[..3].SequenceEqual(all[..3]));
            Assert.Equal(map.Servers[chain[0]].Id, map.ActiveOwnerId(key));
            for (int i = 0; i < 3; i++) Assert.Equal(i, map.ActiveChainPosition(key, map.Servers[chain[i]].Id));
            Assert.Equal(-1, map.ActiveChainPosition(key, map.Servers[all[3]].Id));
            Assert.True(map.ChainStays(key));
        }
        var back = ClusterMap.FromJson(map.ToJson());
        Assert.Equal(3, back.Replicas);
        Assert.Equal(3, map.Next([.. map.Servers]).Replicas);
        Assert.Equal(3, map.Completed().Replicas);
        Assert.Equal(1, ClusterMap.FromJson("""{"version":2,"servers":[{"id":1,"address":"127.0.0.1:1","state":"Active"}]}""").Replicas);
        Assert.Throws<InvalidDataException>(() => ClusterMap.FromJson("""{"version":2,"servers":[],"replicas":9}"""));
    }

    [Fact]
    public void Removing_a_server_of_three_with_three_replicas_shortens_every_chain_keeping_the_order_and_changes_the_chain()
    {
        var before = Map(3, (1, ServerState.Active), (2, ServerState.Active), (3, ServerState.Active));
        var after = new ClusterMap(8, [.. before.Servers.Where(s => s.Id != 3)], 3);
        Span<int> a = stackalloc int[ClusterMap.MaxReplicas], b = stackalloc int[ClusterMap.MaxReplicas];
        for (ulong h = 1; h < 500; h++)
        {
            ulong key = RendezvousPlacement.Mix(h);
            int n = before.ActiveChain(key, a);
            Assert.Equal(2, after.ActiveChain(key, b));
            var ids = new List<int>();
            for (int i = 0; i < n; i++) if (before.Servers[a[i]].Id != 3) ids.Add(before.Servers[a[i]].Id);
            Assert.Equal(ids, [after.Servers[b[0]].Id, after.Servers[b[1]].Id]); // the survivors, in the same order: the new tail was the old tail's predecessor
            Assert.False(after.SameActiveChain(before, key));
            Assert.True(after.SameActiveChain(after, key));
        }
    }

    [Fact]
    public void A_joining_server_is_in_the_target_chain_of_the_keys_it_wins_and_those_chains_do_not_stay()
    {
        var map = Map(2, (1, ServerState.Active), (2, ServerState.Active), (3, ServerState.Active), (4, ServerState.Joining));
        int moving = 0;
        for (ulong h = 1; h < 4000; h++)
        {
            ulong key = RendezvousPlacement.Mix(h);
            Assert.Equal(-1, map.ActiveChainPosition(key, 4)); // clients never route to a joiner
            bool joins = map.InTargetChain(key, 4);
            Assert.Equal(joins, !map.ChainStays(key));
            if (joins) moving++;
        }
        Assert.InRange(moving, 4000 * 2 / 4 - 300, 4000 * 2 / 4 + 300); // R/N of the keys take in the 4th server
    }

    [Fact]
    public void Versions_order_by_counter_then_writer_and_the_header_keeps_the_tombstone_apart()
    {
        ulong v1 = ChainVersion.Make(5, 9), v2 = ChainVersion.Make(5, 10), v3 = ChainVersion.Make(6, 1);
        Assert.True(v1 < v2 && v2 < v3);
        Assert.Equal(6UL, ChainVersion.Counter(v3));
        var header = new byte[ChainVersion.HeaderSize];
        ChainVersion.Write(header, v2, tombstone: true);
        Assert.True(ChainVersion.TryRead(header, out ulong read, out bool tomb));
        Assert.Equal(v2, read);
        Assert.True(tomb);
        Assert.False(ChainVersion.TryRead(header.AsSpan(0, 7), out _, out _));
        var table = new VersionTable(16);
        Assert.True(table.TryAdvance(42, v2));
        Assert.False(table.TryAdvance(42, v1)); // an older write arriving later is refused
        Assert.False(table.TryAdvance(42, v2));
        Assert.True(table.TryAdvance(42, v3));
    }

    [Fact]
    public void A_read_back_value_is_lost_unless_a_write_that_can_still_be_last_left_it()
    {
        HistoryOperation[] h =
        [
            HistoryOperation.Put(1, "a", "a1", 0, 10),
            HistoryOperation.Put(1, "a", "a2", 20, 30),       // acknowledged after a1 ended: a1 can no longer be last
            HistoryOperation.Put(2, "b", "b1", 0, 50),
            HistoryOperation.Put(3, "b", "b2", 10, 40),       // concurrent with b1: either can be last
            HistoryOperation.Put(1, "c", "c1", 0, 10),
            HistoryOperation.Put(2, "c", "c2", 20, null),     // never returned: may be last
            HistoryOperation.Put(1, "d", "d1", 0, 10),
            HistoryOperation.Delete(1, "d", 20, 30),
            HistoryOperation.Put(1, "e", "e1", 0, null),      // nothing acknowledged: not judged
            HistoryOperation.Get(1, "f", null, 0, 10),
        ];
        var good = new Dictionary<string, string?> { ["a"] = "a2", ["b"] = "b1", ["c"] = "c2", ["d"] = null };
        Assert.Empty(LostWrites.Find(h, good));
        Assert.Empty(LostWrites.Find(h, new Dictionary<string, string?>(good) { ["b"] = "b2", ["c"] = "c1" }));
        var bad = new Dictionary<string, string?> { ["a"] = "a1", ["b"] = null, ["c"] = null, ["d"] = "d1" };
        Assert.Equal(["a", "b", "c", "d"], LostWrites.Find(h, bad));
        Assert.Equal(["a", "b", "c", "d"], LostWrites.AcknowledgedKeys(h));
        Assert.Throws<ArgumentException>(() => LostWrites.Find(h, new Dictionary<string, string?> { ["a"] = "a2" }));
    }
}
