using System.Net;
using System.Net.Sockets;
using Scalio.Fast;
using Scalio.Fast.Client;
using Scalio.Fast.OffloadTcp;
using Scalio.Fast.Remote;
using Scalio.Fast.Server;
using Scalio.Tests.Libfabric;
using Scalio.Verbs.Libfabric;

namespace Scalio.Tests.Remote;

/// <summary>
/// The remote pieces in one process, over the real transports: a server on a libfabric domain (tcp;ofi_rxm on
/// 127.0.0.1) accepting through its side channel, the store's files served by the NVMe/TCP offload target, and
/// <see cref="RemoteScalioStore"/> clients on their own libfabric domains.
/// </summary>
public sealed class RemoteStoreTests : IDisposable
{
    private readonly InProcessRemoteRig _rig = new("scalio-remote-inproc");

    public void Dispose() => _rig.Dispose();

    private static byte[] Key(int i) => System.Text.Encoding.ASCII.GetBytes($"key-{i:D12}");

    private static byte[] Value(int i, int round)
    {
        var v = new byte[64];
        BitConverter.TryWriteBytes(v, i);
        BitConverter.TryWriteBytes(v.AsSpan(4), round);
        return v;
    }

    [LibfabricFact]
    public void Two_remote_clients_put_get_and_delete_with_misses_served_by_the_offload_target()
    {
        Assert.True(_rig.Store!.Server.UsesFabricAtomics); // tcp;ofi_rxm atomics are not coherent with the CPU's
        Assert.Throws<InvalidOperationException>(() => _rig.Store.OpenClient());
        using var remote = RemoteScalioStore.Connect(_rig.EndPoint!);
        Assert.Equal(_rig.Target!.Endpoint.Port, remote.Descriptor.OffloadTarget!.Port);
        Assert.True(remote.Descriptor.ClockUncertainty < TimeSpan.FromSeconds(1));
        const int keys = 160;
        var errors = new List<string>();
        var threads = new Thread[2];
        for (int t = 0; t < threads.Length; t++)
        {
            int id = t;
            threads[t] = new Thread(() =>
            {
                using var c = remote.OpenClient();
                var read = new byte[64];
                for (int i = id; i < keys; i += 2)
                {
                    if (c.Put(Key(i), Value(i, 1)) != OpStatus.Ok) lock (errors) errors.Add($"put {i}");
                }
                for (int i = id; i < keys; i += 2)
                {
                    for (int again = 0; again < 2; again++) // a miss (filled from the offload target), then mostly a hit
                    {
                        var st = c.Get(Key(i), read, out int n);
                        if (st != OpStatus.Ok || !read.AsSpan(0, n).SequenceEqual(Value(i, 1))) lock (errors) errors.Add($"get {i}: {st}");
                    }
                }
                for (int i = id; i < keys; i += 10)
                {
                    if (c.Delete(Key(i)) != OpStatus.Ok || c.Get(Key(i), read, out _) != OpStatus.NotFound) lock (errors) errors.Add($"delete {i}");
                }
            });
            threads[t].Start();
        }
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(40)), "client thread did not finish in 40 s");
        Assert.Empty(errors);
        var c = remote.ReadCounters();
        Assert.True(c.OffloadedReads > 60, $"expected most reads to miss: {c.OffloadedReads} offloaded reads, {c.Hits} hits");
        Assert.True(c.Hits > 0);
        Assert.True(_rig.Store.Server.RemoteClientsAccepted >= 3, $"accepted {_rig.Store.Server.RemoteClientsAccepted}, refused {_rig.Store.Server.RemoteClientsRefused}"); // the probe connection and the two sessions
    }

    [LibfabricFact]
    public void A_remote_batch_returns_hits_misses_and_absent_keys_like_single_gets()
    {
        using var remote = RemoteScalioStore.Connect(_rig.EndPoint!);
        using var c = remote.OpenClient();
        const int keys = 120; // 64 cache slots: most of a batch misses
        for (int i = 0; i < keys; i++) Assert.Equal(OpStatus.Ok, c.Put(Key(i), Value(i, 3)));
        for (int round = 0; round < 3; round++)
        {
            for (int start = 0; start < keys; start += 40)
            {
                var batch = c.BeginBatch();
                Assert.NotNull(batch);
                for (int i = start; i < start + 40; i++) batch.Add(Key(i));
                batch.Add(Key(10_000 + start)); // never stored
                Assert.Equal(OpStatus.Ok, c.Get(batch));
                for (int j = 0; j < 40; j++)
                {
                    Assert.Equal(OpStatus.Ok, batch.StatusAt(j));
                    Assert.Equal(Value(start + j, 3), batch.ValueAt(j).ToArray());
                }
                Assert.Equal(OpStatus.NotFound, batch.StatusAt(40));
            }
        }
        // The same key twice in one batch, and a batch right after a rewrite: single GETs agree.
        Assert.Equal(OpStatus.Ok, c.Put(Key(5), Value(5, 4)));
        var b = c.BeginBatch()!;
        b.Add(Key(5));
        b.Add(Key(5));
        b.Add(Key(6));
        Assert.Equal(OpStatus.Ok, c.Get(b));
        Assert.Equal(Value(5, 4), b.ValueAt(0).ToArray());
        Assert.Equal(Value(5, 4), b.ValueAt(1).ToArray());
        var read = new byte[64];
        Assert.Equal(OpStatus.Ok, c.Get(Key(6), read, out int n));
        Assert.Equal(Value(6, 3), read[..n]);
        var counters = remote.ReadCounters();
        Assert.True(counters.OffloadedReads > keys, $"expected misses read through the offload target: {counters.OffloadedReads}");
        // A batch of another connection is refused with a clear error.
        using var other = remote.OpenClient();
        var foreign = other.BeginBatch()!;
        Assert.Throws<ArgumentException>(() => c.Get(foreign));
    }

    [LibfabricFact]
    public void A_garbage_client_is_refused_and_a_vanished_client_is_disconnected_while_others_keep_working()
    {
        using (var garbage = new TcpClient())
        {
            garbage.Connect(_rig.EndPoint!);
            garbage.GetStream().Write(new byte[64]); // length 0: not a hello
        }
        using var remote = RemoteScalioStore.Connect(_rig.EndPoint!);
        var server = _rig.Store!.Server;
        using (var gone = remote.OpenClient())
        {
            Assert.Equal(OpStatus.Ok, gone.Put(Key(1), Value(1, 1)));
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((server.RemoteClientsRefused < 1 || server.RemoteClientsConnected > 0) && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.True(server.RemoteClientsRefused >= 1);
        Assert.Equal(0, server.RemoteClientsConnected);
        Assert.True(server.RemoteClientsDisconnected >= 2, $"accepted {server.RemoteClientsAccepted}, disconnected {server.RemoteClientsDisconnected}, connected {server.RemoteClientsConnected}");
        using var c = remote.OpenClient();
        var read = new byte[64];
        Assert.Equal(OpStatus.Ok, c.Get(Key(1), read, out int n));
        Assert.Equal(Value(1, 1), read[..n]);
    }

    [LibfabricFact]
    public void A_session_fails_as_unavailable_when_the_server_stops_and_reconnects_within_its_backoff_bound()
    {
        using var remote = RemoteScalioStore.Connect(_rig.EndPoint!, new RemoteStoreOptions
        {
            Client = new ScalioClientOptions { RequestTimeoutMilliseconds = 5000 },
            ReconnectTimeout = TimeSpan.FromMilliseconds(300),
        });
        using var c = remote.OpenClient();
        Assert.Equal(OpStatus.Ok, c.Put(Key(7), Value(7, 1)));
        _rig.Store!.Dispose(); // the server stops: its side channel and endpoints close
        var started = DateTime.UtcNow;
        Assert.Equal(OpStatus.Unavailable, c.Put(Key(7), Value(7, 2)));
        Assert.Equal(OpStatus.Unavailable, c.Get(Key(7), new byte[64], out _)); // reconnect tried for ReconnectTimeout, then gave up
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15));
        Assert.NotNull(c.LastFailure);
    }
}
