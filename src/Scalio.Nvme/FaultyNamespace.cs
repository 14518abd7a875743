namespace Scalio.Nvme;

/// <summary>How a write that <see cref="FaultyNamespace"/> fails goes wrong.</summary>
public enum InjectedWriteFault
{
    /// <summary>Nothing reaches the device (EIO before the transfer).</summary>
    Refused,

    /// <summary>The first half of the blocks reach the device, then the command fails (a short write).</summary>
    Short,

    /// <summary>Every block reaches the device but its durability is not confirmed (a failed fdatasync / FUA).</summary>
    UnconfirmedFlush,

    /// <summary>Nothing reaches the device: Capacity Exceeded (ENOSPC).</summary>
    NoSpace,
}

/// <summary>
/// A fault-injecting namespace for tests and <c>scalio ycsb --inject-write-errors/--inject-read-errors</c>: decorates
/// another namespace and fails a seeded fraction of its reads (Unrecovered Read Error, no data) and writes (Write Fault
/// as a refused, short or unconfirmed write, or Capacity Exceeded, in turn), and delays a seeded fraction of all I/O
/// (slow I/O). The decision for the n-th I/O depends only on the seed and n, so
/// a single-threaded run is reproducible. Probabilities can change while I/O runs (e.g. faults only after a load).
/// </summary>
public sealed class FaultyNamespace : NvmeNamespace
{
    private readonly NvmeNamespace _inner;
    private readonly ulong _seed;
    private long _calls, _readFaults, _writeFaults;
    private double _readP, _writeP, _slowP;
    private long _slowIos;

    /// <summary>Decorates <paramref name="inner"/> (disposed with this namespace); faults start at probability 0.</summary>
    /// <param name="inner">The namespace holding the data.</param>
    /// <param name="seed">Seed of the fault schedule.</param>
    public FaultyNamespace(NvmeNamespace inner, long seed)
        : base((inner ?? throw new ArgumentNullException(nameof(inner))).Nsid, inner.LbaSize, inner.LbaCount)
    {
        _inner = inner;
        _seed = (ulong)seed * 0x9E3779B97F4A7C15UL + 0x632BE59BD9B4E019UL;
    }

    /// <summary>The namespace holding the data.</summary>
    public NvmeNamespace Inner => _inner;

    /// <summary>Probability in [0, 1] that a read fails.</summary>
    public double ReadErrorProbability
    {
        get => Volatile.Read(ref _readP);
        set => Volatile.Write(ref _readP, CheckProbability(value));
    }

    /// <summary>Probability in [0, 1] that a write fails.</summary>
    public double WriteErrorProbability
    {
        get => Volatile.Read(ref _writeP);
        set => Volatile.Write(ref _writeP, CheckProbability(value));
    }

    /// <summary>Probability in [0, 1] that an I/O first waits <see cref="SlowIoDelay"/> (a slow device).</summary>
    public double SlowIoProbability
    {
        get => Volatile.Read(ref _slowP);
        set => Volatile.Write(ref _slowP, CheckProbability(value));
    }

    /// <summary>How long a slow I/O waits before it runs (default 2 ms).</summary>
    public TimeSpan SlowIoDelay { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>I/Os delayed on purpose so far.</summary>
    public long InjectedSlowIos => Volatile.Read(ref _slowIos);

    /// <summary>The kind every failed write takes; null (default): each kind in turn, by the seed.</summary>
    public InjectedWriteFault? WriteFaultKind { get; set; }

    /// <summary>Reads failed on purpose so far.</summary>
    public long InjectedReadErrors => Volatile.Read(ref _readFaults);

    /// <summary>Writes failed on purpose so far.</summary>
    public long InjectedWriteErrors => Volatile.Read(ref _writeFaults);

    private static double CheckProbability(double p)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "a fault probability must be in [0, 1]");
        return p;
    }

    /// <summary>A uniform draw in [0, 1) for the next I/O, and bits for choosing a fault kind.</summary>
    private double Draw(out ulong bits)
    {
        ulong x = _seed + (ulong)Interlocked.Increment(ref _calls) * 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL; // splitmix64 finaliser
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        bits = x;
        return (x >> 11) * (1.0 / (1UL << 53));
    }

    private void MaybeSlow()
    {
        double p = SlowIoProbability;
        if (p > 0 && Draw(out _) < p)
        {
            Interlocked.Increment(ref _slowIos);
            Thread.Sleep(SlowIoDelay);
        }
    }

    /// <inheritdoc/>
    protected override NvmeStatus ReadCore(ulong slba, int blocks, Span<byte> destination)
    {
        MaybeSlow();
        double p = ReadErrorProbability;
        if (p > 0 && Draw(out _) < p)
        {
            Interlocked.Increment(ref _readFaults);
            return NvmeStatus.UnrecoveredReadError;
        }
        return _inner.Read(slba, blocks, destination);
    }

    /// <inheritdoc/>
    protected override NvmeStatus WriteCore(ulong slba, int blocks, ReadOnlySpan<byte> source, bool fua)
    {
        MaybeSlow();
        double p = WriteErrorProbability;
        if (p > 0 && Draw(out ulong bits) < p)
        {
            Interlocked.Increment(ref _writeFaults);
            switch (WriteFaultKind ?? (InjectedWriteFault)(bits % 4))
            {
                case InjectedWriteFault.NoSpace:
                    return NvmeStatus.CapacityExceeded;
                case InjectedWriteFault.Short when blocks > 1:
                    _inner.Write(slba, blocks / 2, source, fua);
                    break;
                case InjectedWriteFault.UnconfirmedFlush:
                    _inner.Write(slba, blocks, source, fua);
                    break;
            }
            return NvmeStatus.WriteFault;
        }
        return _inner.Write(slba, blocks, source, fua);
    }

    /// <inheritdoc/>
    protected override NvmeStatus FlushCore() => _inner.Flush();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override string ToString() => $"FAULTS (read {ReadErrorProbability}, write {WriteErrorProbability}) over {_inner}";
}
