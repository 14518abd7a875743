using System.Text;
using BenchmarkDotNet.Attributes;
using Scalio.Fast;
using Scalio.Fast.Client;

namespace Scalio.Perf;

/// <summary>Whole GET and PUT on the embedded store, with allocation measured (MemoryDiagnoser).</summary>
[MemoryDiagnoser]
public class GetBenchmarks : IDisposable
{
    private ScalioStore _store = null!;
    private ScalioClient _client = null!;
    private byte[][] _keys = null!;
    private readonly byte[] _value = new byte[64];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 20_000, CacheBuckets = 4 });
        _client = _store.OpenClient();
        _keys = new byte[4096][];
        for (int i = 0; i < _keys.Length; i++)
        {
            _keys[i] = Encoding.ASCII.GetBytes($"user{i:D10}");
            _client.Put(_keys[i], _value);
        }
        _client.Get(_keys[0], _value, out _);
    }

    [GlobalCleanup]
    public void Cleanup() => Dispose();

    /// <summary>Stops the store.</summary>
    public void Dispose()
    {
        _store?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Cache hit: one RDMA READ of the bucket, checksum verify.</summary>
    [Benchmark(Baseline = true)]
    public int GetHit() => (int)_client.Get(_keys[0], _value, out _);

    /// <summary>Miss with fill: CAS+READ, READ location, NVMe-oF read via the emulated offload target, WRITE+CAS.
    /// A 32-slot cache over 4096 keys makes nearly every GET a miss.</summary>
    [Benchmark]
    public int GetMissWithFill() => (int)_client.Get(_keys[(_next = (_next + 1) & 4095)], _value, out _);

    /// <summary>PUT through the server: SSD read-modify-write of the bucket page, index update, invalidation.</summary>
    [Benchmark]
    public int Put() => (int)_client.Put(_keys[(_next = (_next + 1) & 4095)], _value);
}
