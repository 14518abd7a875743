namespace Scalio.Nvme;

/// <summary>
/// A MODEL of an SSD, not a device: decorates another namespace (usually a <see cref="RamNamespace"/>) with the
/// IOPS cap and per-I/O latency of an <see cref="SsdPerformanceModel"/>, so scaling runs can emulate N SSDs on
/// one machine. The inner I/O runs at once; the call then returns no earlier than the modelled completion time (long
/// waits sleep rather than burn a core), unless the calling thread defers its waits (<see cref="SsdPerformanceModel.DeferWaits"/>).
/// </summary>
public sealed class ModeledNamespace : NvmeNamespace
{
    private readonly NvmeNamespace _inner;
    private readonly bool _ownsInner;

    /// <summary>Models <paramref name="inner"/> as its own device with <paramref name="options"/>.</summary>
    /// <param name="inner">The namespace holding the data.</param>
    /// <param name="options">Model parameters.</param>
    /// <param name="ownsInner">Dispose <paramref name="inner"/> with this namespace.</param>
    public ModeledNamespace(NvmeNamespace inner, SsdModelOptions options, bool ownsInner = true)
        : this(inner, new SsdPerformanceModel(options), ownsInner)
    {
    }

    /// <summary>Models <paramref name="inner"/> on a (possibly shared) device model.</summary>
    /// <param name="inner">The namespace holding the data.</param>
    /// <param name="model">The device model; share one between namespaces of the same device.</param>
    /// <param name="ownsInner">Dispose <paramref name="inner"/> with this namespace.</param>
    public ModeledNamespace(NvmeNamespace inner, SsdPerformanceModel model, bool ownsInner = true)
        : base(CheckInner(inner).Nsid, inner.LbaSize, inner.LbaCount)
    {
        ArgumentNullException.ThrowIfNull(model);
        _inner = inner;
        Model = model;
        _ownsInner = ownsInner;
    }

    /// <summary>The device model.</summary>
    public SsdPerformanceModel Model { get; }

    /// <summary>While true, I/O skips the model (no IOPS cap, no latency): for set-up such as loading a store before a
    /// measured run, never during one.</summary>
    public bool Bypass { get; set; }

    /// <summary>The namespace holding the data.</summary>
    public NvmeNamespace Inner => _inner;

    private static NvmeNamespace CheckInner(NvmeNamespace inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        return inner;
    }

    /// <inheritdoc/>
    protected override NvmeStatus ReadCore(ulong slba, int blocks, Span<byte> destination)
    {
        if (Bypass) return _inner.Read(slba, blocks, destination);
        long done = Model.Reserve(NvmeIoKind.Read);
        NvmeStatus status = _inner.Read(slba, blocks, destination);
        Complete(done);
        return status;
    }

    /// <inheritdoc/>
    protected override NvmeStatus WriteCore(ulong slba, int blocks, ReadOnlySpan<byte> source, bool fua)
    {
        if (Bypass) return _inner.Write(slba, blocks, source, fua);
        long done = Model.Reserve(NvmeIoKind.Write);
        NvmeStatus status = _inner.Write(slba, blocks, source, fua);
        Complete(done);
        return status;
    }

    /// <inheritdoc/>
    protected override NvmeStatus FlushCore()
    {
        if (Bypass) return _inner.Flush();
        long done = Model.Reserve(NvmeIoKind.Flush);
        NvmeStatus status = _inner.Flush();
        Complete(done);
        return status;
    }

    private static void Complete(long done)
    {
        if (SsdPerformanceModel.DeferWaits) SsdPerformanceModel.Defer(done);
        else SsdPerformanceModel.WaitUntil(done);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsInner)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"MODEL ({Model.Options.MaxIops} IOPS, read {Model.Options.ReadLatency.TotalMicroseconds} us, write {Model.Options.WriteLatency.TotalMicroseconds} us) over {_inner}";
}
