using Scalio.Verbs;

namespace Scalio.Tests.Verbs;

public unsafe class LoopbackFabricTests
{
    private sealed class Pair : IDisposable
    {
        public readonly ProtectionDomain Local, Remote;
        public readonly QueuePair Qp, PeerQp;
        public readonly MemoryRegion LocalMr, RemoteMr;

        public Pair(MemoryAccess remoteAccess = MemoryAccess.All)
        {
            var fabric = new LoopbackFabric();
            Local = fabric.CreateDomain();
            Remote = fabric.CreateDomain();
            (Qp, PeerQp) = LoopbackFabric.CreateConnectedPair(Local, Remote);
            LocalMr = Local.Allocate(4096, MemoryAccess.All);
            RemoteMr = Remote.Allocate(4096, remoteAccess);
        }

        public Completion Post(in WorkRequest wr)
        {
            Qp.PostSend(in wr);
            Assert.True(Qp.SendQueue.TryPoll(out var wc), "expected a completion");
            return wc;
        }

        public void Dispose() { Qp.Dispose(); PeerQp.Dispose(); Local.Dispose(); Remote.Dispose(); }
    }

    [Fact]
    public void Read_write_cas_and_fetch_add_act_on_remote_memory()
    {
        using var p = new Pair();
        p.LocalMr.Span[..16].Fill(0xAB);
        Assert.True(p.Post(WorkRequest.Write(1, p.LocalMr.BaseAddress, 16, p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey)).IsSuccess);
        Assert.True(p.RemoteMr.Span.Slice(64, 16).ToArray().All(b => b == 0xAB));

        p.RemoteMr.Span.Slice(128, 8).Fill(7);
        var wc = p.Post(WorkRequest.Read(2, p.LocalMr.AddressOf(1024), 8, p.LocalMr.LocalKey, 128, p.RemoteMr.RemoteKey));
        Assert.Equal(CompletionStatus.Success, wc.Status);
        Assert.Equal(8u, wc.ByteLength);
        Assert.Equal(p.RemoteMr.Span.Slice(128, 8).ToArray(), p.LocalMr.Span.Slice(1024, 8).ToArray());

        *(ulong*)(p.RemoteMr.Address + 256) = 5;
        p.Post(WorkRequest.CompareSwap(3, p.LocalMr.AddressOf(2048), p.LocalMr.LocalKey, 256, p.RemoteMr.RemoteKey, 5, 9));
        Assert.Equal(9UL, *(ulong*)(p.RemoteMr.Address + 256));
        Assert.Equal(5UL, *(ulong*)(p.LocalMr.Address + 2048));
        p.Post(WorkRequest.CompareSwap(4, p.LocalMr.AddressOf(2048), p.LocalMr.LocalKey, 256, p.RemoteMr.RemoteKey, 5, 11));
        Assert.Equal(9UL, *(ulong*)(p.RemoteMr.Address + 256)); // compare failed: unchanged
        Assert.Equal(9UL, *(ulong*)(p.LocalMr.Address + 2048));
        p.Post(WorkRequest.FetchAdd(5, p.LocalMr.AddressOf(2048), p.LocalMr.LocalKey, 256, p.RemoteMr.RemoteKey, 3));
        Assert.Equal(12UL, *(ulong*)(p.RemoteMr.Address + 256));
        Assert.Equal(9UL, *(ulong*)(p.LocalMr.Address + 2048));
    }

    [Fact]
    public void Out_of_bounds_write_is_refused_and_memory_outside_the_region_is_untouched()
    {
        var fabric = new LoopbackFabric();
        var local = fabric.CreateDomain();
        var remote = fabric.CreateDomain();
        var (qp, peer) = LoopbackFabric.CreateConnectedPair(local, remote);
        var lmr = local.Allocate(4096, MemoryAccess.All);
        // Two adjacent regions carved out of one allocation: the write must not spill from the first into the second.
        var backing = remote.Allocate(8192, MemoryAccess.LocalWrite);
        var target = remote.Register(backing.Address, 4096, MemoryAccess.All);
        lmr.Span.Fill(0xEE);
        qp.PostSend(WorkRequest.Write(1, lmr.BaseAddress, 64, lmr.LocalKey, 4096 - 32, target.RemoteKey));
        Assert.True(qp.SendQueue.TryPoll(out var wc));
        Assert.Equal(CompletionStatus.RemoteAccessError, wc.Status);
        Assert.True(backing.Span.ToArray().All(b => b == 0), "no byte may change, inside or outside the region");
        Assert.Equal(QueuePairState.Error, qp.State);

        // Further requests are flushed, as on a NIC.
        qp.PostSend(WorkRequest.Write(2, lmr.BaseAddress, 8, lmr.LocalKey, 0, target.RemoteKey));
        Assert.True(qp.SendQueue.TryPoll(out wc));
        Assert.Equal(CompletionStatus.Flushed, wc.Status);
        Assert.True(backing.Span.ToArray().All(b => b == 0));
        local.Dispose(); remote.Dispose();
    }

    [Fact]
    public void Wrong_rkey_missing_rights_and_misaligned_atomics_complete_with_errors()
    {
        using (var p = new Pair())
        {
            var wc = p.Post(WorkRequest.Read(1, p.LocalMr.BaseAddress, 8, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey ^ 0x10000));
            Assert.Equal(CompletionStatus.RemoteAccessError, wc.Status);
        }
        using (var p = new Pair(MemoryAccess.RemoteRead))
        {
            p.LocalMr.Span.Fill(1);
            var wc = p.Post(WorkRequest.Write(1, p.LocalMr.BaseAddress, 8, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey));
            Assert.Equal(CompletionStatus.RemoteAccessError, wc.Status);
            Assert.True(p.RemoteMr.Span.ToArray().All(b => b == 0));
        }
        using (var p = new Pair())
        {
            var wc = p.Post(WorkRequest.CompareSwap(1, p.LocalMr.BaseAddress, p.LocalMr.LocalKey, 4, p.RemoteMr.RemoteKey, 0, 1));
            Assert.Equal(CompletionStatus.RemoteInvalidRequest, wc.Status);
        }
        using (var p = new Pair())
        {
            // The local buffer must lie in a region registered with the local key.
            var wc = p.Post(WorkRequest.Read(1, p.LocalMr.BaseAddress + 4090, 16, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey));
            Assert.Equal(CompletionStatus.LocalProtectionError, wc.Status);
        }
    }

    [Fact]
    public void Deregistered_region_is_no_longer_reachable()
    {
        using var p = new Pair();
        var extra = p.Remote.Allocate(64, MemoryAccess.All);
        uint key = extra.RemoteKey;
        extra.Dispose();
        var wc = p.Post(WorkRequest.Read(1, p.LocalMr.BaseAddress, 8, p.LocalMr.LocalKey, 0, key));
        Assert.Equal(CompletionStatus.RemoteAccessError, wc.Status);
    }

    [Fact]
    public void Send_consumes_a_posted_receive_and_a_chain_executes_in_order()
    {
        using var p = new Pair();
        var peerMr = p.Remote.Allocate(4096, MemoryAccess.All);
        p.PeerQp.PostReceive(new ReceiveRequest(77, peerMr.BaseAddress, 256, peerMr.LocalKey));
        "hello"u8.CopyTo(p.LocalMr.Span);
        // Chain: WRITE a word, CAS it, READ it back: in order, one doorbell.
        Span<WorkRequest> chain = stackalloc WorkRequest[3];
        chain[0] = WorkRequest.Write(1, p.LocalMr.AddressOf(512), 8, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey, WorkFlags.None);
        chain[1] = WorkRequest.CompareSwap(2, p.LocalMr.AddressOf(520), p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey, 0x4242, 0x99, WorkFlags.None);
        chain[2] = WorkRequest.Read(3, p.LocalMr.AddressOf(528), 8, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey);
        *(ulong*)(p.LocalMr.Address + 512) = 0x4242;
        p.Qp.PostSend(chain);
        Assert.True(p.Qp.SendQueue.TryPoll(out var wc));
        Assert.Equal(3UL, wc.Id); // unsignaled requests do not complete
        Assert.Equal(0x99UL, *(ulong*)(p.LocalMr.Address + 528));

        p.Qp.PostSend(WorkRequest.Send(4, p.LocalMr.BaseAddress, 5, p.LocalMr.LocalKey));
        Assert.True(p.PeerQp.ReceiveQueue.TryPoll(out var rc));
        Assert.Equal(77UL, rc.Id);
        Assert.Equal(5u, rc.ByteLength);
        Assert.Equal("hello"u8.ToArray(), peerMr.Span[..5].ToArray());
    }

    [Fact]
    public void A_chain_of_reads_and_writes_runs_in_order_and_a_bad_request_in_it_fails_alone_then_flushes_the_rest()
    {
        using var p = new Pair();
        // WRITE, READ of what was written, WRITE over it, READ again: each sees the one before it.
        Span<WorkRequest> chain = stackalloc WorkRequest[4];
        *(ulong*)(p.LocalMr.Address + 0) = 0x1111;
        *(ulong*)(p.LocalMr.Address + 8) = 0x2222;
        chain[0] = WorkRequest.Write(1, p.LocalMr.AddressOf(0), 8, p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey, WorkFlags.None);
        chain[1] = WorkRequest.Read(2, p.LocalMr.AddressOf(512), 8, p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey, WorkFlags.None);
        chain[2] = WorkRequest.Write(3, p.LocalMr.AddressOf(8), 8, p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey, WorkFlags.None);
        chain[3] = WorkRequest.Read(4, p.LocalMr.AddressOf(520), 8, p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey);
        p.Qp.PostSend(chain);
        Assert.True(p.Qp.SendQueue.TryPoll(out var wc));
        Assert.Equal((4UL, CompletionStatus.Success, 8u), (wc.Id, wc.Status, wc.ByteLength));
        Assert.False(p.Qp.SendQueue.TryPoll(out _)); // the unsignaled ones do not complete
        Assert.Equal(0x1111UL, *(ulong*)(p.LocalMr.Address + 512));
        Assert.Equal(0x2222UL, *(ulong*)(p.LocalMr.Address + 520));

        // The third READ runs past the remote region: the first two still copy, it fails, and the last is flushed.
        p.RemoteMr.Span[..16].Fill(0x5A);
        p.LocalMr.Span[1024..1100].Clear();
        chain[0] = WorkRequest.Read(5, p.LocalMr.AddressOf(1024), 8, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey);
        chain[1] = WorkRequest.Read(6, p.LocalMr.AddressOf(1032), 8, p.LocalMr.LocalKey, 8, p.RemoteMr.RemoteKey);
        chain[2] = WorkRequest.Read(7, p.LocalMr.AddressOf(1040), 16, p.LocalMr.LocalKey, 4096 - 8, p.RemoteMr.RemoteKey);
        chain[3] = WorkRequest.Read(8, p.LocalMr.AddressOf(1056), 8, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey);
        p.Qp.PostSend(chain);
        var seen = new List<(ulong, CompletionStatus)>();
        while (p.Qp.SendQueue.TryPoll(out wc)) seen.Add((wc.Id, wc.Status));
        Assert.Equal([(5UL, CompletionStatus.Success), (6UL, CompletionStatus.Success), (7UL, CompletionStatus.RemoteAccessError), (8UL, CompletionStatus.Flushed)], seen);
        Assert.True(p.LocalMr.Span.Slice(1024, 16).ToArray().All(b => b == 0x5A));
        Assert.True(p.LocalMr.Span.Slice(1056, 8).ToArray().All(b => b == 0));
    }

    [Fact]
    public void Send_without_a_posted_receive_fails_as_receiver_not_ready()
    {
        var fabric = new LoopbackFabric(new LoopbackOptions { ReceiverNotReadyTimeoutMilliseconds = 20 });
        var a = fabric.CreateDomain();
        var b = fabric.CreateDomain();
        var (qp, _) = LoopbackFabric.CreateConnectedPair(a, b);
        var mr = a.Allocate(64, MemoryAccess.All);
        qp.PostSend(WorkRequest.Send(1, mr.BaseAddress, 8, mr.LocalKey));
        Assert.True(qp.SendQueue.TryPoll(out var wc));
        Assert.Equal(CompletionStatus.ReceiverNotReady, wc.Status);
        a.Dispose(); b.Dispose();
    }

    [Fact]
    public void Concurrent_fetch_add_from_many_queue_pairs_is_atomic()
    {
        var fabric = new LoopbackFabric();
        var server = fabric.CreateDomain();
        var word = server.Allocate(64, MemoryAccess.All);
        const int threads = 4, each = 5000;
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            workers[t] = new Thread(() =>
            {
                var d = fabric.CreateDomain();
                var (qp, _) = LoopbackFabric.CreateConnectedPair(d, server);
                var mr = d.Allocate(64, MemoryAccess.All);
                for (int i = 0; i < each; i++)
                {
                    qp.PostSend(WorkRequest.FetchAdd(1, mr.BaseAddress, mr.LocalKey, 0, word.RemoteKey, 1, WorkFlags.None));
                }
            });
            workers[t].Start();
        }
        foreach (var w in workers) w.Join();
        Assert.Equal((ulong)(threads * each), *(ulong*)word.Address);
    }
}
