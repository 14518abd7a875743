using BenchmarkDotNet.Attributes;
using Scalio.Fast;
using Scalio.Fast.Client;
using Scalio.Fast.Schema;
using Scalio.Verbs;

namespace Scalio.Perf;

/// <summary>
/// The typed client that Scalio.Generators emits for the default 16 B / 64 B schema (<see cref="DefaultSchema"/>), and the
/// generated work-request chain builders, with allocation measured (MemoryDiagnoser).
/// </summary>
[MemoryDiagnoser]
public unsafe class GeneratedClientBenchmarks : IDisposable
{
    private ScalioStore _store = null!;
    private ScalioClient _raw = null!;
    private DefaultSchema.Client _client;
    private DefaultKey[] _keys = null!;
    private DefaultValue _value;
    private StepContext _context;
    private WorkRequest* _chain;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _store = new ScalioStore(new ScalioStoreOptions { Layout = DefaultSchema.Layout, ExpectedRecords = 20_000, CacheBuckets = 4 });
        _raw = _store.OpenClient();
        _client = new DefaultSchema.Client(_raw);
        _keys = new DefaultKey[4096];
        _value = default;
        _value[0] = 42;
        for (int i = 0; i < _keys.Length; i++)
        {
            _keys[i] = DefaultKey.From(System.Text.Encoding.ASCII.GetBytes($"user{i:D10}"));
            _client.Put(in _keys[i], in _value);
        }
        _client.Get(in _keys[0], out _);

        var domain = _store.Fabric.CreateDomain();
        MemoryRegion local = domain.Allocate(4096, MemoryAccess.All);
        _context = new StepContext(local, 0, 1024, 1088, 1152, _store.Server.Describe());
        _chain = (WorkRequest*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(ProtocolSteps.MaxChainLength * sizeof(WorkRequest)), 64);
    }

    [GlobalCleanup]
    public void Cleanup() => Dispose();

    /// <summary>Stops the store.</summary>
    public void Dispose()
    {
        _store?.Dispose();
        if (_chain != null) System.Runtime.InteropServices.NativeMemory.AlignedFree(_chain);
        _chain = null;
        GC.SuppressFinalize(this);
    }

    /// <summary>Typed cache hit: one RDMA READ of the bucket, checksum verify, value copied into the typed struct.</summary>
    [Benchmark(Baseline = true)]
    public int TypedGetHit() => (int)_client.Get(in _keys[0], out _);

    /// <summary>Typed miss with fill (a 32-slot cache over 4096 keys makes nearly every GET a miss).</summary>
    [Benchmark]
    public int TypedGetMissWithFill() => (int)_client.Get(in _keys[(_next = (_next + 1) & 4095)], out _);

    /// <summary>Typed PUT through the server.</summary>
    [Benchmark]
    public int TypedPut() => (int)_client.Put(in _keys[(_next = (_next + 1) & 4095)], in _value);

    /// <summary>Generated builder of the miss path's fill chain (WRITE body + publishing CAS), no posting.</summary>
    [Benchmark]
    public int BuildFillAndPublishChain() => ProtocolSteps.FillAndPublish(_chain, in _context, (ulong)_next++, 3, 5, 64, 1, 2);
}
