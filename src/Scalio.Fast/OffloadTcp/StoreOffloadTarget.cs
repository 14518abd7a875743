using System.Net;
using Scalio.Fast.Storage;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;
using Scalio.Offload;

namespace Scalio.Fast.OffloadTcp;

/// <summary>Options of <see cref="StoreOffloadTarget"/>.</summary>
public sealed class StoreOffloadTargetOptions
{
    /// <summary>Where to listen; port 0 picks a free port. Default 127.0.0.1:4420.</summary>
    public IPEndPoint Endpoint { get; init; } = new(IPAddress.Loopback, 4420);

    /// <summary>Subsystem NQN served. Default <see cref="NvmeTcpOffloadReadPath.DefaultSubsystemNqn"/>.</summary>
    public string SubsystemNqn { get; init; } = NvmeTcpOffloadReadPath.DefaultSubsystemNqn;

    /// <summary>LBA size of the namespaces: the store's <see cref="ScalioStoreOptions.LbaSize"/> (default 4096).</summary>
    public int LbaSize { get; init; } = 4096;

    /// <summary>Commands executed at once over all connections (the offload engine's threads); 0 = one per connection.</summary>
    public int Threads { get; init; }

    /// <summary>Host NQNs allowed to connect (<see cref="NvmeTcpTargetOptions.AllowedHosts"/>); null or empty = any host.</summary>
    public IReadOnlyCollection<string>? AllowedHosts { get; init; }
}

/// <summary>
/// The offload engine in multi-process mode: an NVMe/TCP target, in its own process (<c>scalio target</c>), serving
/// the namespace files of a store's data directory (<c>ssd0.img</c>, <c>ssd1.img</c>, ... as
/// <see cref="ScalioStore.DeviceFilePath"/> names them) as NSIDs 1..N (NSID = device index + 1, as clients address them).
/// Clients' miss path reads the SSDs through it (<see cref="NvmeTcpOffloadReadPath"/>), never through the server.
/// <para>The files are opened READ-ONLY (<see cref="FileNamespace.OpenReadOnly"/>, O_DIRECT where the filesystem
/// allows it, so reads see what the server process wrote and made durable): the target never creates, sizes, formats,
/// truncates or recovers them, and refuses writes with Namespace is Write Protected. Only the server writes the SSDs.
/// Every file must carry an intact Scalio superblock naming its device index and the device count
/// (docs/storage-layout.md): start the server on the directory first.</para>
/// <para>This is a software target on host cores standing in for the DPU's NVMe-oF offload hardware; its CPU time is
/// reported as <see cref="BusyNanoseconds"/> ("NIC time"), never as server CPU.</para>
/// </summary>
public sealed class StoreOffloadTarget : IDisposable
{
    private const int PageSize = 4096;

    private readonly FileNamespace[] _namespaces;
    private readonly NvmeTcpTarget _target;
    private int _disposed;

    private StoreOffloadTarget(string? directory, FileNamespace[] namespaces, NvmeTcpTarget target, bool inProcess)
    {
        DataDirectory = directory;
        _namespaces = namespaces;
        _target = target;
        IsInProcess = inProcess;
    }

    /// <summary>
    /// Starts the emulated NIC of a server process: an NVMe/TCP target serving <paramref name="store"/>'s own devices
    /// (RAM or file namespaces, NSID = device index + 1) through write-protected views, so that clients of other
    /// processes read the SSDs without the server's cores, as the DPU's NIC serves NVMe-oF with target offload.
    /// The server keeps writing the devices; the target only reads them. Dispose the target before the store.
    /// </summary>
    /// <param name="store">The store whose devices to serve.</param>
    /// <param name="options">Options (<see cref="StoreOffloadTargetOptions.LbaSize"/> is ignored: each device keeps its own), or null for the defaults.</param>
    /// <returns>The listening target.</returns>
    /// <exception cref="System.Net.Sockets.SocketException">The endpoint cannot be bound.</exception>
    public static StoreOffloadTarget Serve(ScalioStore store, StoreOffloadTargetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        options ??= new StoreOffloadTargetOptions();
        if (options.Threads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Threads, "Threads must be 0 (one per connection) or positive.");
        }

        var views = new NvmeNamespace[store.Devices.Count];
        for (int i = 0; i < views.Length; i++)
        {
            views[i] = new ReadOnlyDeviceView(store.Devices[i]);
        }

        var target = StartTarget(options, "Scalio.Fast emulated NIC", views);
        string? directory = store.Options.DataDirectory is { } d ? Path.GetFullPath(d) : null;
        return new StoreOffloadTarget(directory, [], target, inProcess: true);
    }

    /// <summary>Starts an NVMe/TCP target over <paramref name="namespaces"/> with the options both kinds share.</summary>
    private static NvmeTcpTarget StartTarget(StoreOffloadTargetOptions options, string model, IReadOnlyList<NvmeNamespace> namespaces)
    {
        var target = new NvmeTcpTarget(new NvmeTcpTargetOptions
        {
            Endpoint = options.Endpoint,
            SubsystemNqn = options.SubsystemNqn,
            ExecutionThreads = options.Threads,
            MaxConnections = 1024, // two per client thread (admin and I/O queue)
            ModelNumber = model,
            AllowedHosts = options.AllowedHosts,
        }, namespaces);
        try
        {
            target.Start();
        }
        catch
        {
            target.Dispose();
            throw;
        }

        return target;
    }

    /// <summary>
    /// Opens the namespace files of <paramref name="dataDirectory"/> read-only, checks their superblocks and starts
    /// listening.
    /// </summary>
    /// <param name="dataDirectory">The store's data directory (as given to <c>scalio server --data-dir</c>).</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <returns>The listening target.</returns>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="FileNotFoundException">The directory holds no <c>ssd0.img</c>.</exception>
    /// <exception cref="InvalidDataException">A file is not an intact Scalio device, or devices are missing.</exception>
    /// <exception cref="System.Net.Sockets.SocketException">The endpoint cannot be bound.</exception>
    public static StoreOffloadTarget Open(string dataDirectory, StoreOffloadTargetOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        options ??= new StoreOffloadTargetOptions();
        if (options.LbaSize is not (512 or 4096))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.LbaSize, "LbaSize must be 512 or 4096 (the store's LBA size).");
        }

        if (options.Threads < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Threads, "Threads must be 0 (one per connection) or positive.");
        }

        string directory = Path.GetFullPath(dataDirectory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"Data directory '{directory}' does not exist.");
        }

        if (!File.Exists(ScalioStore.DeviceFilePath(directory, 0)))
        {
            throw new FileNotFoundException($"'{directory}' holds no store namespace file ({Path.GetFileName(ScalioStore.DeviceFilePath(directory, 0))}); " +
                "start `scalio server --data-dir` on it first.", ScalioStore.DeviceFilePath(directory, 0));
        }

        var namespaces = new List<FileNamespace>();
        try
        {
            for (int i = 0; i < 64 && File.Exists(ScalioStore.DeviceFilePath(directory, i)); i++)
            {
                namespaces.Add(FileNamespace.OpenReadOnly(ScalioStore.DeviceFilePath(directory, i), (uint)i + 1, options.LbaSize));
            }

            CheckSuperblocks(namespaces);
            var target = StartTarget(options, "Scalio.Fast offload target", namespaces);
            return new StoreOffloadTarget(directory, [.. namespaces], target, inProcess: false);
        }
        catch
        {
            foreach (FileNamespace ns in namespaces)
            {
                ns.Dispose();
            }

            throw;
        }
    }

    /// <summary>Page 0 of every device must be an intact superblock of device i of exactly this many devices.</summary>
    private static void CheckSuperblocks(List<FileNamespace> namespaces)
    {
        byte[] page = GC.AllocateArray<byte>(PageSize, pinned: true);
        for (int i = 0; i < namespaces.Count; i++)
        {
            FileNamespace ns = namespaces[i];
            NvmeStatus status = ns.Read(0, PageSize / ns.LbaSize, page);
            if (!status.IsSuccess)
            {
                throw new IOException($"{ns.Path}: cannot read the superblock: {status}.");
            }

            if (!DeviceLog.TryReadSuperblockIdentity(page, out uint pageSize, out uint device, out uint devices))
            {
                throw new InvalidDataException($"{ns.Path}: page 0 is not an intact Scalio superblock; the target serves only a store's namespace files " +
                    "(start `scalio server --data-dir` on the directory first).");
            }

            if (pageSize != PageSize || device != (uint)i || devices != (uint)namespaces.Count)
            {
                throw new InvalidDataException($"{ns.Path}: its superblock says device {device} of {devices} (page size {pageSize}), " +
                    $"but the directory has {namespaces.Count} device file(s) and this is file {i}; every device of the store must be present.");
            }
        }
    }

    /// <summary>The data directory served (full path); null for an in-process store on RAM namespaces.</summary>
    public string? DataDirectory { get; }

    /// <summary>True when the target serves the devices of a store in this process (<see cref="Serve"/>), not files it opened.</summary>
    public bool IsInProcess { get; }

    /// <summary>The bound endpoint.</summary>
    public IPEndPoint Endpoint => _target.Endpoint;

    /// <summary>Subsystem NQN served.</summary>
    public string SubsystemNqn => _target.Options.SubsystemNqn;

    /// <summary>The namespace files this target opened (NSID = index + 1), all read-only; empty when <see cref="IsInProcess"/>.</summary>
    public IReadOnlyList<FileNamespace> Namespaces => _namespaces;

    /// <summary>The NVMe/TCP target (connection and termination counters).</summary>
    public NvmeTcpTarget Target => _target;

    /// <summary>CPU time the target spent serving (the emulated NIC's time), in nanoseconds.</summary>
    public long BusyNanoseconds => _target.BusyNanoseconds;

    /// <summary>Read/Write/Flush commands executed.</summary>
    public long Commands => _target.Commands;

    /// <summary>Stops listening, closes every connection and the files.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _target.Dispose();
        foreach (FileNamespace ns in _namespaces)
        {
            ns.Dispose();
        }
    }
}
