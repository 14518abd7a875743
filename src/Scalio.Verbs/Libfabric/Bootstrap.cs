using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Scalio.Verbs.Libfabric;

/// <summary>
/// What one side of a bootstrap exchange tells the other: its provider, its endpoint address, the regions it
/// exports, and an opaque application descriptor (the store's server descriptor travels here).
/// </summary>
public sealed class BootstrapHello
{
    /// <summary>Wire magic ("SCLF").</summary>
    public const uint Magic = 0x464C4353;

    /// <summary>Wire version (2: the hellos are followed by the clock pings of <see cref="ClockExchange"/>).</summary>
    public const ushort Version = 2;

    /// <summary>Largest endpoint address accepted.</summary>
    public const int MaxAddressLength = 1024;

    /// <summary>Most regions accepted in one hello.</summary>
    public const int MaxRegions = 4096;

    /// <summary>Largest application descriptor accepted.</summary>
    public const int MaxDescriptorLength = 1 << 20;

    /// <summary>Provider string of the sender (both sides must run the same provider).</summary>
    public required string Provider { get; init; }

    /// <summary>The sender's endpoint address (fi_getname).</summary>
    public required byte[] Address { get; init; }

    /// <summary>Regions the sender exports.</summary>
    public required IReadOnlyList<RemoteRegion> Regions { get; init; }

    /// <summary>Opaque application descriptor.</summary>
    public required byte[] Descriptor { get; init; }

    /// <summary>Encodes the hello: magic, version, lengths, then the fields (little-endian).</summary>
    public byte[] Encode()
    {
        byte[] provider = Encoding.UTF8.GetBytes(Provider);
        if (provider.Length > 255) throw new ArgumentException("provider name too long");
        if (Address.Length > MaxAddressLength) throw new ArgumentException("endpoint address too long");
        if (Regions.Count > MaxRegions) throw new ArgumentException("too many regions");
        if (Descriptor.Length > MaxDescriptorLength) throw new ArgumentException("descriptor too long");
        int size = 4 + 2 + 1 + provider.Length + 4 + Address.Length + 4 + Regions.Count * 32 + 4 + Descriptor.Length;
        var b = new byte[4 + size];
        var s = b.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(s, size);
        s = s[4..];
        BinaryPrimitives.WriteUInt32LittleEndian(s, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], Version);
        s[6] = (byte)provider.Length;
        provider.CopyTo(s[7..]);
        s = s[(7 + provider.Length)..];
        BinaryPrimitives.WriteInt32LittleEndian(s, Address.Length);
        Address.CopyTo(s[4..]);
        s = s[(4 + Address.Length)..];
        BinaryPrimitives.WriteInt32LittleEndian(s, Regions.Count);
        s = s[4..];
        foreach (var r in Regions)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(s, r.RemoteKey);
            BinaryPrimitives.WriteUInt32LittleEndian(s[4..], (uint)r.Access);
            BinaryPrimitives.WriteUInt64LittleEndian(s[8..], r.FabricKey);
            BinaryPrimitives.WriteUInt64LittleEndian(s[16..], r.BaseAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(s[24..], r.Length);
            s = s[32..];
        }
        BinaryPrimitives.WriteInt32LittleEndian(s, Descriptor.Length);
        Descriptor.CopyTo(s[4..]);
        return b;
    }

    /// <summary>Decodes a hello body (without its 4-byte length prefix); throws <see cref="InvalidDataException"/> on malformed input.</summary>
    public static BootstrapHello Decode(ReadOnlySpan<byte> body)
    {
        static InvalidDataException Bad(string what) => new($"malformed bootstrap hello: {what}");
        if (body.Length < 7) throw Bad("truncated header");
        if (BinaryPrimitives.ReadUInt32LittleEndian(body) != Magic) throw Bad("bad magic (not a Scalio libfabric peer)");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(body[4..]);
        if (version != Version) throw Bad($"version {version}, expected {Version}");
        int pl = body[6];
        var s = body[7..];
        if (s.Length < pl + 4) throw Bad("truncated provider");
        string provider = Encoding.UTF8.GetString(s[..pl]);
        s = s[pl..];
        int al = BinaryPrimitives.ReadInt32LittleEndian(s);
        if (al <= 0 || al > MaxAddressLength || s.Length < 4 + al + 4) throw Bad("bad address length");
        byte[] address = s.Slice(4, al).ToArray();
        s = s[(4 + al)..];
        int rc = BinaryPrimitives.ReadInt32LittleEndian(s);
        if (rc < 0 || rc > MaxRegions || s.Length < 4 + (long)rc * 32 + 4) throw Bad("bad region count");
        s = s[4..];
        var regions = new RemoteRegion[rc];
        for (int i = 0; i < rc; i++)
        {
            regions[i] = new RemoteRegion(
                BinaryPrimitives.ReadUInt32LittleEndian(s),
                BinaryPrimitives.ReadUInt64LittleEndian(s[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(s[16..]),
                BinaryPrimitives.ReadUInt64LittleEndian(s[24..]),
                (MemoryAccess)BinaryPrimitives.ReadUInt32LittleEndian(s[4..]));
            s = s[32..];
        }
        int dl = BinaryPrimitives.ReadInt32LittleEndian(s);
        if (dl < 0 || dl > MaxDescriptorLength || s.Length != 4 + dl) throw Bad("bad descriptor length");
        return new BootstrapHello { Provider = provider, Address = address, Regions = regions, Descriptor = s[4..].ToArray() };
    }

    /// <summary>Largest hello body (without its length prefix) the format allows: a full descriptor, all regions, the longest address.</summary>
    public const int MaxBodyLength = MaxDescriptorLength + MaxRegions * 32 + MaxAddressLength + 1024;

    internal static BootstrapHello Read(Stream stream)
    {
        Span<byte> len = stackalloc byte[4];
        stream.ReadExactly(len);
        int size = BinaryPrimitives.ReadInt32LittleEndian(len);
        if (size < 7 || size > MaxBodyLength) throw new InvalidDataException($"malformed bootstrap hello: length {size}");
        var body = new byte[size];
        stream.ReadExactly(body);
        return Decode(body);
    }

    internal static async Task<BootstrapHello> ReadAsync(Stream stream, int maxBodyLength, CancellationToken cancellationToken)
    {
        var len = new byte[4];
        await stream.ReadExactlyAsync(len, cancellationToken).ConfigureAwait(false);
        int size = BinaryPrimitives.ReadInt32LittleEndian(len);
        // Checked before the body is read: a peer announcing a huge hello is dropped at once, not waited for.
        if (size > maxBodyLength && size <= MaxBodyLength) throw new HelloTooLargeException($"bootstrap hello of {size} bytes exceeds the limit of {maxBodyLength}");
        if (size < 7 || size > MaxBodyLength) throw new InvalidDataException($"malformed bootstrap hello: length {size}");
        var body = new byte[size];
        await stream.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
        return Decode(body);
    }
}

/// <summary>A peer announced a bootstrap hello larger than the listener's <see cref="LibfabricListener.MaxHelloBytes"/>.</summary>
public sealed class HelloTooLargeException : IOException
{
    /// <summary>Creates the exception.</summary>
    public HelloTooLargeException(string message) : base(message) { }
}

/// <summary>
/// A queue pair connected through the bootstrap channel, with what the peer said about itself. The TCP side channel
/// stays open for the connection's life: when it closes, the peer is gone.
/// </summary>
public sealed class LibfabricConnection : IDisposable
{
    private readonly Socket _socket;

    internal LibfabricConnection(LibfabricQueuePair queuePair, Socket socket, BootstrapHello peer, long helloSent = 0, long replyReceived = 0)
    {
        QueuePair = queuePair;
        _socket = socket;
        Peer = peer;
        RemoteEndPoint = socket.RemoteEndPoint;
        HelloSentTimestamp = helloSent;
        ReplyReceivedTimestamp = replyReceived;
    }

    /// <summary>Client side: <see cref="System.Diagnostics.Stopwatch"/> timestamp taken just before our hello was sent
    /// (0 on the server side). With <see cref="ReplyReceivedTimestamp"/> it brackets the server's answer (clock exchange).</summary>
    public long HelloSentTimestamp { get; }

    /// <summary>Client side: <see cref="System.Diagnostics.Stopwatch"/> timestamp taken just after the server's hello
    /// arrived (0 on the server side).</summary>
    public long ReplyReceivedTimestamp { get; }

    /// <summary>Client side: the tightest of the clock pings made after the hello (null on the server side).</summary>
    public ClockExchange? PeerClock { get; init; }

    /// <summary>The connected queue pair.</summary>
    public LibfabricQueuePair QueuePair { get; }

    /// <summary>The protection domain of <see cref="QueuePair"/>.</summary>
    public ProtectionDomain Domain => QueuePair.Domain;

    private ProtectionDomain? _ownedDomain;

    /// <summary>Makes this connection dispose <paramref name="domain"/> after its queue pair.</summary>
    internal void OwnDomain(ProtectionDomain domain) => _ownedDomain = domain;

    /// <summary>The role admission granted: on the server, what the client proved; on the client, what the server granted.</summary>
    public BootstrapRole Role { get; init; } = BootstrapRole.Writer;

    /// <summary>The peer's hello: its regions and application descriptor.</summary>
    public BootstrapHello Peer { get; }

    /// <summary>The peer's side-channel address.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>False once the peer closed the side channel (its process ended or it disconnected).</summary>
    public bool IsPeerConnected
    {
        get
        {
            try
            {
                return !(_socket.Poll(0, SelectMode.SelectRead) && _socket.Available == 0);
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
            catch (SocketException)
            {
                return false;
            }
        }
    }

    /// <summary>Closes the queue pair and the side channel.</summary>
    public void Dispose()
    {
        QueuePair.Dispose();
        _socket.Dispose();
        _ownedDomain?.Dispose();
    }
}

/// <summary>
/// Server side of the bootstrap: a TCP listener. Each client that connects must first pass admission
/// (<see cref="BootstrapAdmission"/>, with <see cref="Token"/> when one is set), then sends its hello; the server creates a
/// queue pair for it, connects it to the client's endpoint and answers with its own hello (endpoint address,
/// exported regions, descriptor).
/// </summary>
public sealed class LibfabricListener : IDisposable
{
    private readonly LibfabricDomain _domain;
    private readonly TcpListener _listener;
    private readonly Func<BootstrapHello, (IReadOnlyList<RemoteRegion> Regions, byte[] Descriptor)> _answer;
    private readonly QueuePairOptions? _options;

    /// <summary>Starts listening on <paramref name="endPoint"/> (port 0: any free port).</summary>
    /// <param name="domain">Domain the per-client queue pairs are created in.</param>
    /// <param name="endPoint">Side-channel address.</param>
    /// <param name="answer">Given a client's hello, the regions and descriptor to send it (may throw to refuse it).</param>
    /// <param name="options">Options of the per-client queue pairs.</param>
    public LibfabricListener(LibfabricDomain domain, IPEndPoint endPoint, Func<BootstrapHello, (IReadOnlyList<RemoteRegion> Regions, byte[] Descriptor)> answer, QueuePairOptions? options = null)
    {
        _domain = domain ?? throw new ArgumentNullException(nameof(domain));
        _answer = answer ?? throw new ArgumentNullException(nameof(answer));
        _options = options;
        _listener = new TcpListener(endPoint);
        _listener.Start();
    }

    /// <summary>The bound side-channel address.</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>
    /// Creates the queue pair of an accepted client (e.g. on a server worker's completion queues); null: a queue pair
    /// with its own completion queues and the listener's options. Called after the answer callback accepted the hello.
    /// </summary>
    public Func<BootstrapHello, LibfabricQueuePair>? QueuePairFactory { get; init; }

    /// <summary>How long a client may take for the whole handshake (admission, hello, clock pings) before it is dropped,
    /// in milliseconds.</summary>
    public int HelloTimeoutMilliseconds { get; init; } = 10_000;

    /// <summary>The token clients must prove (<see cref="BootstrapAdmission"/>) before they may send a hello; null: any
    /// client is admitted (the challenge is still sent, saying no token is required).</summary>
    public AuthToken? Token { get; init; }

    /// <summary>A second token that admits clients as <see cref="BootstrapRole.Reader"/> (needs <see cref="Token"/>; the
    /// two must differ); null: no readers.</summary>
    public AuthToken? ReaderToken { get; init; }

    /// <summary>Largest client hello body accepted, in bytes (a client's hello holds its address and usually no regions
    /// or descriptor); a larger announced length drops the client before its body is read.</summary>
    public int MaxHelloBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// Accepts one client and completes the exchange; throws <see cref="InvalidDataException"/> (client refused and
    /// disconnected) on a malformed hello or a provider mismatch, <see cref="BootstrapRefusedException"/> when it fails
    /// admission, <see cref="OperationCanceledException"/> on cancellation or when the client does not finish within
    /// <see cref="HelloTimeoutMilliseconds"/>.
    /// </summary>
    public async Task<LibfabricConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        var socket = await AcceptSocketAsync(cancellationToken).ConfigureAwait(false);
        return await HandshakeAsync(socket, QueuePairFactory, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Accepts the next TCP connection without talking to it (see <see cref="HandshakeAsync"/>), so that a
    /// server can run the handshakes of several clients at once.</summary>
    public async Task<Socket> AcceptSocketAsync(CancellationToken cancellationToken = default)
        => await _listener.AcceptSocketAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Runs the handshake on an accepted socket (which it owns from now on: closed on failure): admission, the
    /// client's hello, the queue pair made by <paramref name="queuePairFactory"/> (null: one with its own completion
    /// queues), our hello, the clock pings. Exceptions as for <see cref="AcceptAsync"/>.
    /// </summary>
    public async Task<LibfabricConnection> HandshakeAsync(Socket socket, Func<BootstrapHello, LibfabricQueuePair>? queuePairFactory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        LibfabricQueuePair? qp = null;
        try
        {
            socket.NoDelay = true;
            socket.SendTimeout = 10_000;
            using var stream = new NetworkStream(socket, ownsSocket: false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(HelloTimeoutMilliseconds);
            // Admission first: nothing about our regions is sent to a client that has not proven the token.
            var role = await BootstrapAdmission.AdmitAsync(stream, Token, ReaderToken, socket.RemoteEndPoint, timeout.Token).ConfigureAwait(false);
            var hello = await BootstrapHello.ReadAsync(stream, MaxHelloBytes, timeout.Token).ConfigureAwait(false);
            if (hello.Provider != _domain.Fabric.ProviderName)
                throw new InvalidDataException($"client runs provider '{hello.Provider}', this server runs '{_domain.Fabric.ProviderName}'");
            var (regions, descriptor) = _answer(hello);
            qp = queuePairFactory is { } factory ? factory(hello) : _domain.CreateLibfabricQueuePair(_options);
            qp.Connect(hello.Address, hello.Regions);
            var reply = new BootstrapHello { Provider = _domain.Fabric.ProviderName, Address = qp.LocalAddress.ToArray(), Regions = regions, Descriptor = descriptor };
            stream.Write(reply.Encode());
            await ClockExchange.AnswerAsync(stream, timeout.Token).ConfigureAwait(false);
            return new LibfabricConnection(qp, socket, hello) { Role = role };
        }
        catch
        {
            qp?.Dispose();
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Stops listening; connections already made stay up.</summary>
    public void Dispose() => _listener.Stop();
}

/// <summary>Client side of the bootstrap.</summary>
public static class LibfabricConnector
{
    /// <summary>
    /// Connects to a server's side channel, answers its admission challenge (with <paramref name="token"/> when the
    /// server requires one), sends our hello (endpoint address, regions we export, descriptor) and
    /// connects a new queue pair to the server's endpoint with the server's regions.
    /// </summary>
    /// <exception cref="BootstrapRefusedException">The server refused <paramref name="token"/> (or its absence), or
    /// could not prove it holds the token.</exception>
    public static LibfabricConnection Connect(LibfabricDomain domain, IPEndPoint server, IReadOnlyList<RemoteRegion>? exported = null, byte[]? descriptor = null,
        QueuePairOptions? options = null, int timeoutMilliseconds = 10_000, AuthToken? token = null)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(server);
        var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = timeoutMilliseconds, SendTimeout = timeoutMilliseconds };
        LibfabricQueuePair? qp = null;
        try
        {
            using (var cts = new CancellationTokenSource(timeoutMilliseconds))
            {
                try
                {
                    socket.ConnectAsync(server, cts.Token).AsTask().GetAwaiter().GetResult();
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException($"no answer from {server} within {timeoutMilliseconds} ms");
                }
            }
            using var stream = new NetworkStream(socket, ownsSocket: false);
            var role = BootstrapAdmission.Prove(stream, token, server);
            qp = domain.CreateLibfabricQueuePair(options);
            var hello = new BootstrapHello { Provider = domain.Fabric.ProviderName, Address = qp.LocalAddress.ToArray(), Regions = exported ?? [], Descriptor = descriptor ?? [] };
            byte[] encoded = hello.Encode();
            long sent = System.Diagnostics.Stopwatch.GetTimestamp();
            stream.Write(encoded);
            BootstrapHello reply;
            long received;
            try
            {
                reply = BootstrapHello.Read(stream);
                received = System.Diagnostics.Stopwatch.GetTimestamp();
            }
            catch (EndOfStreamException e)
            {
                throw new InvalidDataException($"the server at {server} closed the side channel (refused this client: provider mismatch or bad hello)", e);
            }
            if (reply.Provider != domain.Fabric.ProviderName)
                throw new InvalidDataException($"server runs provider '{reply.Provider}', this client runs '{domain.Fabric.ProviderName}'");
            qp.Connect(reply.Address, reply.Regions);
            var clock = ClockExchange.Ask(stream);
            return new LibfabricConnection(qp, socket, reply, sent, received) { PeerClock = clock, Role = role };
        }
        catch
        {
            qp?.Dispose();
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>
/// One clock ping on the bootstrap side channel: the client read its <see cref="System.Diagnostics.Stopwatch"/> at
/// <see cref="SentTimestamp"/>, the server answered with its own Stopwatch reading <see cref="PeerTimestamp"/> (at
/// <see cref="PeerFrequency"/> ticks a second), and the answer arrived at <see cref="ReceivedTimestamp"/>. The server
/// read its clock somewhere in between, so mapping its reading to the midpoint errs by at most half the round trip.
/// After the hellos the client sends <see cref="Pings"/> pings (one byte 'P', answered with 16 bytes: timestamp and
/// frequency, little-endian) and an end byte 'E'; it keeps the ping with the shortest round trip.
/// </summary>
/// <param name="SentTimestamp">Client Stopwatch before the ping was sent.</param>
/// <param name="ReceivedTimestamp">Client Stopwatch after the answer arrived.</param>
/// <param name="PeerTimestamp">The server's Stopwatch reading.</param>
/// <param name="PeerFrequency">The server's Stopwatch ticks per second.</param>
public readonly record struct ClockExchange(long SentTimestamp, long ReceivedTimestamp, long PeerTimestamp, long PeerFrequency)
{
    /// <summary>Pings a client makes.</summary>
    public const int Pings = 4;

    private const byte Ping = (byte)'P', End = (byte)'E';

    /// <summary>Round trip of the ping.</summary>
    public TimeSpan RoundTrip => System.Diagnostics.Stopwatch.GetElapsedTime(SentTimestamp, ReceivedTimestamp);

    /// <summary>Bound on the error of mapping <see cref="PeerTimestamp"/> to the midpoint: half the round trip.</summary>
    public TimeSpan Uncertainty => RoundTrip / 2;

    internal static ClockExchange Ask(Stream stream)
    {
        Span<byte> answer = stackalloc byte[16];
        ClockExchange best = default;
        for (int i = 0; i < Pings; i++)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            stream.WriteByte(Ping);
            stream.ReadExactly(answer);
            long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
            long peer = BinaryPrimitives.ReadInt64LittleEndian(answer), frequency = BinaryPrimitives.ReadInt64LittleEndian(answer[8..]);
            if (frequency <= 0) throw new InvalidDataException("malformed clock answer: frequency " + frequency);
            if (i == 0 || t1 - t0 < best.ReceivedTimestamp - best.SentTimestamp) best = new ClockExchange(t0, t1, peer, frequency);
        }
        stream.WriteByte(End);
        return best;
    }

    internal static async Task AnswerAsync(Stream stream, CancellationToken cancellationToken)
    {
        var one = new byte[1];
        var answer = new byte[16];
        for (int i = 0; i <= Pings; i++)
        {
            await stream.ReadExactlyAsync(one, cancellationToken).ConfigureAwait(false);
            if (one[0] == End) return;
            if (one[0] != Ping) throw new InvalidDataException($"malformed clock ping: byte 0x{one[0]:x2}");
            BinaryPrimitives.WriteInt64LittleEndian(answer, System.Diagnostics.Stopwatch.GetTimestamp());
            BinaryPrimitives.WriteInt64LittleEndian(answer.AsSpan(8), System.Diagnostics.Stopwatch.Frequency);
            await stream.WriteAsync(answer, cancellationToken).ConfigureAwait(false);
        }
        throw new InvalidDataException($"malformed clock exchange: more than {Pings} pings");
    }
}
