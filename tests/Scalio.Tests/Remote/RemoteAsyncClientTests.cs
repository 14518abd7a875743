#pragma warning disable CA2012 // many ValueTasks in flight on purpose, each consumed exactly once
using System.Net;
using Scalio.Fast;
using Scalio.Fast.Client;
using Scalio.Fast.OffloadTcp;
using Scalio.Fast.Remote;
using Scalio.Fast.Server;
using Scalio.Tests.Libfabric;
using Scalio.Verbs.Libfabric;

namespace Scalio.Tests.Remote;

/// <summary>The async client over a remote store (libfabric tcp on 127.0.0.1, misses through the NVMe/TCP offload
/// target): batched answers equal to the sync session's, and operations that fail rather than hang when the server goes.</summary>
public sealed class RemoteAsyncClientTests : IDisposable
{
    private readonly InProcessRemoteRig _rig = new("scalio-remote-async");

    public void Dispose() => _rig.Dispose();

    private static byte[] Key(int i) => System.Text.Encoding.ASCII.GetBytes($"key-{i:D12}");

    private static byte[] Value(int i, int round) => System.Text.Encoding.ASCII.GetBytes($"value-{i}-{round}");

    private static T Wait<T>(ValueTask<T> task) => task.AsTask().WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();

    [LibfabricFact]
    public void Async_gets_puts_and_deletes_over_a_remote_store_answer_as_the_sync_session_does()
    {
        using var remote = RemoteScalioStore.Connect(_rig.EndPoint!);
        using var client = remote.OpenAsyncClient();
        using var sync = remote.OpenClient();
        const int keys = 200;
        var puts = new ValueTask<OpStatus>[keys];
        for (int i = 0; i < keys; i++) puts[i] = client.PutAsync(Key(i), Value(i, 1));
        for (int i = 0; i < keys; i++) Assert.Equal(OpStatus.Ok, Wait(puts[i]));
        var buffers = new byte[64][];
        for (int j = 0; j < buffers.Length; j++) buffers[j] = new byte[client.Layout.ValueCapacity];
        var gets = new ValueTask<ScalioGetResult>[64];
        var single = new byte[client.Layout.ValueCapacity];
        for (int start = 0; start < keys + 64; start += 64)
        {
            for (int j = 0; j < gets.Length; j++) gets[j] = client.GetAsync(Key(start + j), buffers[j]); // past 200: absent
            for (int j = 0; j < gets.Length; j++)
            {
                var r = Wait(gets[j]);
                var st = sync.Get(Key(start + j), single, out int len);
                Assert.Equal(st, r.Status);
                Assert.Equal(start + j < keys ? OpStatus.Ok : OpStatus.NotFound, r.Status);
                Assert.True(single.AsSpan(0, len).SequenceEqual(buffers[j].AsSpan(0, r.ValueLength)));
            }
        }
        Assert.Equal(OpStatus.Ok, Wait(client.DeleteAsync(Key(3))));
        Assert.Equal(OpStatus.NotFound, Wait(client.GetAsync(Key(3), single)).Status);
        var c = remote.ReadCounters();
        Assert.True(c.BatchedGets >= 2 * c.Batches, $"{c.BatchedGets} GETs in {c.Batches} batches");
        Assert.True(c.OffloadedReads > 0, "misses must read through the offload target");
    }

    [LibfabricFact]
    public void Async_operations_complete_unavailable_when_the_server_stops()
    {
        using var remote = RemoteScalioStore.Connect(_rig.EndPoint!, new RemoteStoreOptions
        {
            Client = new ScalioClientOptions { RequestTimeoutMilliseconds = 5000 },
            ReconnectTimeout = TimeSpan.FromMilliseconds(300),
        });
        var client = remote.OpenAsyncClient();
        var buffer = new byte[client.Layout.ValueCapacity];
        Assert.Equal(OpStatus.Ok, Wait(client.PutAsync(Key(7), Value(7, 1))));
        _rig.Store!.Dispose(); // the server stops: its side channel and endpoints close
        var started = DateTime.UtcNow;
        var put = client.PutAsync(Key(7), Value(7, 2));
        var get = client.GetAsync(Key(7), buffer);
        Assert.Equal(OpStatus.Unavailable, Wait(put));
        Assert.Equal(OpStatus.Unavailable, Wait(get).Status);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(30));
        client.Dispose();
        Assert.Throws<ObjectDisposedException>(() => client.GetAsync(Key(7), buffer));
    }
}
