using Scalio.Fast;
using Scalio.Fast.Client;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary>Drives an embedded <see cref="ScalioStore"/> from the YCSB runner.</summary>
internal sealed class ScalioYcsbTarget(ScalioStore store, string name) : IYcsbTarget
{
    public string Name => name;

    public IYcsbSession OpenSession(int threadIndex) => new Session(store.OpenClient());

    public TargetCounters ReadCounters()
    {
        var c = store.ReadCounters();
        return new TargetCounters(c.Clients.RoundTrips, c.ServerBusyNanoseconds, c.OffloadBusyNanoseconds, c.DeviceReads, c.DeviceWrites,
            c.Clients.Hits, c.Clients.Gets - c.Clients.Hits, c.Clients.BytesMoved);
    }

    private sealed class Session(ScalioClient client) : IYcsbCacheSession, IYcsbBatchSession
    {
        private ScalioGetBatch? _batch;

        public bool LastReadWasHit { get; private set; }

        public int MaxReadBatch => ScalioGetBatch.MaxCapacity;

        public void ReadBatch(int count, ReadOnlySpan<byte> keys, int keySize, Span<byte> values, int valueSize, Span<bool> found, Span<bool> hits)
        {
            _batch ??= client.CreateGetBatch(ScalioGetBatch.MaxCapacity);
            _batch.Clear();
            for (int j = 0; j < count; j++) _batch.Add(keys.Slice(j * keySize, keySize));
            client.Get(_batch);
            for (int j = 0; j < count; j++)
            {
                var st = _batch.StatusAt(j);
                if (st != OpStatus.Ok && st != OpStatus.NotFound) throw new ScalioException($"GET failed: {st}");
                found[j] = st == OpStatus.Ok;
                hits[j] = _batch.HitAt(j);
                var v = _batch.ValueAt(j);
                v[..Math.Min(v.Length, valueSize)].CopyTo(values.Slice(j * valueSize, valueSize));
            }
        }

        public bool Read(ReadOnlySpan<byte> key, Span<byte> value)
        {
            long hits = client.Counters.Hits;
            var st = client.Get(key, value, out _);
            LastReadWasHit = client.Counters.Hits != hits;
            if (st == OpStatus.Ok) return true;
            if (st == OpStatus.NotFound) return false;
            throw new ScalioException($"GET failed: {st}");
        }

        public void Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Check(client.Put(key, value));

        public void Insert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Check(client.Put(key, value));

        private static void Check(OpStatus st)
        {
            if (st != OpStatus.Ok) throw new ScalioException($"PUT failed: {st}");
        }

        public void Dispose()
        {
            _batch?.Dispose();
            client.Dispose();
        }
    }
}
