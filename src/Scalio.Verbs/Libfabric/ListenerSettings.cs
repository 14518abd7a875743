namespace Scalio.Verbs.Libfabric;

/// <summary>Admission and limits of a listener's handshake (<see cref="ProtectionDomain.CreateListener"/>).</summary>
public sealed class ListenerSettings
{
    /// <summary>The token clients must prove before they may send a hello; null: any client is admitted.</summary>
    public AuthToken? Token { get; init; }

    /// <summary>A second token that admits clients as readers (needs <see cref="Token"/>); null: no readers.</summary>
    public AuthToken? ReaderToken { get; init; }

    /// <summary>How long a client may take for the whole handshake, in milliseconds.</summary>
    public int HelloTimeoutMilliseconds { get; init; } = 10_000;

    /// <summary>Largest client hello body accepted, in bytes.</summary>
    public int MaxHelloBytes { get; init; } = 64 * 1024;
}
