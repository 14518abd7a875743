using Scalio.Verbs;
using Scalio.Verbs.Libfabric;

namespace Scalio.Tests.Libfabric;

/// <summary>A fact that needs libfabric; skipped, with the reason, only where libfabric cannot be loaded.</summary>
public sealed class LibfabricFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when libfabric is not installed.</summary>
    public LibfabricFactAttribute()
    {
        if (!LibfabricFabric.IsInstalled(out string reason))
            Skip = "libfabric is not installed (apt-get install libfabric1): " + reason;
    }
}

/// <summary>Two endpoints in one process over tcp;ofi_rxm on 127.0.0.1.</summary>
public sealed unsafe class LibfabricProviderTests
{
    internal sealed class Pair : IDisposable
    {
        public readonly LibfabricFabric Fabric;
        public readonly LibfabricDomain Local, Remote;
        public readonly QueuePair Qp, PeerQp;
        public readonly MemoryRegion LocalMr, RemoteMr;

        public Pair(MemoryAccess remoteAccess = MemoryAccess.All, string provider = "tcp;ofi_rxm", bool trusted = false, QueuePairOptions? options = null)
        {
            Fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = provider, TrustedClients = trusted });
            Local = Fabric.CreateDomain();
            Remote = Fabric.CreateDomain();
            Qp = Local.CreateQueuePair(Local.CreateCompletionQueue(), Local.CreateCompletionQueue(), options);
            PeerQp = Remote.CreateQueuePair(Remote.CreateCompletionQueue(), Remote.CreateCompletionQueue(), options);
            LibfabricFabric.Connect(Qp, PeerQp);
            LocalMr = Local.Allocate(8192, MemoryAccess.All);
            RemoteMr = Remote.Allocate(4096, remoteAccess);
        }

        public Completion Post(in WorkRequest wr)
        {
            Qp.PostSend(in wr);
            return Wait(Qp.SendQueue);
        }

        public void Dispose()
        {
            Qp.Dispose();
            PeerQp.Dispose();
            Local.Dispose();
            Remote.Dispose();
            Fabric.Dispose();
        }
    }

    internal static Completion Wait(CompletionQueue cq)
    {
        Assert.True(cq.PollBlocking(out var wc, timeoutMilliseconds: 10_000), "no completion within 10 s");
        return wc;
    }

    [LibfabricFact]
    public void Opens_tcp_rxm_and_reports_its_capabilities()
    {
        using var f = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp" });
        Assert.Equal("tcp;ofi_rxm", f.ProviderName);
        Assert.False(f.VirtualAddressing);
        Assert.False(f.ProviderKeys);
        Assert.True(f.ManualProgress);
        using var d = f.CreateDomain();
        Assert.True(d.AtomicsSupported);
    }

    [LibfabricFact]
    public void Write_then_read_back()
    {
        using var p = new Pair();
        for (int i = 0; i < 256; i++) p.LocalMr.Span[i] = (byte)(i * 7 + 1);
        var wc = p.Post(WorkRequest.Write(1, p.LocalMr.BaseAddress, 256, p.LocalMr.LocalKey, 512, p.RemoteMr.RemoteKey));
        Assert.Equal(CompletionStatus.Success, wc.Status);
        Assert.Equal(1UL, wc.Id);
        Assert.Equal(WorkOpcode.Write, wc.Opcode);
        Assert.Equal(p.LocalMr.Span[..256].ToArray(), p.RemoteMr.Span.Slice(512, 256).ToArray());

        p.RemoteMr.Span.Slice(1024, 64).Fill(0x5C);
        wc = p.Post(WorkRequest.Read(2, p.LocalMr.AddressOf(4096), 64, p.LocalMr.LocalKey, 1024, p.RemoteMr.RemoteKey));
        Assert.Equal(CompletionStatus.Success, wc.Status);
        Assert.Equal(64u, wc.ByteLength);
        Assert.True(p.LocalMr.Span.Slice(4096, 64).ToArray().All(b => b == 0x5C));
        Assert.Equal(QueuePairState.ReadyToSend, p.Qp.State);
    }

    [LibfabricFact]
    public void Compare_swap_returns_the_old_value_on_success_and_failure_and_fetch_add_adds()
    {
        using var p = new Pair();
        *(ulong*)(p.RemoteMr.Address + 256) = 5;
        var wc = p.Post(WorkRequest.CompareSwap(3, p.LocalMr.AddressOf(2048), p.LocalMr.LocalKey, 256, p.RemoteMr.RemoteKey, 5, 9));
        Assert.Equal(CompletionStatus.Success, wc.Status);
        Assert.Equal(9UL, Volatile.Read(ref *(ulong*)(p.RemoteMr.Address + 256)));
        Assert.Equal(5UL, *(ulong*)(p.LocalMr.Address + 2048));

        wc = p.Post(WorkRequest.CompareSwap(4, p.LocalMr.AddressOf(2048), p.LocalMr.LocalKey, 256, p.RemoteMr.RemoteKey, 5, 11));
        Assert.Equal(CompletionStatus.Success, wc.Status);
        Assert.Equal(9UL, Volatile.Read(ref *(ulong*)(p.RemoteMr.Address + 256))); // compare failed: unchanged
        Assert.Equal(9UL, *(ulong*)(p.LocalMr.Address + 2048));

        wc = p.Post(WorkRequest.FetchAdd(5, p.LocalMr.AddressOf(2048), p.LocalMr.LocalKey, 256, p.RemoteMr.RemoteKey, 3));
        Assert.Equal(CompletionStatus.Success, wc.Status);
        Assert.Equal(12UL, Volatile.Read(ref *(ulong*)(p.RemoteMr.Address + 256)));
        Assert.Equal(9UL, *(ulong*)(p.LocalMr.Address + 2048));
    }

    [LibfabricFact]
    public void Unordered_requests_do_not_wait_and_an_unordered_unsignaled_write_is_sent_without_a_completion()
    {
        using var p = new Pair();
        Assert.True(p.Fabric.InjectSize >= 8);
        // Two CAS on different words, the second unordered (tcp;ofi_rxm would otherwise hold it until the first
        // completes), then an ordered READ: every result is right and the ordered request still completes.
        *(ulong*)(p.RemoteMr.Address + 0) = 1;
        *(ulong*)(p.RemoteMr.Address + 8) = 2;
        Span<WorkRequest> chain =
        [
            WorkRequest.CompareSwap(1, p.LocalMr.AddressOf(0), p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey, 1, 10),
            WorkRequest.CompareSwap(2, p.LocalMr.AddressOf(8), p.LocalMr.LocalKey, 8, p.RemoteMr.RemoteKey, 2, 20, WorkFlags.Signaled | WorkFlags.Unordered),
        ];
        p.Qp.PostSend(chain);
        var ids = new HashSet<ulong> { Wait(p.Qp.SendQueue).Id, Wait(p.Qp.SendQueue).Id };
        Assert.Equal([1UL, 2UL], ids.Order());
        Assert.Equal(1UL, *(ulong*)(p.LocalMr.Address + 0));
        Assert.Equal(2UL, *(ulong*)(p.LocalMr.Address + 8));
        var wc = p.Post(WorkRequest.Read(3, p.LocalMr.AddressOf(16), 16, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey));
        Assert.Equal(CompletionStatus.Success, wc.Status);
        Assert.Equal(10UL, *(ulong*)(p.LocalMr.Address + 16));
        Assert.Equal(20UL, *(ulong*)(p.LocalMr.Address + 24));

        // An unordered unsignaled 8-byte WRITE: no completion ever, the bytes land (served by the peer's progress).
        *(ulong*)(p.LocalMr.Address + 64) = 0xABCD;
        p.Qp.PostSend(WorkRequest.Write(4, p.LocalMr.AddressOf(64), 8, p.LocalMr.LocalKey, 256, p.RemoteMr.RemoteKey, WorkFlags.Unordered));
        *(ulong*)(p.LocalMr.Address + 64) = 0; // sent inline: the buffer is free at once
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Volatile.Read(ref *(ulong*)(p.RemoteMr.Address + 256)) != 0xABCD && DateTime.UtcNow < deadline)
        {
            Assert.False(p.Qp.SendQueue.PollBlocking(out var unexpected, timeoutMilliseconds: 1), $"unexpected completion {unexpected.Id}");
        }
        Assert.Equal(0xABCDUL, Volatile.Read(ref *(ulong*)(p.RemoteMr.Address + 256)));
        wc = p.Post(WorkRequest.Read(5, p.LocalMr.AddressOf(128), 8, p.LocalMr.LocalKey, 256, p.RemoteMr.RemoteKey));
        Assert.Equal(5UL, wc.Id); // the WRITE produced no completion before it
        Assert.Equal(0xABCDUL, *(ulong*)(p.LocalMr.Address + 128));
        Assert.Equal(0, p.Qp.SendQueue.Count);
    }

    [LibfabricFact]
    public void A_chain_keeps_its_order_across_kinds()
    {
        // WRITE, CAS on the written word, READ of it, FETCH_ADD, READ: tcp;ofi_rxm does not order atomics against RMA,
        // so the queue pair holds later requests back; the results must be as if executed one by one.
        using var p = new Pair();
        *(ulong*)(p.LocalMr.Address + 0) = 40;
        Span<WorkRequest> chain =
        [
            WorkRequest.Write(1, p.LocalMr.AddressOf(0), 8, p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey, WorkFlags.None),
            WorkRequest.CompareSwap(2, p.LocalMr.AddressOf(8), p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey, 40, 41, WorkFlags.None),
            WorkRequest.Read(3, p.LocalMr.AddressOf(16), 8, p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey, WorkFlags.None),
            WorkRequest.FetchAdd(4, p.LocalMr.AddressOf(24), p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey, 100, WorkFlags.None),
            WorkRequest.Read(5, p.LocalMr.AddressOf(32), 8, p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey),
        ];
        p.Qp.PostSend(chain);
        var wc = Wait(p.Qp.SendQueue);
        Assert.Equal(5UL, wc.Id); // unsignaled successes complete silently
        Assert.Equal(CompletionStatus.Success, wc.Status);
        Assert.Equal(40UL, *(ulong*)(p.LocalMr.Address + 8));
        Assert.Equal(41UL, *(ulong*)(p.LocalMr.Address + 16));
        Assert.Equal(41UL, *(ulong*)(p.LocalMr.Address + 24));
        Assert.Equal(141UL, *(ulong*)(p.LocalMr.Address + 32));
    }

    [LibfabricFact]
    public void Send_and_receive_with_and_without_immediate()
    {
        using var p = new Pair();
        var peerMr = p.RemoteMr;
        p.PeerQp.PostReceive(new ReceiveRequest(70, peerMr.AddressOf(0), 128, peerMr.LocalKey));
        p.PeerQp.PostReceive(new ReceiveRequest(71, peerMr.AddressOf(128), 128, peerMr.LocalKey));
        "hello fabric"u8.CopyTo(p.LocalMr.Span);
        var wc = p.Post(WorkRequest.Send(8, p.LocalMr.BaseAddress, 12, p.LocalMr.LocalKey));
        Assert.Equal(CompletionStatus.Success, wc.Status);
        var rc = Wait(p.PeerQp.ReceiveQueue);
        Assert.Equal(CompletionStatus.Success, rc.Status);
        Assert.Equal(70UL, rc.Id);
        Assert.Equal(WorkOpcode.Receive, rc.Opcode);
        Assert.Equal(12u, rc.ByteLength);
        Assert.False(rc.HasImmediate);
        Assert.Equal("hello fabric"u8.ToArray(), peerMr.Span[..12].ToArray());

        var imm = new WorkRequest { Id = 9, Opcode = WorkOpcode.SendWithImmediate, LocalAddress = p.LocalMr.BaseAddress, Length = 5, LocalKey = p.LocalMr.LocalKey, Immediate = 0xC0FFEE, Flags = WorkFlags.Signaled };
        Assert.Equal(CompletionStatus.Success, p.Post(imm).Status);
        rc = Wait(p.PeerQp.ReceiveQueue);
        Assert.Equal(71UL, rc.Id);
        Assert.True(rc.HasImmediate);
        Assert.Equal(0xC0FFEEu, rc.Immediate);
        Assert.Equal(5u, rc.ByteLength);
    }

    [LibfabricFact]
    public void Wrong_remote_key_is_refused_by_the_target_and_the_queue_pair_enters_the_error_state()
    {
        using var p = new Pair();
        p.LocalMr.Span[..8].Fill(0xEE);
        uint wrongKey = p.RemoteMr.RemoteKey ^ 0x00010000u;
        var wc = p.Post(WorkRequest.Write(1, p.LocalMr.BaseAddress, 8, p.LocalMr.LocalKey, 0, wrongKey));
        Assert.Equal(CompletionStatus.RemoteAccessError, wc.Status);
        Assert.True(p.RemoteMr.Span.ToArray().All(b => b == 0));
        Assert.Equal(QueuePairState.Error, p.Qp.State);

        // Further requests are flushed, as with the loopback provider.
        wc = p.Post(WorkRequest.Write(2, p.LocalMr.BaseAddress, 8, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey));
        Assert.Equal(CompletionStatus.Flushed, wc.Status);
        Assert.True(p.RemoteMr.Span.ToArray().All(b => b == 0));
    }

    [LibfabricFact]
    public void Wrong_key_on_read_and_atomics_is_refused()
    {
        foreach (var op in new[] { WorkOpcode.Read, WorkOpcode.CompareSwap, WorkOpcode.FetchAdd })
        {
            using var p = new Pair();
            uint wrongKey = p.RemoteMr.RemoteKey + 1;
            var wr = op switch
            {
                WorkOpcode.Read => WorkRequest.Read(1, p.LocalMr.BaseAddress, 8, p.LocalMr.LocalKey, 0, wrongKey),
                WorkOpcode.CompareSwap => WorkRequest.CompareSwap(1, p.LocalMr.BaseAddress, p.LocalMr.LocalKey, 0, wrongKey, 0, 1),
                _ => WorkRequest.FetchAdd(1, p.LocalMr.BaseAddress, p.LocalMr.LocalKey, 0, wrongKey, 1),
            };
            Assert.Equal(CompletionStatus.RemoteAccessError, p.Post(wr).Status);
            Assert.Equal(0UL, *(ulong*)p.RemoteMr.Address);
        }
    }

    [LibfabricFact]
    public void Out_of_bounds_and_missing_rights_are_refused_by_the_target()
    {
        using (var p = new Pair())
        {
            p.LocalMr.Span.Fill(0xEE);
            var wc = p.Post(WorkRequest.Write(1, p.LocalMr.BaseAddress, 64, p.LocalMr.LocalKey, 4096 - 32, p.RemoteMr.RemoteKey));
            Assert.Equal(CompletionStatus.RemoteAccessError, wc.Status);
            Assert.True(p.RemoteMr.Span.ToArray().All(b => b == 0));
        }
        using (var p = new Pair())
        {
            var wc = p.Post(WorkRequest.Read(1, p.LocalMr.BaseAddress, 16, p.LocalMr.LocalKey, 4090, p.RemoteMr.RemoteKey));
            Assert.Equal(CompletionStatus.RemoteAccessError, wc.Status);
        }
        using (var p = new Pair(MemoryAccess.RemoteRead | MemoryAccess.LocalWrite))
        {
            var wc = p.Post(WorkRequest.Write(1, p.LocalMr.BaseAddress, 8, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey));
            Assert.Equal(CompletionStatus.RemoteAccessError, wc.Status);
        }
    }

    [LibfabricFact]
    public void Local_buffer_outside_its_region_is_a_local_protection_error()
    {
        using var p = new Pair();
        var wc = p.Post(WorkRequest.Read(1, p.LocalMr.AddressOf(8192 - 4), 8, p.LocalMr.LocalKey, 0, p.RemoteMr.RemoteKey));
        Assert.Equal(CompletionStatus.LocalProtectionError, wc.Status);
        Assert.Equal(QueuePairState.Error, p.Qp.State);
    }

    [LibfabricFact]
    public void A_message_larger_than_the_receive_buffer_is_a_local_length_error_at_the_receiver()
    {
        using var p = new Pair();
        p.PeerQp.PostReceive(new ReceiveRequest(1, p.RemoteMr.AddressOf(0), 16, p.RemoteMr.LocalKey));
        p.Qp.PostSend(WorkRequest.Send(2, p.LocalMr.BaseAddress, 64, p.LocalMr.LocalKey));
        var rc = Wait(p.PeerQp.ReceiveQueue);
        Assert.Equal(1UL, rc.Id);
        Assert.Equal(CompletionStatus.LocalLengthError, rc.Status);
        Assert.Equal(QueuePairState.Error, p.PeerQp.State);
    }

    [LibfabricFact]
    public void Requests_on_an_unconnected_queue_pair_complete_with_an_error()
    {
        using var fabric = LibfabricFabric.Open();
        using var domain = fabric.CreateDomain();
        var qp = domain.CreateQueuePair(domain.CreateCompletionQueue(), domain.CreateCompletionQueue());
        var mr = domain.Allocate(64, MemoryAccess.All);
        qp.PostSend(WorkRequest.Write(1, mr.BaseAddress, 8, mr.LocalKey, 0, mr.RemoteKey));
        Assert.Equal(CompletionStatus.RemoteInvalidRequest, Wait(qp.SendQueue).Status);
        Assert.Equal(QueuePairState.Reset, qp.State);
        qp.Dispose();
        Assert.Equal(QueuePairState.Closed, qp.State);
    }

    [LibfabricFact]
    public void Pending_receives_are_flushed_when_the_queue_pair_is_disposed()
    {
        using var p = new Pair();
        p.PeerQp.PostReceive(new ReceiveRequest(1, p.RemoteMr.AddressOf(0), 64, p.RemoteMr.LocalKey));
        p.PeerQp.PostReceive(new ReceiveRequest(2, p.RemoteMr.AddressOf(64), 64, p.RemoteMr.LocalKey));
        p.PeerQp.Dispose();
        Assert.Equal(QueuePairState.Closed, p.PeerQp.State);
        var a = Wait(p.PeerQp.ReceiveQueue);
        var b = Wait(p.PeerQp.ReceiveQueue);
        Assert.Equal(CompletionStatus.Flushed, a.Status);
        Assert.Equal(CompletionStatus.Flushed, b.Status);
        Assert.Equal(new ulong[] { 1, 2 }, new[] { a.Id, b.Id }.Order().ToArray());
    }

    [LibfabricFact]
    public void Shm_with_trusted_clients_runs_rma_and_atomics()
    {
        using var p = new Pair(provider: "shm", trusted: true);
        Assert.True(p.Fabric.VirtualAddressing);
        p.LocalMr.Span[..16].Fill(0x11);
        Assert.Equal(CompletionStatus.Success, p.Post(WorkRequest.Write(1, p.LocalMr.BaseAddress, 16, p.LocalMr.LocalKey, 32, p.RemoteMr.RemoteKey)).Status);
        Assert.True(p.RemoteMr.Span.Slice(32, 16).ToArray().All(b => b == 0x11));
        *(ulong*)(p.RemoteMr.Address + 64) = 3;
        Assert.Equal(CompletionStatus.Success, p.Post(WorkRequest.CompareSwap(2, p.LocalMr.AddressOf(128), p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey, 3, 4)).Status);
        Assert.Equal(3UL, *(ulong*)(p.LocalMr.Address + 128));
        Assert.Equal(4UL, Volatile.Read(ref *(ulong*)(p.RemoteMr.Address + 64)));
        Assert.Equal(CompletionStatus.Success, p.Post(WorkRequest.Read(3, p.LocalMr.AddressOf(256), 8, p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey)).Status);
        Assert.Equal(4UL, *(ulong*)(p.LocalMr.Address + 256));
        // A key the queue pair cannot translate is refused before it reaches shm (shm addresses by virtual address).
        Assert.Equal(CompletionStatus.RemoteAccessError, p.Post(WorkRequest.Read(4, p.LocalMr.AddressOf(256), 8, p.LocalMr.LocalKey, 64, p.RemoteMr.RemoteKey + 1)).Status);
    }

    [LibfabricFact]
    public void Shm_is_refused_unless_clients_are_trusted()
    {
        var e = Assert.Throws<InvalidOperationException>(() => LibfabricFabric.Open(new LibfabricOptions { Provider = "shm" }));
        Assert.Contains("TrustedClients", e.Message);
    }

    [LibfabricFact]
    public void Verbs_fails_clearly_when_no_rdma_device_exists()
    {
        if (File.Exists("/sys/class/infiniband") || Directory.Exists("/sys/class/infiniband") && Directory.EnumerateFileSystemEntries("/sys/class/infiniband").Any())
            return; // a machine with an RDMA device: nothing to check here
        var e = Assert.Throws<LibfabricUnavailableException>(() => LibfabricFabric.Open(new LibfabricOptions { Provider = "verbs" }));
        Assert.Contains("verbs;ofi_rxm", e.Message);
        Assert.Contains("RDMA", e.Message);
    }
}

/// <summary>The TCP side channel: a client finds the server's endpoint, regions and descriptor, then runs RMA over tcp;ofi_rxm.</summary>
public sealed class LibfabricBootstrapTests
{
    [LibfabricFact]
    public async Task Client_connects_through_the_side_channel_and_uses_the_exported_region()
    {
        using var fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp" });
        using var serverDomain = fabric.CreateDomain();
        using var clientDomain = fabric.CreateDomain();
        var cache = serverDomain.Allocate(4096, MemoryAccess.All);
        var reply = clientDomain.Allocate(4096, MemoryAccess.All);
        byte[] descriptor = "server-descriptor-v1"u8.ToArray();
        using var listener = new LibfabricListener(serverDomain, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0),
            hello => ([serverDomain.Describe(cache)], descriptor));
        var accept = listener.AcceptAsync();
        using var client = await Task.Run(() => LibfabricConnector.Connect(clientDomain, listener.LocalEndPoint, [clientDomain.Describe(reply)], "client-1"u8.ToArray()));
        using var server = await accept.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(descriptor, client.Peer.Descriptor);
        Assert.Equal("client-1"u8.ToArray(), server.Peer.Descriptor);
        var region = Assert.Single(client.Peer.Regions);
        Assert.Equal(cache.RemoteKey, region.RemoteKey);
        Assert.Equal(4096UL, region.Length);
        Assert.True(client.IsPeerConnected);

        // Client -> server: fetch-add on the exported region.
        var qp = client.QueuePair;
        qp.PostSend(WorkRequest.FetchAdd(1, reply.AddressOf(0), reply.LocalKey, 64, cache.RemoteKey, 7));
        Assert.Equal(CompletionStatus.Success, LibfabricProviderTests.Wait(qp.SendQueue).Status);
        Assert.Equal(7UL, System.Runtime.InteropServices.MemoryMarshal.Read<ulong>(cache.Span[64..]));

        // Server -> client: write into the region the client exported.
        cache.Span[..4].Fill(0x42);
        server.QueuePair.PostSend(WorkRequest.Write(2, cache.BaseAddress, 4, cache.LocalKey, 100, reply.RemoteKey));
        Assert.Equal(CompletionStatus.Success, LibfabricProviderTests.Wait(server.QueuePair.SendQueue).Status);
        Assert.Equal(new byte[] { 0x42, 0x42, 0x42, 0x42 }, reply.Span.Slice(100, 4).ToArray());

        client.Dispose();
        long deadline = Environment.TickCount64 + 5000;
        while (server.IsPeerConnected && Environment.TickCount64 < deadline) Thread.Sleep(10);
        Assert.False(server.IsPeerConnected);
    }

    [LibfabricFact]
    public async Task A_client_that_sends_garbage_is_refused_and_the_next_one_is_served()
    {
        using var fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp" });
        using var serverDomain = fabric.CreateDomain();
        using var clientDomain = fabric.CreateDomain();
        var cache = serverDomain.Allocate(4096, MemoryAccess.All);
        using var listener = new LibfabricListener(serverDomain, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0),
            hello => ([serverDomain.Describe(cache)], []));
        using (var raw = new System.Net.Sockets.TcpClient())
        {
            await raw.ConnectAsync(listener.LocalEndPoint.Address, listener.LocalEndPoint.Port);
            var junk = new byte[BootstrapAdmission.AnswerSize]; // an admission answer's size, without its magic
            await raw.GetStream().WriteAsync(junk);
            await Assert.ThrowsAsync<InvalidDataException>(() => listener.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(20)));
        }
        var accept = listener.AcceptAsync();
        using var client = await Task.Run(() => LibfabricConnector.Connect(clientDomain, listener.LocalEndPoint));
        using var server = await accept.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(QueuePairState.ReadyToSend, client.QueuePair.State);
    }

    [Fact]
    public void Malformed_hellos_are_refused()
    {
        var ok = new BootstrapHello { Provider = "tcp;ofi_rxm", Address = [1, 2, 3], Regions = [new RemoteRegion(5, 6, 7, 8, MemoryAccess.RemoteRead)], Descriptor = [9] }.Encode();
        var body = ok[4..];
        var back = BootstrapHello.Decode(body);
        Assert.Equal("tcp;ofi_rxm", back.Provider);
        Assert.Equal(new RemoteRegion(5, 6, 7, 8, MemoryAccess.RemoteRead), Assert.Single(back.Regions));
        for (int cut = 0; cut < body.Length; cut++)
            Assert.Throws<InvalidDataException>(() => BootstrapHello.Decode(body.AsSpan(0, cut)));
        var badMagic = (byte[])body.Clone();
        badMagic[0] ^= 1;
        Assert.Throws<InvalidDataException>(() => BootstrapHello.Decode(badMagic));
    }
}
