using System.Text;
using Scalio.Cluster;
using Scalio.Fast.Cache;

namespace Scalio.Tests.Cluster;

/// <summary>Issue 17, part 1: rendezvous placement is deterministic, balanced, and adding the Nth server moves about
/// 1/N of the keys, all of them to the new server.</summary>
public sealed class RendezvousPlacementTests
{
    private static ulong[] KeyHashes(int n)
    {
        var h = new ulong[n];
        for (int i = 0; i < n; i++) h[i] = new KeyHash(Encoding.ASCII.GetBytes($"user{i:D12}")).Value;
        return h;
    }

    private static ClusterMap Map(long version, params int[] ids) => new(version, [.. ids.Select(i => new ClusterServer(i, $"127.0.0.1:{7000 + i}", ServerState.Active))]);

    [Fact]
    public void The_same_key_and_map_give_the_same_owner_whatever_the_server_order()
    {
        var a = Map(1, 1, 2, 3, 4);
        var b = Map(1, 4, 3, 2, 1);
        foreach (var h in KeyHashes(10_000))
        {
            Assert.Equal(a.ActiveOwnerId(h), b.ActiveOwnerId(h));
            Assert.Equal(a.ActiveOwnerId(h), Map(2, 1, 2, 3, 4).ActiveOwnerId(h));
        }
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(8)]
    public void Adding_the_Nth_server_moves_about_1_over_N_of_the_keys_and_only_to_it(int n)
    {
        const int keys = 50_000;
        var before = Map(1, [.. Enumerable.Range(1, n - 1)]);
        var after = Map(2, [.. Enumerable.Range(1, n)]);
        int moved = 0;
        foreach (var h in KeyHashes(keys))
        {
            int o = before.ActiveOwnerId(h), p = after.ActiveOwnerId(h);
            if (o == p) continue;
            moved++;
            Assert.Equal(n, p); // a key that moves goes to the new server
        }
        double fraction = (double)moved / keys, expected = 1.0 / n;
        Assert.InRange(fraction, expected * 0.9, expected * 1.1);
    }

    [Fact]
    public void Keys_spread_evenly_over_the_servers()
    {
        const int keys = 60_000, servers = 6;
        var map = Map(1, [.. Enumerable.Range(10, servers)]);
        var count = new int[servers];
        foreach (var h in KeyHashes(keys)) count[map.ActiveOwner(h)]++;
        foreach (int c in count) Assert.InRange(c, keys / servers * 0.92, keys / servers * 1.08);
    }

    [Fact]
    public void Joining_servers_are_targets_not_owners_and_leaving_ones_the_reverse()
    {
        var map = new ClusterMap(5, [new(1, "a:1", ServerState.Active), new(2, "a:2", ServerState.Active), new(3, "a:3", ServerState.Joining)]);
        Assert.True(map.InTransition);
        Assert.Equal(2, map.ActiveCount);
        bool targetsJoiner = false;
        foreach (var h in KeyHashes(1000))
        {
            Assert.NotEqual(3, map.ActiveOwnerId(h));
            targetsJoiner |= map.TargetOwnerId(h) == 3;
        }
        Assert.True(targetsJoiner);
        var done = map.Completed();
        Assert.Equal(6, done.Version);
        Assert.False(done.InTransition);
        var leaving = new ClusterMap(7, [new(1, "a:1", ServerState.Leaving), new(2, "a:2", ServerState.Active)]);
        foreach (var h in KeyHashes(200)) Assert.Equal(2, leaving.TargetOwnerId(h));
        Assert.Single(leaving.Completed().Servers);
    }

    [Fact]
    public void The_ranked_owner_list_starts_with_the_owner_and_names_each_server_once()
    {
        var map = Map(1, 1, 2, 3, 4, 5);
        Span<int> owners = stackalloc int[3];
        foreach (var h in KeyHashes(2000))
        {
            Assert.Equal(3, map.ActiveOwners(h, owners));
            Assert.Equal(map.ActiveOwner(h), owners[0]);
            Assert.True(owners[0] != owners[1] && owners[1] != owners[2] && owners[0] != owners[2]);
        }
    }

    [Fact]
    public void The_map_round_trips_through_json_and_rejects_garbage()
    {
        var map = new ClusterMap(9, [new(1, "127.0.0.1:7001", ServerState.Active), new(4, "127.0.0.1:7004", ServerState.Joining)]);
        var back = ClusterMap.FromJson(map.ToJson());
        Assert.Equal(9, back.Version);
        Assert.Equal(map.Servers, back.Servers);
        Assert.Throws<InvalidDataException>(() => ClusterMap.FromJson("{\"version\":1,\"servers\":[{\"id\":1,\"address\":\"x\",\"state\":\"Active\"},{\"id\":1,\"address\":\"y\",\"state\":\"Active\"}]}"));
        Assert.Throws<InvalidDataException>(() => ClusterMap.FromJson("not json"));
    }

    [Fact]
    public void Routing_a_key_allocates_nothing()
    {
        var map = Map(1, 1, 2, 3, 4);
        var hashes = KeyHashes(1000);
        int sink = 0;
        foreach (var h in hashes) sink += map.ActiveOwner(h) + map.TargetOwner(h);
        long before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var h in hashes) sink += map.ActiveOwner(h) + map.TargetOwner(h);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEqual(int.MinValue, sink);
    }
}

/// <summary>The <c>--cluster</c> address and the CLI's bad-input lines.</summary>
public sealed class ClusterCliInputTests
{
    [Theory]
    [InlineData("etcd://127.0.0.1:2379", "http://127.0.0.1:2379/")]
    [InlineData("http://localhost:23790", "http://localhost:23790/")]
    public void Etcd_addresses_parse(string given, string uri) => Assert.Equal(uri, EtcdCluster.ParseEndpoint(given).ToString());

    [Theory]
    [InlineData("127.0.0.1:2379")]
    [InlineData("etcd://127.0.0.1")]
    [InlineData("etcd://127.0.0.1:0")]
    [InlineData("etcd://127.0.0.1:99999")]
    [InlineData("https://127.0.0.1:2379")]
    public void Bad_etcd_addresses_are_refused(string given) => Assert.Throws<FormatException>(() => EtcdCluster.ParseEndpoint(given));

    [Theory]
    [InlineData("cluster", "add", "--cluster", "127.0.0.1:2379", "--id", "1")]
    [InlineData("cluster", "status", "--cluster", "etcd://x")]
    [InlineData("cluster", "add", "--cluster", "etcd://127.0.0.1:2379", "--id", "-1")]
    [InlineData("server", "--cluster", "etcd://127.0.0.1:2379", "--id", "1", "--data-dir", "/tmp/x")]
    [InlineData("server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--cluster", "etcd://127.0.0.1:2379")]
    [InlineData("ycsb", "--cluster", "nope")]
    public async Task Bad_cluster_input_gives_one_error_line_and_exit_2(params string[] args)
    {
        using var p = new Scalio.Tests.Remote.ScalioProcess("cli", args);
        int code = await p.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        var errors = p.Lines.Where(l => l.StartsWith("[stderr] error:", StringComparison.Ordinal)).ToList();
        Assert.Single(errors);
    }
}
