using Scalio.Fast.Cache;
using Scalio.Fast.Client;

namespace Scalio.Fast.Remote;

/// <summary>A remote store's session for a <see cref="ScalioAsyncClient"/>: one <see cref="RemoteScalioClient"/>, which
/// reconnects on its own; its batch belongs to the current connection, so each run begins a new one.</summary>
internal sealed class RemoteAsyncBackend(RemoteScalioClient client, SlotLayout layout) : IAsyncClientBackend
{
    public SlotLayout Layout => layout;

    public int BatchCapacity => ScalioGetBatch.MaxCapacity;

    public ScalioGetBatch? BeginBatch() => client.BeginBatch();

    public OpStatus Get(ScalioGetBatch batch, IGetBatchObserver observer) => client.Get(batch, observer);

    public bool TryGetHit(ReadOnlySpan<byte> key, Span<byte> value, out int valueLength) => client.TryGetHit(key, value, out valueLength);

    public OpStatus Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => client.Put(key, value);

    public OpStatus Delete(ReadOnlySpan<byte> key) => client.Delete(key);

    public void Dispose() => client.Dispose();
}
