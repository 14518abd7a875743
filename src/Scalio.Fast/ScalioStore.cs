using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Fast.Server;
using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Offload;

namespace Scalio.Fast;

/// <summary>Options of an embedded store.</summary>
public sealed class ScalioStoreOptions
{
    /// <summary>Key/value schema layout.</summary>
    public SlotLayout Layout { get; init; } = SlotLayout.Default;

    /// <summary>Records the store is sized for; sets the SSD bucket count and device size when those are not given.</summary>
    public long ExpectedRecords { get; init; } = 100_000;

    /// <summary>Cache capacity as a fraction of <see cref="ExpectedRecords"/> (the paper uses ~10%).</summary>
    public double CacheFraction { get; init; } = 0.10;

    /// <summary>Cache buckets; 0 derives them from <see cref="CacheFraction"/>.</summary>
    public int CacheBuckets { get; init; }

    /// <summary>Number of SSDs (namespaces).</summary>
    public int Devices { get; init; } = 1;

    /// <summary>LBA size of the namespaces: 512 or 4096.</summary>
    public int LbaSize { get; init; } = 4096;

    /// <summary>Directory for file-backed namespaces (real I/O); null keeps them in RAM. Existing files are reopened and
    /// the store recovered from them (open with the options they were created with). An open store holds the directory
    /// exclusively: a second one, in any process, fails with <see cref="DataDirectoryInUseException"/>.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>SSD performance MODEL: each namespace is wrapped in a <see cref="ModeledNamespace"/> with its own IOPS cap
    /// and latency, so scaling runs can emulate N SSDs on one machine. Over file namespaces (<see cref="DataDirectory"/>)
    /// the real device adds its own latency and its own host CPU cost per command. Null: no cap.</summary>
    public SsdModelOptions? SsdModel { get; init; }

    /// <summary>Server worker threads.</summary>
    public int ServerWorkers { get; init; } = 1;

    /// <summary>MODEL of a smaller server: core-seconds per second its serving work may use (<see cref="CpuBudget"/>);
    /// 0 (default): unlimited.</summary>
    public double ServerCpuCores { get; init; }

    /// <summary>Writes gathered per SSD into one batched write (1 = unbatched, up to 128).</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Longest a write waits for its batch to fill.</summary>
    public TimeSpan BatchIdleTimeout { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>How long an open batch waits, once the server has no request left to read, for writers that are still
    /// active (capped by <see cref="BatchIdleTimeout"/>). Longer fills batches under a loaded scheduler at the cost of
    /// write latency.</summary>
    public TimeSpan BatchDrainGrace { get; init; } = TimeSpan.FromMicroseconds(30);

    /// <summary>Threads of the emulated offload target (the NIC's engines). 0 (default): none; each offloaded read
    /// executes on the client thread that sends its capsule, as the loopback fabric executes RDMA requests.</summary>
    public int OffloadThreads { get; init; }

    /// <summary>NVMe commands one client connection may have in flight at the offload target (its capsule slots; each
    /// holds a 128 KiB data buffer). Default 8; a batched GET keeps up to this many SSD reads in flight.</summary>
    public int OffloadQueueDepth { get; init; } = 8;

    /// <summary>Requests one client connection may have at the server at once (the server's receives per connection;
    /// further requests wait in the client's fabric until one is answered). Default 2.</summary>
    public int MaxRequestsInFlightPerClient { get; init; } = 2;

    /// <summary>Run the NVMe-oF target in software on the server's cores instead of the NIC (a JBOF without target
    /// offload, the paper's Figure 12 middle step): its engine thread's CPU is server CPU, charged to the server and its
    /// budget. Uses one engine thread when <see cref="OffloadThreads"/> is 0.</summary>
    public bool TargetOnServerCpu { get; init; }

    /// <summary>Loopback fabric options (latency, fault injection).</summary>
    public LoopbackOptions? Fabric { get; init; }

    /// <summary>Client options.</summary>
    public ScalioClientOptions? Client { get; init; }

    /// <summary>Lease after which a stuck FILLING slot may be reclaimed, in milliseconds.</summary>
    public int LeaseMilliseconds { get; init; } = 1000;

    /// <summary>Checker harness only: how clients publish their fills instead of the real CAS (a deliberately wrong
    /// path, <see cref="IFillPublishPath"/>); null: the real one.</summary>
    internal IFillPublishPath? FillPublishPath { get; init; }

    /// <summary>Wraps each namespace (device index, namespace) before the store uses it, e.g. in a
    /// <see cref="FaultyNamespace"/> to inject I/O errors; the store disposes what it returns. Null: none.</summary>
    public Func<int, NvmeNamespace, NvmeNamespace>? WrapDevice { get; init; }

    /// <summary>Run the server in this domain (owned by the store from then on) instead of the loopback fabric, e.g. a
    /// libfabric domain whose clients live in other processes (<see cref="ScalioServer.Listen"/>); in-process
    /// <see cref="ScalioStore.OpenClient"/> is then refused. Null: loopback (the embedded store).</summary>
    public ProtectionDomain? ServerDomain { get => _serverDomain; init => _serverDomain = value; }

    private ProtectionDomain? _serverDomain;

    /// <summary>A copy of these options on <paramref name="domain"/>: every other option carries over without being listed.</summary>
    internal ScalioStoreOptions WithServerDomain(ProtectionDomain domain)
    {
        var copy = (ScalioStoreOptions)MemberwiseClone();
        copy._serverDomain = domain;
        return copy;
    }
}

/// <summary>Whole-store counters, summed over the server, the offload target, the devices and every client.</summary>
public readonly record struct StoreCounters(
    ClientCounters Clients,
    long ServerRequests,
    long ServerBusyNanoseconds,
    long OffloadBusyNanoseconds,
    long OffloadCommands,
    long DeviceReads,
    long DeviceWrites,
    long Invalidations);

/// <summary>
/// The embedded store: server, emulated offload target, namespaces and clients in one process over the loopback
/// fabric. Open one client per thread with <see cref="OpenClient"/>.
/// </summary>
public sealed class ScalioStore : IDisposable
{
    private readonly LoopbackFabric _fabric;
    private readonly NvmeNamespace[] _devices;
    private readonly ScalioServer _server;
    private readonly OffloadTarget _target;
    private readonly List<ScalioClient> _clients = [];
    private readonly FileStream? _dataLock; // held while open: one store per data directory
    private readonly List<ScalioAsyncClient> _asyncClients = [];

    /// <summary>Creates and starts an embedded store.</summary>
    public ScalioStore(ScalioStoreOptions? options = null)
    {
        Options = options ?? new ScalioStoreOptions();
        var o = Options;
        if (o.ExpectedRecords < 1) throw new ArgumentOutOfRangeException(nameof(options), "ExpectedRecords must be positive");
        if (o.Devices < 1 || o.Devices > 64) throw new ArgumentOutOfRangeException(nameof(options), "1..64 devices");
        if (o.LbaSize is not (512 or 4096)) throw new ArgumentOutOfRangeException(nameof(options), "LBA size must be 512 or 4096");
        const int pageSize = 4096;
        // Bytes the largest record takes in its bucket block: inline, or key plus value-log pointer (BucketBlock.InlineLimit).
        int record = Storage.BucketBlock.MaxFootprint(o.Layout.KeyCapacity, o.Layout.ValueCapacity, pageSize);
        int valuePages = Storage.ValueRecord.MaxPages(o.Layout.KeyCapacity, o.Layout.ValueCapacity, pageSize);
        int perPage = Math.Max(1, (pageSize - Storage.BucketBlock.HeaderSize) / record);
        // Fill SSD buckets to a quarter on average, so that a bucket overflowing its page is vanishingly rare.
        int ssdBuckets = (int)Math.Clamp((o.ExpectedRecords * 4 + perPage - 1) / perPage, 1, int.MaxValue / 2);
        int cacheBuckets = o.CacheBuckets > 0 ? o.CacheBuckets
            : (int)Math.Max(1, Math.Ceiling(o.ExpectedRecords * o.CacheFraction / o.Layout.SlotsPerBucket));
        // Log space: twice the buckets (the cleaner's headroom), the cleaner's reserve, superblock and checkpoints.
        // (Sized for the largest batch, so the batch size can change between runs without changing the geometry.)
        ulong pagesPerDevice = (ulong)(ssdBuckets / o.Devices + 1) * 2 + 64 + 4UL * (2UL * 128 + 8)
            + 2UL * (ulong)((16L * (ssdBuckets / o.Devices + 1) + 4095) / 4096 + 1)
            // Value log (schemas with records over the inline limit): twice the pages of the expected records at their
            // largest, plus the extra staging of the largest batch (one record per write).
            + (valuePages > 0 ? 2UL * (ulong)(o.ExpectedRecords / o.Devices + 1) * (ulong)valuePages + 128UL * (ulong)(valuePages + 1) + (ulong)valuePages : 0);
        ulong lbaCount = pagesPerDevice * (ulong)(pageSize / o.LbaSize);

        _dataLock = o.DataDirectory is null ? null : DataDirectoryLock.Acquire(o.DataDirectory);
        _fabric = new LoopbackFabric(o.Fabric);
        _devices = new NvmeNamespace[o.Devices];
        try
        {
            for (int i = 0; i < o.Devices; i++)
            {
                _devices[i] = o.DataDirectory is null
                    ? (o.SsdModel is null ? new RamNamespace((uint)i + 1, o.LbaSize, lbaCount)
                        : new ModeledNamespace(new RamNamespace((uint)i + 1, o.LbaSize, lbaCount), o.SsdModel))
                    : o.SsdModel is null ? OpenDeviceFile(o.DataDirectory, i, o.LbaSize, lbaCount)
                        : new ModeledNamespace(OpenDeviceFile(o.DataDirectory, i, o.LbaSize, lbaCount), o.SsdModel);
                if (o.WrapDevice is not null) _devices[i] = o.WrapDevice(i, _devices[i]);
            }
            _server = CreateServer(o.ServerDomain, _fabric, _devices, new ScalioServerOptions
            {
                Layout = o.Layout,
                CacheBuckets = cacheBuckets,
                SsdBuckets = ssdBuckets,
                PageSize = pageSize,
                Workers = o.ServerWorkers,
                CpuCores = o.ServerCpuCores,
                BatchSize = o.BatchSize,
                BatchIdleTimeout = o.BatchIdleTimeout,
                BatchDrainGrace = o.BatchDrainGrace,
                LeaseMilliseconds = o.LeaseMilliseconds,
                ReceivesPerConnection = o.MaxRequestsInFlightPerClient,
            });
            _target = new OffloadTarget(_fabric, _devices, o.TargetOnServerCpu
                ? new OffloadTargetOptions { Threads = Math.Max(1, o.OffloadThreads), ServerCpu = _server.CpuAccount, QueueDepth = o.OffloadQueueDepth }
                : new OffloadTargetOptions { Threads = o.OffloadThreads, QueueDepth = o.OffloadQueueDepth });
        }
        catch
        {
            _server?.Dispose();
            foreach (var d in _devices) d?.Dispose();
            _dataLock?.Dispose();
            throw;
        }
    }

    /// <summary>The namespace file of device <paramref name="index"/> (NSID index + 1) in a data directory: <c>ssd{index}.img</c>.</summary>
    /// <param name="directory">The store's data directory.</param>
    /// <param name="index">Device index, from 0.</param>
    public static string DeviceFilePath(string directory, int index) => Path.Combine(directory, $"ssd{index}.img");

    private static ScalioServer CreateServer(ProtectionDomain? domain, LoopbackFabric fabric, NvmeNamespace[] devices, ScalioServerOptions options)
        => domain is null ? new ScalioServer(fabric, devices, options) : new ScalioServer(domain, devices, options);

    /// <summary>Opens (or creates) a namespace file; an existing file of another size is refused untouched.</summary>
    private static FileNamespace OpenDeviceFile(string directory, int index, int lbaSize, ulong lbaCount)
    {
        string path = DeviceFilePath(directory, index);
        long capacity = (long)lbaCount * lbaSize;
        long length = File.Exists(path) ? new FileInfo(path).Length : 0;
        if (length != 0 && length != capacity)
            throw new InvalidDataException($"{path} holds {length} bytes but these options make a {capacity}-byte device; " +
                "open the store with the options it was created with (ExpectedRecords, Devices, LbaSize)");
        return FileNamespace.Open(path, (uint)index + 1, lbaSize, lbaCount);
    }

    /// <summary>The options the store was created with.</summary>
    public ScalioStoreOptions Options { get; }

    /// <summary>The schema layout.</summary>
    public SlotLayout Layout => _server.Layout;

    /// <summary>The server.</summary>
    public ScalioServer Server => _server;

    /// <summary>The emulated offload target.</summary>
    public OffloadTarget OffloadTarget => _target;

    /// <summary>The fabric.</summary>
    public LoopbackFabric Fabric => _fabric;

    /// <summary>The devices (NSID = index + 1), for the in-process NVMe/TCP offload target.</summary>
    internal IReadOnlyList<NvmeNamespace> Devices => _devices;

    /// <summary>Cache slots in server DRAM.</summary>
    public int CacheSlots => _server.Describe().CacheBuckets * Layout.SlotsPerBucket;

    /// <summary>Opens a client session (one per thread). Dispose it when done.</summary>
    public ScalioClient OpenClient()
    {
        if (Options.ServerDomain is not null)
            throw new InvalidOperationException("this store's server runs on another fabric (ServerDomain): its clients connect from other processes (RemoteScalioStore)");
        var client = new ScalioClient(_fabric.CreateDomain(), _server, _target, Options.Client, Options.FillPublishPath);
        lock (_clients) _clients.Add(client);
        return client;
    }

    /// <summary>
    /// Opens a thread-safe asynchronous client (<see cref="ScalioAsyncClient"/>): one session driven by its own pump
    /// thread, shared by any number of callers. Its timeouts are <see cref="ScalioStoreOptions.Client"/>'s. Dispose it when done.
    /// </summary>
    /// <param name="options">Batching, idle spin and pooling of the async client; null: defaults.</param>
    public ScalioAsyncClient OpenAsyncClient(ScalioAsyncClientOptions? options = null)
    {
        options ??= new ScalioAsyncClientOptions();
        options.Validate();
        var client = new ScalioAsyncClient(new EmbeddedAsyncBackend(OpenClient(), options.BatchCapacity), options);
        lock (_clients) _asyncClients.Add(client);
        return client;
    }

    /// <summary>Sums the counters of every part.</summary>
    public StoreCounters ReadCounters()
    {
        var c = new ClientCounters();
        lock (_clients) foreach (var cl in _clients) c.Add(in cl.Counters);
        long reads = 0, writes = 0;
        foreach (var d in _devices) { reads += d.ReadCount; writes += d.WriteCount; }
        return new StoreCounters(c, _server.Requests, _server.BusyNanoseconds, _target.BusyNanoseconds, _target.Commands, reads, writes, _server.Invalidations);
    }

    /// <summary>Turns the SSD MODEL of every modelled namespace off (true) or on (false): for set-up such as a load phase
    /// before a measured run; no effect on unmodelled namespaces.</summary>
    public void BypassSsdModel(bool bypass)
    {
        foreach (var d in _devices) if (d is ModeledNamespace m) m.Bypass = bypass;
    }

    /// <summary>Stops everything and releases memory (file namespaces keep their data).</summary>
    public void Dispose()
    {
        lock (_clients)
        {
            foreach (var a in _asyncClients) a.Dispose(); // stops their pumps before their sessions go
            _asyncClients.Clear();
            foreach (var c in _clients) c.Dispose();
            _clients.Clear();
        }
        _target.Dispose();
        _server.Dispose();
        foreach (var d in _devices) d.Dispose();
        _dataLock?.Dispose();
    }
}
