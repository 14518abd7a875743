using Scalio.Fast.Cache;

namespace Scalio.Fast.Server;

/// <summary>Options of a <see cref="ScalioServer"/>.</summary>
public sealed class ScalioServerOptions
{
    /// <summary>Key/value schema layout (default: 16-byte keys, 64-byte values, 8 slots a bucket).</summary>
    public SlotLayout Layout { get; init; } = SlotLayout.Default;

    /// <summary>Cache buckets in server DRAM (slots = buckets x slots per bucket).</summary>
    public int CacheBuckets { get; init; } = 1024;

    /// <summary>SSD buckets (each one page holding its records inline).</summary>
    public int SsdBuckets { get; init; } = 4096;

    /// <summary>Bytes per SSD page.</summary>
    public int PageSize { get; init; } = 4096;

    /// <summary>Server worker threads: the scarce CPU; their busy time is measured.</summary>
    public int Workers { get; init; } = 1;

    /// <summary>Writes gathered per SSD before one batched write (1 = unbatched, up to 128).</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Longest a write waits for its batch to fill before the batch is written anyway.</summary>
    public TimeSpan BatchIdleTimeout { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>How long an open batch is held after the worker drained its receive queue while other writers are
    /// active, in case their writes are about to arrive (capped by <see cref="BatchIdleTimeout"/>). A lone writer, or a
    /// batch that every active writer already waits in, is committed at once regardless. Zero commits on every drain.</summary>
    public TimeSpan BatchDrainGrace { get; init; } = TimeSpan.FromMicroseconds(30);

    /// <summary>Receive buffers posted per client connection: the per-client in-flight cap. A request's receive is posted
    /// again only after it is answered (a write: after its batch commits), so the server never holds more than this
    /// many requests of one client; further SENDs wait in the client's fabric (flow control), not in server memory.
    /// Peak seen: <see cref="ScalioServer.PeakRequestsInFlightPerConnection"/>.</summary>
    public int ReceivesPerConnection { get; init; } = 2;

    /// <summary>Age after which a FILLING or ORPHAN slot may be reclaimed by readers, in milliseconds.</summary>
    public int LeaseMilliseconds { get; init; } = 1000;

    /// <summary>MODEL of a smaller server (<see cref="CpuBudget"/>): the serving work of all workers together may use at
    /// most this many core-seconds per second; 0 (default) leaves it unlimited.</summary>
    public double CpuCores { get; init; }

    /// <summary>Change slot headers through the fabric's own atomics even when the provider declares CPU atomics coherent.</summary>
    public bool ForceFabricAtomics { get; init; }

    /// <summary>Checks the options and throws a clear error when they do not make sense.</summary>
    public void Validate()
    {
        if (CacheBuckets < 1) throw new ArgumentOutOfRangeException(nameof(CacheBuckets), "the cache needs at least one bucket");
        if (SsdBuckets < 1) throw new ArgumentOutOfRangeException(nameof(SsdBuckets), "the store needs at least one SSD bucket");
        if (PageSize < 512 || (PageSize & (PageSize - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(PageSize), "page size must be a power of two >= 512");
        if (Workers < 1 || Workers > 64) throw new ArgumentOutOfRangeException(nameof(Workers), "1..64 workers");
        if (BatchSize < 1 || BatchSize > 128) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "batch size must be 1..128");
        if (BatchIdleTimeout < TimeSpan.Zero || BatchIdleTimeout > TimeSpan.FromSeconds(1))
            throw new ArgumentOutOfRangeException(nameof(BatchIdleTimeout), BatchIdleTimeout, "batch idle timeout must be 0..1 s");
        if (BatchDrainGrace < TimeSpan.Zero || BatchDrainGrace > TimeSpan.FromSeconds(1))
            throw new ArgumentOutOfRangeException(nameof(BatchDrainGrace), BatchDrainGrace, "batch drain grace must be 0..1 s");
        if (CpuCores < 0 || CpuCores > 1024 || double.IsNaN(CpuCores)) throw new ArgumentOutOfRangeException(nameof(CpuCores), CpuCores, "server cores must be 0 (unlimited) or in (0, 1024]");
        if (ReceivesPerConnection < 1 || ReceivesPerConnection > 1024) throw new ArgumentOutOfRangeException(nameof(ReceivesPerConnection), ReceivesPerConnection, "requests in flight per client must be 1..1024");
        if (LeaseMilliseconds < 1 || LeaseMilliseconds > 30_000) throw new ArgumentOutOfRangeException(nameof(LeaseMilliseconds), "lease must be 1..30000 ms");
        // A record stays inline in its bucket block up to BucketBlock.InlineLimit; a larger one goes to the value log and
        // its block keeps the key and a pointer, which must fit the block.
        int footprint = Storage.BucketBlock.MaxFootprint(Layout.KeyCapacity, Layout.ValueCapacity, PageSize);
        if (Storage.BucketBlock.HeaderSize + footprint > PageSize)
            throw new ArgumentException($"the largest key ({Layout.KeyCapacity} B) with a value pointer takes {footprint} B, which does not fit a {PageSize}-byte bucket block");
        if (Storage.ValueRecord.MaxPages(Layout.KeyCapacity, Layout.ValueCapacity, PageSize) > 255)
            throw new ArgumentException($"a record of the largest key and value spans more than 255 pages of {PageSize} B");
    }
}

/// <summary>Admission and limits of a server's side channel for clients of other processes (<see cref="ScalioServer.Listen"/>).</summary>
public sealed class ServerListenOptions
{
    /// <summary>Token clients must prove by HMAC challenge–response before any region key or descriptor is sent to
    /// them; null (default): any client that reaches the port is admitted.</summary>
    public Scalio.Verbs.Libfabric.AuthToken? Token { get; init; }

    /// <summary>Token that admits clients as readers: GET only, their PUT and DELETE are refused with
    /// <see cref="OpStatus.Forbidden"/>. Needs <see cref="Token"/> and must differ from it; null: no readers.</summary>
    public Scalio.Verbs.Libfabric.AuthToken? ReaderToken { get; init; }

    /// <summary>Most clients connected plus handshaking at once; more are closed at accept with a "busy" challenge.</summary>
    public int MaxConnections { get; init; } = 256;

    /// <summary>Longest a client's handshake (admission, hello, clock pings) may take before it is dropped; handshakes
    /// run concurrently, so a stalled peer delays nobody else.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest client hello accepted, in bytes; a larger announced length drops the client before its body is read.</summary>
    public int MaxHelloBytes { get; init; } = 64 * 1024;

    /// <summary>Throws a clear error when the options do not make sense.</summary>
    public void Validate()
    {
        if (ReaderToken is not null && Token is null) throw new ArgumentException("a reader token needs a writer token (Token) too", nameof(ReaderToken));
        if (ReaderToken is not null && ReaderToken.SameSecretAs(Token!)) throw new ArgumentException("the reader and writer tokens must differ", nameof(ReaderToken));
        if (MaxConnections < 1 || MaxConnections > 65_536) throw new ArgumentOutOfRangeException(nameof(MaxConnections), MaxConnections, "maximum connections must be 1..65536");
        if (HandshakeTimeout < TimeSpan.FromMilliseconds(10) || HandshakeTimeout > TimeSpan.FromMinutes(5))
            throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), HandshakeTimeout, "handshake timeout must be 10 ms..5 min");
        if (MaxHelloBytes < 64 || MaxHelloBytes > Scalio.Verbs.Libfabric.BootstrapHello.MaxBodyLength)
            throw new ArgumentOutOfRangeException(nameof(MaxHelloBytes), MaxHelloBytes, $"maximum hello size must be 64..{Scalio.Verbs.Libfabric.BootstrapHello.MaxBodyLength} bytes");
    }
}
