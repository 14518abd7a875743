using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Scalio.Fast.Remote;
using Scalio.Fast;
using Scalio.Fast.Rpc;
using Scalio.Fast.Server;
using Scalio.Tests.Libfabric;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;

namespace Scalio.Tests.Remote;

/// <summary>Issue 18 item 5: concurrent handshakes with a time-out, a connection cap, a hello size cap, and the
/// per-client in-flight cap, each against a misbehaving peer on 127.0.0.1.</summary>
public sealed class SideChannelLimitsTests
{
    /// <summary>True once the server closed <paramref name="socket"/> (readable with nothing to read).</summary>
    private static bool ClosedByServer(Socket socket) => socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0;

    [LibfabricFact]
    public void A_slowloris_peer_does_not_delay_other_clients_and_is_dropped_at_the_handshake_timeout()
    {
        var timeout = TimeSpan.FromSeconds(6);
        using var rig = new SideChannelRig(new ServerListenOptions { HandshakeTimeout = timeout });
        var stalled = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                var s = new TcpClient();
                s.Connect(rig.EndPoint);
                s.GetStream().ReadExactly(new byte[BootstrapAdmission.ChallengeSize]); // then never answer
                stalled.Add(s);
            }
            var started = Stopwatch.StartNew();
            // Serial handshakes would serve this client only after the three stalled ones timed out (18 s), past its 5 s connect timeout.
            using (var remote = RemoteScalioStore.Connect(rig.EndPoint))
            using (var c = remote.OpenClient())
            {
                Assert.Equal(OpStatus.Ok, c.Put("slowloris-key-01"u8, new byte[64]));
            }
            var served = started.Elapsed;
            Assert.All(stalled, s => Assert.False(ClosedByServer(s.Client), $"a stalled peer was dropped before the good client was served ({served.TotalSeconds:F1} s): handshakes ran one after another"));
            Assert.True(served < timeout, $"the good client took {served.TotalSeconds:F1} s");

            SideChannelRig.WaitUntil(() => stalled.All(s => ClosedByServer(s.Client)), timeout + TimeSpan.FromSeconds(10), "the stalled peers to be dropped");
            Assert.Equal(3, rig.Refusals.Count(r => r.StartsWith("no complete handshake within 6 s", StringComparison.Ordinal)));
            Assert.Equal(0, rig.Server.RemoteClientsHandshaking);
        }
        finally
        {
            foreach (var s in stalled) s.Dispose();
        }
    }

    [LibfabricFact]
    public void Connections_beyond_the_maximum_are_refused_as_busy_until_one_closes()
    {
        using var rig = new SideChannelRig(new ServerListenOptions { MaxConnections = 2 });
        using var remote = RemoteScalioStore.Connect(rig.EndPoint);
        SideChannelRig.WaitUntil(() => rig.Server.RemoteClientsConnected == 0, TimeSpan.FromSeconds(10), "the probe session to close");
        var first = remote.OpenClient();
        using var second = remote.OpenClient();
        var busy = Assert.Throws<IOException>(() => remote.OpenClient());
        Assert.Contains("connection limit", busy.Message);
        Assert.Equal(1, rig.Server.RemoteClientsOverLimit);
        Assert.Contains(rig.Refusals, r => r == "connection limit of 2 reached");

        first.Dispose();
        SideChannelRig.WaitUntil(() => rig.Server.RemoteClientsConnected == 1, TimeSpan.FromSeconds(10), "the closed session to be noticed");
        using var third = remote.OpenClient();
        Assert.Equal(OpStatus.Ok, third.Put("limit-key-00001"u8, new byte[64]));
        Assert.Equal(2, rig.Server.RemoteClientsConnected);
    }

    [LibfabricFact]
    public void A_hello_announced_larger_than_the_maximum_drops_the_peer_before_its_body_is_read()
    {
        using var rig = new SideChannelRig(new ServerListenOptions { MaxHelloBytes = 4096, HandshakeTimeout = TimeSpan.FromSeconds(20) });
        using var tcp = new TcpClient();
        tcp.Connect(rig.EndPoint);
        var stream = tcp.GetStream();
        stream.ReadExactly(new byte[BootstrapAdmission.ChallengeSize]);
        var answer = new byte[BootstrapAdmission.AnswerSize];
        BinaryPrimitives.WriteUInt32LittleEndian(answer, BootstrapAdmission.Magic);
        stream.Write(answer); // no token needed here
        var verdict = new byte[BootstrapAdmission.VerdictSize];
        stream.ReadExactly(verdict);
        Assert.Equal((byte)BootstrapAdmission.Verdict.Admitted, verdict[0]);

        var started = Stopwatch.StartNew();
        var length = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, 100_000);
        stream.Write(length); // and never the 100 000 bytes
        tcp.ReceiveTimeout = 15_000;
        Assert.Equal(0, stream.Read(new byte[16])); // closed by the server, not left to the 20 s handshake timeout
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"dropped after {started.Elapsed.TotalSeconds:F1} s");
        SideChannelRig.WaitUntil(() => !rig.Refusals.IsEmpty, TimeSpan.FromSeconds(5), "the refusal line");
        Assert.Contains(rig.Refusals, r => r.Contains("100000 bytes exceeds the limit of 4096", StringComparison.Ordinal));

        // A normal client still gets in.
        using var remote = RemoteScalioStore.Connect(rig.EndPoint);
        Assert.Equal(1, rig.Server.RemoteClientsAccepted);
    }

    [LibfabricFact]
    public void Clients_that_send_many_requests_at_once_have_at_most_the_cap_in_flight_at_the_server_and_all_are_answered()
    {
        const int cap = 2, requests = 32;
        using var rig = new SideChannelRig(new ServerListenOptions(), inFlightPerClient: cap);
        using var fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp", Node = "127.0.0.1" });
        // Two raw clients at once: with two writers the server holds a write for the other's (group commit), so a
        // client's second request can arrive while its first is still held: the cap, not the commit, bounds them.
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        // Whether two requests of one client ever overlap depends on scheduling: up to 5 rounds until one does.
        for (int round = 0; round < 5 && rig.Server.PeakRequestsInFlightPerConnection < 2; round++)
        {
            var threads = new Thread[2];
            for (int t = 0; t < threads.Length; t++)
            {
                int id = round * threads.Length + t;
                threads[t] = new Thread(() =>
                {
                    try
                    {
                        Blast(fabric, rig.EndPoint, id, requests);
                    }
                    catch (Exception e)
                    {
                        errors.Enqueue($"client {id}: {e.GetType().Name}: {e.Message}");
                    }
                });
                threads[t].Start();
            }
            foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a raw client did not finish in 60 s");
            Assert.Empty(errors);
        }
        int peak = rig.Server.PeakRequestsInFlightPerConnection;
        Assert.True(peak <= cap, $"the server held {peak} requests of one client, more than the cap of {cap}");
        Assert.True(peak >= 2, $"peak {peak}: no client's back-to-back requests ever overlapped at the server, so the cap was not exercised");
    }

    /// <summary>A raw client: posts <paramref name="requests"/> PUTs back to back without waiting, then collects every reply.</summary>
    private static void Blast(LibfabricFabric fabric, IPEndPoint server, int client, int requests)
    {
        using var domain = fabric.CreateDomain();
        using var link = LibfabricConnector.Connect(domain, server, options: new QueuePairOptions { MaxReceives = requests });
        const int slot = 256;
        using var mr = domain.Allocate((nuint)(2 * requests * slot), MemoryAccess.All, 4096);
        var qp = link.QueuePair;
        for (int i = 0; i < requests; i++) qp.PostReceive(new ReceiveRequest((ulong)i, mr.AddressOf((requests + i) * slot), slot, mr.LocalKey));
        var value = new byte[64];
        for (int i = 0; i < requests; i++)
        {
            int n = RpcFormat.WriteRequest(mr.Span.Slice(i * slot, slot), RpcOp.Put, (ulong)(1000 + i), System.Text.Encoding.ASCII.GetBytes($"inflight-{client}-{i:D5}"), value);
            qp.PostSend(WorkRequest.Send((ulong)i, mr.AddressOf(i * slot), (uint)n, mr.LocalKey));
        }
        var answered = new HashSet<ulong>();
        var deadline = Stopwatch.StartNew();
        while (answered.Count < requests)
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"{answered.Count} of {requests} replies in 30 s");
            while (qp.SendQueue.TryPoll(out var sent))
            {
                if (sent.Status != CompletionStatus.Success) throw new IOException($"send failed: {sent.Status}");
            }
            if (!qp.ReceiveQueue.TryPoll(out var wc))
            {
                Thread.Yield();
                continue;
            }
            if (wc.Status != CompletionStatus.Success) throw new IOException($"receive failed: {wc.Status}");
            if (!RpcFormat.TryReadReply(mr.Span.Slice((requests + (int)wc.Id) * slot, (int)wc.ByteLength), out var status, out ulong id, out _) || status != OpStatus.Ok)
                throw new IOException($"bad reply: {status}");
            if (!answered.Add(id)) throw new IOException($"reply {id} twice");
        }
    }
}
