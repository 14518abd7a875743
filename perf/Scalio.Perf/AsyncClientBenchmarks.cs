#pragma warning disable CA2012 // many ValueTasks in flight on purpose, each consumed exactly once
using System.Runtime.CompilerServices;
using System.Text;
using BenchmarkDotNet.Attributes;
using Scalio.Fast;
using Scalio.Fast.Client;

namespace Scalio.Perf;

/// <summary>
/// GET hits through the async client with 64 in flight from one thread, per operation, beside the same 64 keys as one
/// synchronous batch and as 64 single GETs: what the pump thread, the queue and the pooled sources cost on top of the
/// batch they feed. Hits only (16 hot keys on the embedded store); allocation measured. The async client tries each
/// hit on the calling thread when nothing is queued (<see cref="ScalioAsyncClientOptions.HitsOnCaller"/>, the default);
/// the "Pumped" benchmarks turn that off, so every GET goes through the pump thread.
/// </summary>
[MemoryDiagnoser]
public class AsyncClientBenchmarks : IDisposable
{
    private const int InFlight = 64, HotKeys = 16;
    private ScalioStore _store = null!;
    private ScalioClient _sync = null!;
    private ScalioGetBatch _batch = null!;
    private ScalioAsyncClient _async = null!, _pumped = null!;
    private byte[][] _keys = null!, _buffers = null!;
    private readonly ValueTask<ScalioGetResult>[] _tasks = new ValueTask<ScalioGetResult>[InFlight];

    [GlobalSetup]
    public void Setup()
    {
        _store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 20_000, CacheBuckets = 64 });
        _sync = _store.OpenClient();
        _batch = _sync.CreateGetBatch(InFlight);
        _async = _store.OpenAsyncClient();
        _pumped = _store.OpenAsyncClient(new ScalioAsyncClientOptions { HitsOnCaller = false });
        _keys = new byte[HotKeys][];
        _buffers = new byte[InFlight][];
        for (int i = 0; i < HotKeys; i++)
        {
            _keys[i] = Encoding.ASCII.GetBytes($"user{i:D10}");
            _sync.Put(_keys[i], new byte[64]);
        }
        for (int j = 0; j < InFlight; j++) _buffers[j] = new byte[_sync.Layout.ValueCapacity];
        for (int i = 0; i < HotKeys; i++) _sync.Get(_keys[i], _buffers[0], out _); // fills: from here every GET hits
    }

    [GlobalCleanup]
    public void Cleanup() => Dispose();

    /// <summary>Stops the store.</summary>
    public void Dispose()
    {
        _async?.Dispose();
        _pumped?.Dispose();
        _store?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>64 single synchronous GET hits, one after another.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = InFlight)]
    public int SyncSingleGets()
    {
        int ok = 0;
        for (int j = 0; j < InFlight; j++) if (_sync.Get(_keys[j % HotKeys], _buffers[j], out _) == OpStatus.Ok) ok++;
        return ok;
    }

    /// <summary>The same 64 keys as one synchronous batch (one doorbell per step).</summary>
    [Benchmark(OperationsPerInvoke = InFlight)]
    public int SyncBatch()
    {
        _batch.Clear();
        for (int j = 0; j < InFlight; j++) _batch.Add(_keys[j % HotKeys]);
        _sync.Get(_batch);
        return _batch.HitCount;
    }

    /// <summary>64 GetAsync in flight from this thread, then each result taken once complete (spinning, no await).</summary>
    [Benchmark(OperationsPerInvoke = InFlight)]
    public int AsyncGets64Spin() => Spin(_async);

    /// <summary>As <see cref="AsyncGets64Spin"/>, every GET through the pump thread.</summary>
    [Benchmark(OperationsPerInvoke = InFlight)]
    public int AsyncGets64SpinPumped() => Spin(_pumped);

    /// <summary>64 GetAsync in flight, awaited one by one (continuations on the thread pool; pooled async builder).</summary>
    [Benchmark(OperationsPerInvoke = InFlight)]
    public ValueTask<int> AsyncGets64Await() => Await(_async);

    /// <summary>As <see cref="AsyncGets64Await"/>, every GET through the pump thread.</summary>
    [Benchmark(OperationsPerInvoke = InFlight)]
    public ValueTask<int> AsyncGets64AwaitPumped() => Await(_pumped);

    private int Spin(ScalioAsyncClient client)
    {
        var tasks = _tasks;
        for (int j = 0; j < InFlight; j++) tasks[j] = client.GetAsync(_keys[j % HotKeys], _buffers[j]);
        int ok = 0;
        for (int j = 0; j < InFlight; j++)
        {
            var spin = new SpinWait();
            while (!tasks[j].IsCompleted) spin.SpinOnce(sleep1Threshold: -1);
            if (tasks[j].Result.Status == OpStatus.Ok) ok++;
        }
        return ok;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> Await(ScalioAsyncClient client)
    {
        var tasks = _tasks;
        for (int j = 0; j < InFlight; j++) tasks[j] = client.GetAsync(_keys[j % HotKeys], _buffers[j]);
        int ok = 0;
        for (int j = 0; j < InFlight; j++) if ((await tasks[j]).Status == OpStatus.Ok) ok++;
        return ok;
    }
}
