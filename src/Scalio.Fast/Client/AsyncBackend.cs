using Scalio.Fast.Cache;

namespace Scalio.Fast.Client;

/// <summary>
/// The synchronous session a <see cref="ScalioAsyncClient"/> drives: one thread at a time calls it (the pump, or a
/// caller trying a hit inline, under the client's session lock), so it need not be thread-safe.
/// </summary>
internal interface IAsyncClientBackend : IDisposable
{
    /// <summary>The schema layout (for argument checks at the call).</summary>
    SlotLayout Layout { get; }

    /// <summary>Most GETs one batch holds.</summary>
    int BatchCapacity { get; }

    /// <summary>An empty batch to add keys to; null when the store is unreachable (the GETs fail Unavailable).</summary>
    ScalioGetBatch? BeginBatch();

    /// <summary>Runs the batch, telling <paramref name="observer"/> of each answer as it arrives. <see cref="OpStatus.Ok"/>: each
    /// key's status is in the batch; anything else: every key not told of with Ok or NotFound failed so.</summary>
    OpStatus Get(ScalioGetBatch batch, IGetBatchObserver observer);

    /// <summary>A hit-only GET (<see cref="ScalioClient.TryGetHit"/>): false on anything but a hit.</summary>
    bool TryGetHit(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength);

    /// <summary>A PUT, as <see cref="ScalioClient.Put"/>.</summary>
    OpStatus Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

    /// <summary>A DELETE, as <see cref="ScalioClient.Delete"/>.</summary>
    OpStatus Delete(ReadOnlySpan<byte> key);
}

/// <summary>An embedded store's session: one <see cref="ScalioClient"/> and one reused batch.</summary>
internal sealed class EmbeddedAsyncBackend : IAsyncClientBackend
{
    private readonly ScalioClient _client;
    private readonly ScalioGetBatch _batch;

    public EmbeddedAsyncBackend(ScalioClient client, int batchCapacity)
    {
        _client = client;
        try
        {
            _batch = client.CreateGetBatch(batchCapacity);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public SlotLayout Layout => _client.Layout;

    public int BatchCapacity => _batch.Capacity;

    public ScalioGetBatch? BeginBatch()
    {
        _batch.Clear();
        return _batch;
    }

    public OpStatus Get(ScalioGetBatch batch, IGetBatchObserver observer)
    {
        _client.Get(batch, observer);
        return OpStatus.Ok;
    }

    public bool TryGetHit(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength) => _client.TryGetHit(key, value, out valueLength);

    public OpStatus Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => _client.Put(key, value);

    public OpStatus Delete(ReadOnlySpan<byte> key) => _client.Delete(key);

    public void Dispose()
    {
        _batch.Dispose();
        _client.Dispose();
    }
}
