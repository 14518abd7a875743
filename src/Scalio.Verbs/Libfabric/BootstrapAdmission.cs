using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Scalio.Verbs.Libfabric;

/// <summary>
/// A shared secret that admits clients on the bootstrap side channel. It never crosses the wire: a client proves it with
/// HMAC-SHA256 over both sides' nonces (<see cref="BootstrapAdmission"/>), and the server proves it back.
/// </summary>
public sealed class AuthToken
{
    /// <summary>Fewest bytes a token may have (128 bits).</summary>
    public const int MinimumLength = 16;

    /// <summary>Most bytes a token may have (a token file is a secret, not a data file).</summary>
    public const int MaximumLength = 4096;

    private readonly byte[] _key;

    private AuthToken(byte[] key) => _key = key;

    /// <summary>A token from raw bytes; throws <see cref="ArgumentException"/> when it has fewer than <see cref="MinimumLength"/> bytes.</summary>
    public static AuthToken FromBytes(ReadOnlySpan<byte> key)
    {
        if (key.Length < MinimumLength) throw new ArgumentException($"an auth token needs at least {MinimumLength} bytes; this one has {key.Length}");
        if (key.Length > MaximumLength) throw new ArgumentException($"an auth token has at most {MaximumLength} bytes; this one has {key.Length}");
        return new AuthToken(key.ToArray());
    }

    /// <summary>
    /// Reads a token file: its bytes, without trailing line breaks and spaces (so <c>echo secret &gt; F</c> and
    /// <c>head -c 32 /dev/urandom &gt; F</c> both work). Throws <see cref="AuthTokenFileException"/> with a one-line
    /// reason when the file is missing, unreadable, empty, too short or too long.
    /// </summary>
    public static AuthToken FromFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new AuthTokenFileException($"auth token file {path} does not exist");
            if (info.Length > MaximumLength + 64) throw new AuthTokenFileException($"auth token file {path} holds {info.Length} bytes; a token has at most {MaximumLength}");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new AuthTokenFileException($"auth token file {path} cannot be read: {e.Message}", e);
        }
        int n = bytes.Length;
        while (n > 0 && bytes[n - 1] is (byte)'\n' or (byte)'\r' or (byte)' ' or (byte)'\t') n--; // editors and echo add a newline
        if (n == 0) throw new AuthTokenFileException($"auth token file {path} is empty");
        if (n < MinimumLength) throw new AuthTokenFileException($"auth token file {path} holds {n} bytes; a token needs at least {MinimumLength} (e.g. head -c 32 /dev/urandom > {path})");
        if (n > MaximumLength) throw new AuthTokenFileException($"auth token file {path} holds {n} bytes; a token has at most {MaximumLength}");
        return new AuthToken(bytes[..n]);
    }

    /// <summary>HMAC-SHA256 of <paramref name="label"/> followed by <paramref name="parts"/>, keyed with this token.</summary>
    internal byte[] Mac(string label, params ReadOnlySpan<byte[]> parts)
    {
        using var h = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
        h.AppendData(Encoding.ASCII.GetBytes(label));
        foreach (var p in parts) h.AppendData(p);
        return h.GetHashAndReset();
    }

    /// <summary>True when both tokens hold the same secret (compared in fixed time).</summary>
    public bool SameSecretAs(AuthToken other) => CryptographicOperations.FixedTimeEquals(_key, other._key);

    /// <summary>
    /// The host NQN a client admitted by this token uses at the offload target (and the one <c>scalio target
    /// --auth-token-file</c> allows): <c>nqn.2024-01.io.scalio:client:</c> and 32 hex digits of
    /// HMAC(token, "scalio-offload-host-v1"). It reveals nothing about the token, but it crosses the wire in clear.
    /// </summary>
    public string OffloadHostNqn => "nqn.2024-01.io.scalio:client:" + Convert.ToHexStringLower(Mac("scalio-offload-host-v1").AsSpan(0, 16));
}

/// <summary>What an admitted client may do, as granted by the server at admission.</summary>
public enum BootstrapRole : byte
{
    /// <summary>GET, PUT and DELETE (the only role of a server without tokens).</summary>
    Writer = 1,

    /// <summary>GET only: the server refuses the client's PUT and DELETE requests.</summary>
    Reader = 2,
}

/// <summary>An auth token file that cannot be used (missing, unreadable, empty, too short or too long).</summary>
public sealed class AuthTokenFileException : Exception
{
    /// <summary>Creates the exception.</summary>
    public AuthTokenFileException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// Admission on the bootstrap side channel was refused: by the server (no token or a wrong one, seen by the client),
/// or by the client (the server could not prove it holds the client's token). Not transient: retrying with the same
/// credential cannot succeed, so reconnect loops must give up on it.
/// </summary>
public sealed class BootstrapRefusedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public BootstrapRefusedException(string message, EndPoint? peer) : base(message) => Peer = peer;

    /// <summary>The other side of the side channel.</summary>
    public EndPoint? Peer { get; }
}

/// <summary>
/// The challenge–response that opens every bootstrap side channel, before any hello (nothing about the server's
/// regions is sent until it succeeds). Wire, little-endian:
/// <list type="number">
/// <item>server: "SCLA", version 1, flags (bit 0: a token is required; bit 1: busy, the server is at its connection
/// limit and closes), 2 reserved bytes, nonce Ns (32 bytes) — 40 bytes;</item>
/// <item>client: "SCLA", flags (bit 0: a proof follows), 3 reserved bytes, nonce Nc (32), proof
/// HMAC-SHA256(K, "scalio-client-v1" ‖ Ns ‖ Nc) or zeros (32) — 72 bytes;</item>
/// <item>server: verdict (<see cref="Verdict"/>), the role granted (<see cref="BootstrapRole"/>), 2 reserved bytes,
/// HMAC-SHA256(K, "scalio-server-v1" ‖ Ns ‖ Nc) with the key the client proved
/// or zeros when no token is required or the client is refused (32) — 36 bytes. A refused client is then disconnected.</item>
/// </list>
/// </summary>
public static class BootstrapAdmission
{
    /// <summary>Magic of the admission messages ("SCLA").</summary>
    public const uint Magic = 0x414C4353;

    /// <summary>Size of the server's challenge.</summary>
    public const int ChallengeSize = 40;

    /// <summary>Size of the client's answer.</summary>
    public const int AnswerSize = 72;

    /// <summary>Size of the server's verdict.</summary>
    public const int VerdictSize = 36;

    private const int NonceSize = 32, MacSize = 32;
    private const byte Version = 1;
    private const string ClientLabel = "scalio-client-v1", ServerLabel = "scalio-server-v1";

    /// <summary>The server's verdict on a client's answer.</summary>
    public enum Verdict : byte
    {
        /// <summary>Admitted; the client sends its hello next.</summary>
        Admitted = 0,

        /// <summary>The server requires a token and the client sent no proof.</summary>
        NoToken = 1,

        /// <summary>The client's proof does not match the server's token.</summary>
        WrongToken = 2,

        /// <summary>The answer was not a Scalio admission answer.</summary>
        Malformed = 3,
    }

    /// <summary>Server side, at the connection limit: a challenge that says "busy" (no nonce, nothing else), sent
    /// best-effort before the socket is closed, so the client can tell a full server from a broken one.</summary>
    public static void SendBusy(System.Net.Sockets.Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var busy = new byte[ChallengeSize];
        BinaryPrimitives.WriteUInt32LittleEndian(busy, Magic);
        busy[4] = Version;
        busy[5] = 2;
        try
        {
            socket.Blocking = false; // 40 bytes into a fresh socket's empty buffer: never waits for the peer
            socket.Send(busy);
        }
        catch (System.Net.Sockets.SocketException)
        {
            // the peer is gone already; closing is all that is left
        }
    }

    /// <summary>Server side: challenges the client and judges its answer against the writer <paramref name="token"/> and
    /// the <paramref name="readerToken"/>; sends the verdict; returns the role granted. Throws (after sending the
    /// refusal) <see cref="BootstrapRefusedException"/> when the client's token is missing or wrong,
    /// <see cref="InvalidDataException"/> when its answer is not an admission answer.</summary>
    internal static async Task<BootstrapRole> AdmitAsync(Stream stream, AuthToken? token, AuthToken? readerToken, EndPoint? peer, CancellationToken cancellationToken)
    {
        if (readerToken is not null && token is null) throw new ArgumentException("a reader token needs a writer token too", nameof(readerToken));
        byte[] ns = RandomNumberGenerator.GetBytes(NonceSize);
        var challenge = new byte[ChallengeSize];
        BinaryPrimitives.WriteUInt32LittleEndian(challenge, Magic);
        challenge[4] = Version;
        challenge[5] = token is null ? (byte)0 : (byte)1;
        ns.CopyTo(challenge, 8);
        await stream.WriteAsync(challenge, cancellationToken).ConfigureAwait(false);

        var answer = new byte[AnswerSize];
        await stream.ReadExactlyAsync(answer, cancellationToken).ConfigureAwait(false);
        byte[] nc = answer[8..40];
        Verdict verdict;
        AuthToken? matched = null;
        var role = BootstrapRole.Writer;
        if (BinaryPrimitives.ReadUInt32LittleEndian(answer) != Magic) verdict = Verdict.Malformed;
        else if (token is null) verdict = Verdict.Admitted;
        else if ((answer[4] & 1) == 0) verdict = Verdict.NoToken;
        else if (nc.AsSpan().SequenceEqual(ns)) verdict = Verdict.WrongToken; // our own nonce reflected back: not a client's
        else
        {
            // Both keys are always checked, so the time taken does not tell a reader from a writer.
            bool writer = CryptographicOperations.FixedTimeEquals(answer.AsSpan(40, MacSize), token.Mac(ClientLabel, ns, nc));
            bool reader = readerToken is not null && CryptographicOperations.FixedTimeEquals(answer.AsSpan(40, MacSize), readerToken.Mac(ClientLabel, ns, nc));
            matched = writer ? token : reader ? readerToken : null;
            role = writer ? BootstrapRole.Writer : BootstrapRole.Reader;
            verdict = matched is null ? Verdict.WrongToken : Verdict.Admitted;
        }

        var reply = new byte[VerdictSize];
        reply[0] = (byte)verdict;
        if (verdict == Verdict.Admitted) reply[1] = (byte)role; // a refusal carries its status and nothing else
        matched?.Mac(ServerLabel, ns, nc).CopyTo(reply, 4);
        await stream.WriteAsync(reply, cancellationToken).ConfigureAwait(false);
        if (verdict == Verdict.Malformed) throw new InvalidDataException("not a Scalio client (malformed admission answer)");
        if (verdict != Verdict.Admitted)
            throw new BootstrapRefusedException(verdict == Verdict.NoToken ? "no auth token (the server requires --auth-token-file)" : "wrong auth token", peer);
        return role;
    }

    /// <summary>Client side: answers the server's challenge with <paramref name="token"/> (null: none) and checks the
    /// verdict and the server's proof. Throws <see cref="BootstrapRefusedException"/> when either side refuses,
    /// <see cref="InvalidDataException"/> when the peer is not a Scalio server of this version.</summary>
    internal static BootstrapRole Prove(Stream stream, AuthToken? token, EndPoint server)
    {
        var challenge = new byte[ChallengeSize];
        try
        {
            stream.ReadExactly(challenge);
        }
        catch (EndOfStreamException e)
        {
            throw new IOException($"the server at {server} closed the side channel before its challenge (connection limit reached, or not a Scalio server)", e);
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(challenge) != Magic || challenge[4] != Version)
            throw new InvalidDataException($"the peer at {server} is not a Scalio server of this version (no admission challenge)");
        if ((challenge[5] & 2) != 0)
            throw new IOException($"the server at {server} is at its connection limit and refused this connection; try again later");
        bool required = (challenge[5] & 1) != 0;
        byte[] ns = challenge[8..40];
        byte[] nc = RandomNumberGenerator.GetBytes(NonceSize);
        var answer = new byte[AnswerSize];
        BinaryPrimitives.WriteUInt32LittleEndian(answer, Magic);
        nc.CopyTo(answer, 8);
        if (required && token is not null)
        {
            answer[4] = 1;
            token.Mac(ClientLabel, ns, nc).CopyTo(answer, 40);
        }
        stream.Write(answer);
        var reply = new byte[VerdictSize];
        try
        {
            stream.ReadExactly(reply);
        }
        catch (EndOfStreamException e)
        {
            throw new IOException($"the server at {server} closed the side channel before its admission verdict", e);
        }
        switch ((Verdict)reply[0])
        {
            case Verdict.Admitted:
                break;
            case Verdict.NoToken:
                throw new BootstrapRefusedException($"the server at {server} refused this client: it requires an auth token and none was given (--auth-token-file)", server);
            case Verdict.WrongToken:
                throw new BootstrapRefusedException($"the server at {server} refused this client: wrong auth token", server);
            default:
                throw new InvalidDataException($"the server at {server} refused this client's admission answer as malformed (verdict {reply[0]})");
        }
        if (token is not null && !required)
            throw new BootstrapRefusedException($"the server at {server} requires no auth token, so it cannot prove it holds this client's; drop --auth-token-file or start the server with it", server);
        if (token is not null && !CryptographicOperations.FixedTimeEquals(reply.AsSpan(4, MacSize), token.Mac(ServerLabel, ns, nc)))
            throw new BootstrapRefusedException($"the server at {server} does not hold this client's auth token (its proof does not match)", server);
        return reply[1] == (byte)BootstrapRole.Reader ? BootstrapRole.Reader : BootstrapRole.Writer;
    }
}
