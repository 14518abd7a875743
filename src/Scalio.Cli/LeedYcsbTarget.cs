using Scalio.Fast;
using Scalio.Baselines;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary>Drives a LEED or LEED+Ditto baseline (<see cref="LeedClient"/>) from the YCSB runner.</summary>
internal sealed class LeedYcsbTarget : IYcsbTarget
{
    private readonly ScalioStore _store;
    private readonly LeedMode _mode;
    private readonly List<LeedClient> _clients = [];

    /// <summary>Creates the target; sessions connect to <paramref name="store"/>'s server.</summary>
    public LeedYcsbTarget(ScalioStore store, LeedMode mode, string name)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _mode = mode;
        Name = name;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>One-sided cache reads by all sessions so far.</summary>
    public long OneSidedReads { get { long n = 0; lock (_clients) foreach (var c in _clients) n += c.OneSidedReads; return n; } }

    /// <summary>Two-sided requests sent by all sessions so far.</summary>
    public long ServerRequests { get { long n = 0; lock (_clients) foreach (var c in _clients) n += c.ServerRequests; return n; } }

    /// <inheritdoc/>
    public IYcsbSession OpenSession(int threadIndex)
    {
        var client = new LeedClient(_store, _mode);
        lock (_clients) _clients.Add(client);
        return new Session(client);
    }

    /// <inheritdoc/>
    public TargetCounters ReadCounters()
    {
        long rts = 0, gets = 0, hits = 0, bytes = 0;
        lock (_clients)
        {
            foreach (var c in _clients)
            {
                rts += c.Counters.RoundTrips;
                gets += c.Counters.Gets;
                hits += c.Counters.Hits;
                bytes += c.Counters.BytesMoved;
            }
        }
        var s = _store.ReadCounters();
        return new TargetCounters(rts, s.ServerBusyNanoseconds, s.OffloadBusyNanoseconds, s.DeviceReads, s.DeviceWrites, hits, gets - hits, bytes);
    }

    private sealed class Session(LeedClient client) : IYcsbCacheSession
    {
        public bool LastReadWasHit { get; private set; }

        public bool Read(ReadOnlySpan<byte> key, Span<byte> value)
        {
            long hits = client.Counters.Hits;
            var st = client.Get(key, value, out _);
            LastReadWasHit = client.Counters.Hits != hits;
            if (st == Fast.OpStatus.Ok) return true;
            if (st == Fast.OpStatus.NotFound) return false;
            throw new ScalioException($"GET failed: {st}");
        }

        public void Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Check(client.Put(key, value));

        public void Insert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Check(client.Put(key, value));

        private static void Check(Fast.OpStatus st)
        {
            if (st != Fast.OpStatus.Ok) throw new ScalioException($"PUT failed: {st}");
        }

        public void Dispose() => client.Dispose();
    }
}
