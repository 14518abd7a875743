using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Scalio.Fast;
using Scalio.Fast.OffloadTcp;
using Scalio.Fast.Remote;
using Scalio.Fast.Server;
using Scalio.Tests.Libfabric;
using Scalio.Tests.Storage;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;
using Scalio.Offload;

namespace Scalio.Tests.Remote;

/// <summary>
/// A server on libfabric (tcp;ofi_rxm, 127.0.0.1) with its side channel, the store's files behind the NVMe/TCP offload
/// target, in this process; every test's sockets and clients are closed at dispose.
/// </summary>
internal sealed class SideChannelRig : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly LibfabricFabric _fabric;

    public SideChannelRig(ServerListenOptions listen, int inFlightPerClient = 2)
    {
        _fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp" });
        Store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = 1000, CacheBuckets = 8, DataDirectory = _dir.Path, ServerDomain = _fabric.CreateDomain(),
            MaxRequestsInFlightPerClient = inFlightPerClient,
        });
        // The offload target admits only the host NQN derived from the token, as 'scalio target --auth-token-file' does.
        Target = StoreOffloadTarget.Open(_dir.Path, new StoreOffloadTargetOptions
        {
            Endpoint = new IPEndPoint(IPAddress.Loopback, 0), Threads = 1,
            AllowedHosts = listen.Token is { } t ? [t.OffloadHostNqn, .. listen.ReaderToken is { } r ? [r.OffloadHostNqn] : Array.Empty<string>()] : null,
        });
        Store.Server.RemoteClientRefused += (peer, reason) => Refusals.Enqueue(reason);
        EndPoint = Store.Server.Listen(new IPEndPoint(IPAddress.Loopback, 0), new OffloadTargetEndpoint("127.0.0.1", Target.Endpoint.Port, Target.SubsystemNqn), listen);
    }

    public ScalioStore Store { get; }

    public ScalioServer Server => Store.Server;

    public StoreOffloadTarget Target { get; }

    public IPEndPoint EndPoint { get; }

    public ConcurrentQueue<string> Refusals { get; } = new();

    public static void WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < timeout, $"timed out after {timeout.TotalSeconds} s waiting for {what}");
            Thread.Sleep(20);
        }
    }

    public void Dispose()
    {
        Store.Dispose();
        Target.Dispose();
        _fabric.Dispose();
        _dir.Dispose();
    }
}

/// <summary>Issue 18 item 3: clients prove the shared token before the server sends any region key or descriptor.</summary>
public sealed class SideChannelAdmissionTests
{
    private static readonly AuthToken Token = AuthToken.FromBytes("correct horse battery staple 42!"u8);
    private static readonly AuthToken Wrong = AuthToken.FromBytes("incorrect horse battery staple!!"u8);

    private static byte[] Key(int i) => System.Text.Encoding.ASCII.GetBytes($"auth-{i:D11}");

    /// <summary>Plays a client by hand: reads the challenge, answers with <paramref name="proof"/> (null: none), then
    /// reads everything the server sends until it closes. Returns every byte received.</summary>
    private static byte[] RawAdmission(IPEndPoint server, Func<byte[], byte[]?> proof)
    {
        using var tcp = new TcpClient();
        tcp.Connect(server);
        tcp.ReceiveTimeout = 15_000;
        var stream = tcp.GetStream();
        var challenge = new byte[BootstrapAdmission.ChallengeSize];
        stream.ReadExactly(challenge);
        var answer = new byte[BootstrapAdmission.AnswerSize];
        BinaryPrimitives.WriteUInt32LittleEndian(answer, BootstrapAdmission.Magic);
        byte[] nc = new byte[32];
        Random.Shared.NextBytes(nc);
        nc.CopyTo(answer, 8);
        if (proof(challenge) is { } p)
        {
            answer[4] = 1;
            p.CopyTo(answer, 40);
        }
        stream.Write(answer);
        var all = new MemoryStream();
        all.Write(challenge);
        stream.CopyTo(all); // until the server closes (or the 15 s receive timeout fails the test)
        return all.ToArray();
    }

    /// <summary>Exactly a challenge saying a token is required, then a refusal verdict of 36 bytes whose proof field is
    /// zero: every byte is accounted for, so no region key, hello or descriptor can be among them.</summary>
    private static void AssertOnlyChallengeAndRefusal(byte[] received, BootstrapAdmission.Verdict expected)
    {
        Assert.Equal(BootstrapAdmission.ChallengeSize + BootstrapAdmission.VerdictSize, received.Length);
        Assert.Equal(BootstrapAdmission.Magic, BinaryPrimitives.ReadUInt32LittleEndian(received));
        Assert.Equal(1, received[5]); // token required
        var verdict = received.AsSpan(BootstrapAdmission.ChallengeSize);
        Assert.Equal((byte)expected, verdict[0]);
        Assert.True(verdict[1..].IndexOfAnyExcept((byte)0) < 0, "the refusal carries nothing but its status");
        Assert.True(received.AsSpan().IndexOf(BitConverter.GetBytes(BootstrapHello.Magic)) < 0, "no bootstrap hello was sent");
    }

    [LibfabricFact]
    public void A_client_without_the_token_or_with_a_wrong_one_gets_no_region_key_and_is_not_retried()
    {
        using var rig = new SideChannelRig(new ServerListenOptions { Token = Token });

        AssertOnlyChallengeAndRefusal(RawAdmission(rig.EndPoint, _ => null), BootstrapAdmission.Verdict.NoToken);
        AssertOnlyChallengeAndRefusal(RawAdmission(rig.EndPoint, challenge => Wrong.Mac("scalio-client-v1", challenge[8..40], new byte[32])),
            BootstrapAdmission.Verdict.WrongToken);

        var none = Assert.Throws<BootstrapRefusedException>(() => RemoteScalioStore.Connect(rig.EndPoint));
        Assert.Contains("requires an auth token", none.Message);
        var wrong = Assert.Throws<BootstrapRefusedException>(() => RemoteScalioStore.Connect(rig.EndPoint, new RemoteStoreOptions { AuthToken = Wrong }));
        Assert.Contains("wrong auth token", wrong.Message);
        Assert.False(RemoteScalioStore.IsTransient(wrong)); // a reconnect loop gives up on it

        SideChannelRig.WaitUntil(() => rig.Server.RemoteClientsDeniedAdmission == 4, TimeSpan.FromSeconds(10), "four refusals");
        Assert.Equal(0, rig.Server.RemoteClientsAccepted);
        Assert.Equal(4, rig.Refusals.Count(r => r.StartsWith("admission refused:", StringComparison.Ordinal)));
        Assert.Equal(2, rig.Refusals.Count(r => r.Contains("wrong auth token", StringComparison.Ordinal)));
    }

    [LibfabricFact]
    public void A_client_with_the_token_is_admitted_and_its_misses_are_served_by_the_offload_target_that_admits_the_derived_host()
    {
        using var rig = new SideChannelRig(new ServerListenOptions { Token = Token });
        using var remote = RemoteScalioStore.Connect(rig.EndPoint, new RemoteStoreOptions { AuthToken = AuthToken.FromBytes("correct horse battery staple 42!"u8) });
        using var c = remote.OpenClient();
        var value = new byte[64];
        var read = new byte[64];
        for (int i = 0; i < 40; i++)
        {
            value[0] = (byte)i;
            Assert.Equal(OpStatus.Ok, c.Put(Key(i), value));
        }
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key(i), read, out int n));
            Assert.Equal(i, read[0]);
            Assert.Equal(64, n);
        }
        Assert.True(remote.ReadCounters().OffloadedReads > 0, "some reads missed the 64-slot cache and went to the offload target");
        Assert.Equal(0, rig.Target.Target.HostsRefused);

        // Any other host NQN is refused by the target: only holders of the token know the derived one.
        var refused = Assert.Throws<NvmeCommandException>(() => NvmeTcpOffloadReadPath.Connect("127.0.0.1", rig.Target.Endpoint.Port, rig.Target.SubsystemNqn,
            new NvmeTcpOffloadReadPathOptions { HostNqn = Wrong.OffloadHostNqn, Reconnect = false }));
        Assert.Equal(NvmeStatus.ConnectInvalidHost, refused.Status);
        Assert.Equal(1, rig.Target.Target.HostsRefused);
    }

    [LibfabricFact]
    public void A_client_with_a_token_refuses_a_server_that_cannot_prove_it_holds_it()
    {
        using var open = new SideChannelRig(new ServerListenOptions());
        var e = Assert.Throws<BootstrapRefusedException>(() => RemoteScalioStore.Connect(open.EndPoint, new RemoteStoreOptions { AuthToken = Token }));
        Assert.Contains("requires no auth token", e.Message);

        using var other = new SideChannelRig(new ServerListenOptions { Token = Wrong });
        // A server with another token: it refuses our proof before it could prove anything.
        Assert.Throws<BootstrapRefusedException>(() => RemoteScalioStore.Connect(other.EndPoint, new RemoteStoreOptions { AuthToken = Token }));
    }

    [LibfabricFact]
    public void A_reader_token_admits_gets_and_the_server_refuses_the_readers_put_and_delete()
    {
        var readerToken = AuthToken.FromBytes("reader token, not the writer's!!"u8);
        using var rig = new SideChannelRig(new ServerListenOptions { Token = Token, ReaderToken = readerToken });
        using var writer = RemoteScalioStore.Connect(rig.EndPoint, new RemoteStoreOptions { AuthToken = Token });
        Assert.Equal(BootstrapRole.Writer, writer.Role);
        using var w = writer.OpenClient();
        byte[] v1 = new byte[64], v2 = new byte[64], read = new byte[64];
        v1.AsSpan().Fill(1);
        v2.AsSpan().Fill(2);
        Assert.Equal(OpStatus.Ok, w.Put(Key(1), v1));

        using var reader = RemoteScalioStore.Connect(rig.EndPoint, new RemoteStoreOptions { AuthToken = readerToken });
        Assert.Equal(BootstrapRole.Reader, reader.Role);
        using var r = reader.OpenClient();
        Assert.Equal(OpStatus.Ok, r.Get(Key(1), read, out int n));
        Assert.Equal(v1, read[..n]);
        Assert.Equal(OpStatus.Forbidden, r.Put(Key(1), v2));
        Assert.Equal(OpStatus.Forbidden, r.Delete(Key(1)));
        Assert.Equal(OpStatus.Forbidden, r.Put(Key(2), v2));
        Assert.Equal(3, rig.Server.RequestsForbidden);

        // Nothing changed: the writer and the reader still read v1, and key 2 was never stored.
        Assert.Equal(OpStatus.Ok, w.Get(Key(1), read, out n));
        Assert.Equal(v1, read[..n]);
        Assert.Equal(OpStatus.Ok, r.Get(Key(1), read, out n));
        Assert.Equal(v1, read[..n]);
        Assert.Equal(OpStatus.NotFound, r.Get(Key(2), read, out _));
        Assert.Equal(OpStatus.Ok, w.Delete(Key(1))); // the writer still may

        Assert.Throws<ArgumentException>(() => new ServerListenOptions { ReaderToken = readerToken }.Validate());
        Assert.Throws<ArgumentException>(() => new ServerListenOptions { Token = Token, ReaderToken = AuthToken.FromBytes("correct horse battery staple 42!"u8) }.Validate());
    }

    [Fact]
    public void Token_files_that_are_missing_empty_or_too_short_are_refused_with_one_clear_line()
    {
        using var dir = new TempDir();
        string F(string name, string text)
        {
            string p = Path.Combine(dir.Path, name);
            File.WriteAllText(p, text);
            return p;
        }

        Assert.Contains("does not exist", Assert.Throws<AuthTokenFileException>(() => AuthToken.FromFile(Path.Combine(dir.Path, "nope"))).Message);
        Assert.Contains("is empty", Assert.Throws<AuthTokenFileException>(() => AuthToken.FromFile(F("empty", ""))).Message);
        Assert.Contains("is empty", Assert.Throws<AuthTokenFileException>(() => AuthToken.FromFile(F("blank", " \n"))).Message);
        var shortOne = Assert.Throws<AuthTokenFileException>(() => AuthToken.FromFile(F("short", "hunter2\n")));
        Assert.Contains("holds 7 bytes; a token needs at least 16", shortOne.Message);
        Assert.DoesNotContain("\n", shortOne.Message);

        // The trailing newline that echo adds is not part of the secret.
        var a = AuthToken.FromFile(F("a", "0123456789abcdef0123\n"));
        Assert.True(a.SameSecretAs(AuthToken.FromBytes("0123456789abcdef0123"u8)));
        Assert.False(a.SameSecretAs(AuthToken.FromBytes("0123456789abcdef0124"u8)));
        Assert.StartsWith("nqn.2024-01.io.scalio:client:", a.OffloadHostNqn);
        Assert.NotEqual(a.OffloadHostNqn, Token.OffloadHostNqn);
    }
}
