using System.Net;
using System.Net.Sockets;
using Scalio.Verbs;

namespace Scalio.Nvme.Tcp;

/// <summary>Options of <see cref="NvmeTcpTarget"/>.</summary>
public sealed class NvmeTcpTargetOptions
{
    /// <summary>Where to listen; port 0 picks a free port (see <see cref="NvmeTcpTarget.Endpoint"/>).</summary>
    public IPEndPoint Endpoint { get; init; } = new(IPAddress.Loopback, 4420);

    /// <summary>The one NVM subsystem served (no discovery subsystem).</summary>
    public string SubsystemNqn { get; init; } = "nqn.2024-01.io.scalio:nvme-tcp";

    /// <summary>In-capsule data an I/O command may carry (IOCCSZ = (64 + this) / 16); a multiple of 16. Default 16384, as Linux nvmet-tcp.</summary>
    public int InCapsuleDataSize { get; init; } = 16384;

    /// <summary>MAXH2CDATA reported in ICResp, at least 4096.</summary>
    public int MaxH2CData { get; init; } = 128 * 1024;

    /// <summary>Largest transfer of one command: a power of two of at least 4096 (MDTS = log2(this / 4096)).</summary>
    public int MaxTransferBytes { get; init; } = 1 << 20;

    /// <summary>Largest queue size a host may connect with (CAP.MQES + 1).</summary>
    public int MaxQueueDepth { get; init; } = 128;

    /// <summary>Time allowed for the rest of a PDU once its first byte arrived; a peer that stalls longer is disconnected.</summary>
    public TimeSpan PduTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection with no PDU for this long is closed (admin connections use KATO plus a grace second when the host set one).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Most connections served at once; more are closed on accept.</summary>
    public int MaxConnections { get; init; } = 64;

    /// <summary>
    /// Commands executed against the namespaces at once, over all connections (the "NIC engines" of the offload
    /// target); 0 = no limit (each connection's thread executes its own commands).
    /// </summary>
    public int ExecutionThreads { get; init; }

    /// <summary>Serial number reported by Identify Controller.</summary>
    public string SerialNumber { get; init; } = "SCALIO0001";

    /// <summary>Model number reported by Identify Controller.</summary>
    public string ModelNumber { get; init; } = "Scalio.Fast NVMe/TCP target";

    /// <summary>
    /// Host NQNs allowed to connect; null or empty = any host. A Connect from any other host NQN is answered with
    /// Connect Invalid Host (SCT 1h, SC 84h) and nothing else is served on that connection.
    /// </summary>
    public IReadOnlyCollection<string>? AllowedHosts { get; init; }
}

/// <summary>
/// An NVMe/TCP target (NVMe/TCP Transport 1.0) serving <see cref="NvmeNamespace"/> objects on one I/O subsystem:
/// admin and I/O queues on separate connections, Fabrics Connect/Property Get/Property Set, Identify
/// (controller, namespace, active namespace list), Keep Alive, Read/Write/Flush with in-capsule data, R2T/H2CData
/// and C2HData, optional header and data digests. Each connection runs on its own thread; every header is
/// validated by the generated decoders and a malformed PDU ends the connection with a C2HTermReq. This is a
/// software target (the multi-process "offload engine"), not hardware offload.
/// </summary>
public sealed class NvmeTcpTarget : IAsyncDisposable, IDisposable
{
    private readonly Socket _listener;
    private readonly object _lock = new();
    private readonly Dictionary<ushort, TargetController> _controllers = new();
    private readonly HashSet<NvmeTcpTargetConnection> _connections = new();
    private Thread? _acceptThread;
    private ushort _nextControllerId = 1;
    private readonly SemaphoreSlim? _engines;
    private long _terminations;
    private long _connectionFaults;
    private Exception? _lastConnectionFault;
    private long _busyNanoseconds;
    private long _commands;
    private long _errors;
    private long _connectionsAccepted;
    private long _hostsRefused;
    private readonly long[] _adminCommands = new long[256];
    private int _disposed;
    private readonly HashSet<string>? _allowedHosts;
    private readonly Dictionary<uint, (byte[] Nguid, Guid Uuid)> _namespaceIds = new();
    private readonly long _startTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>Creates a target; call <see cref="Start"/> to listen.</summary>
    /// <param name="options">Options.</param>
    /// <param name="namespaces">The namespaces (NSIDs unique); the target does not dispose them.</param>
    public NvmeTcpTarget(NvmeTcpTargetOptions options, IEnumerable<NvmeNamespace> namespaces)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(namespaces);
        NvmeTcpWire.ValidateNqn(options.SubsystemNqn, nameof(options.SubsystemNqn));
        if (options.InCapsuleDataSize < NvmeTcpWire.ConnectDataSize || options.InCapsuleDataSize % 16 != 0 || options.InCapsuleDataSize > (1 << 20))
        {
            throw new ArgumentException($"InCapsuleDataSize must be a multiple of 16 in 1024..1048576, not {options.InCapsuleDataSize}.", nameof(options));
        }

        if (options.MaxH2CData is < 4096 or > (1 << 24))
        {
            throw new ArgumentException($"MaxH2CData must be 4096..16777216, not {options.MaxH2CData}.", nameof(options));
        }

        if (options.MaxTransferBytes < 4096 || (options.MaxTransferBytes & (options.MaxTransferBytes - 1)) != 0 || options.MaxTransferBytes > (1 << 26))
        {
            throw new ArgumentException($"MaxTransferBytes must be a power of two in 4096..64 MiB, not {options.MaxTransferBytes}.", nameof(options));
        }

        if (options.MaxQueueDepth is < 2 or > 1024)
        {
            throw new ArgumentException($"MaxQueueDepth must be 2..1024, not {options.MaxQueueDepth}.", nameof(options));
        }

        if (options.ExecutionThreads < 0)
        {
            throw new ArgumentException($"ExecutionThreads must be 0 (no limit) or positive, not {options.ExecutionThreads}.", nameof(options));
        }

        Options = options;
        _engines = options.ExecutionThreads > 0 ? new SemaphoreSlim(options.ExecutionThreads, options.ExecutionThreads) : null;
        Executor = new NvmeCommandExecutor(namespaces);
        if (Executor.Namespaces.Count == 0)
        {
            throw new ArgumentException("A target needs at least one namespace.", nameof(namespaces));
        }

        if (options.AllowedHosts is { Count: > 0 } hosts)
        {
            _allowedHosts = new HashSet<string>(StringComparer.Ordinal);
            foreach (string host in hosts)
            {
                NvmeTcpWire.ValidateNqn(host, nameof(options.AllowedHosts));
                _allowedHosts.Add(host);
            }
        }

        foreach (NvmeNamespace ns in Executor.Namespaces)
        {
            _namespaceIds[ns.Nsid] = NamespaceIdentifiers(options, ns);
        }

        _listener = new Socket(options.Endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
    }

    /// <summary>
    /// The NGUID and UUID reported for a namespace: derived (SHA-256) from the subsystem NQN, the serial number, the
    /// NSID and, for a file namespace, the file's full path, so they stay the same across restarts of the same target
    /// and differ between targets serving different files. The UUID is an RFC 9562 version 8 (name-derived) UUID.
    /// </summary>
    /// <param name="options">The target's options.</param>
    /// <param name="ns">The namespace.</param>
    public static (byte[] Nguid, Guid Uuid) NamespaceIdentifiers(NvmeTcpTargetOptions options, NvmeNamespace ns)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(ns);
        string backing = ns is FileNamespace file ? "file:" + Path.GetFullPath(file.Path) : "ram";
        byte[] hash = System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes($"scalio-namespace\n{options.SubsystemNqn}\n{options.SerialNumber}\n{ns.Nsid}\n{backing}"));
        Span<byte> u = hash.AsSpan(0, 16);
        u[6] = (byte)((u[6] & 0x0F) | 0x80); // version 8
        u[8] = (byte)((u[8] & 0x3F) | 0x80); // RFC variant
        byte[] nguid = hash.AsSpan(16, 16).ToArray();
        nguid[0] |= 0x01; // never all zero (an all-zero NGUID means "none")
        return (nguid, new Guid(u, bigEndian: true));
    }

    /// <summary>The NGUID and UUID of an NSID served here.</summary>
    internal (byte[] Nguid, Guid Uuid) IdentifiersOf(uint nsid) => _namespaceIds[nsid];

    /// <summary>Whether a host NQN may connect (no allow-list: any host).</summary>
    /// <param name="hostNqn">The host NQN of a Connect command.</param>
    public bool IsHostAllowed(string hostNqn) => _allowedHosts is null || _allowedHosts.Contains(hostNqn);

    /// <summary>Raised (on a connection thread) when a Connect is refused because its host NQN is not allowed: the host NQN and the peer's address.</summary>
    public event Action<string, EndPoint?>? HostRefused;

    /// <summary>Admin commands received with <paramref name="opcode"/> (all controllers, since the start), e.g. <see cref="AdminOpcode.AsyncEventRequest"/>.</summary>
    /// <param name="opcode">Admin opcode.</param>
    public long AdminCommandCount(byte opcode) => Interlocked.Read(ref _adminCommands[opcode]);

    internal void CountAdmin(byte opcode) => Interlocked.Increment(ref _adminCommands[opcode]);

    /// <summary>A one-line summary of the admin commands received, e.g. "identify 6, get-log-page 1, set-features 2".</summary>
    public string AdminCommandSummary()
    {
        var parts = new List<string>();
        (byte Op, string Name)[] names =
        [
            (AdminOpcode.Identify, "identify"), (AdminOpcode.GetLogPage, "get-log-page"), (AdminOpcode.SetFeatures, "set-features"),
            (AdminOpcode.GetFeatures, "get-features"), (AdminOpcode.AsyncEventRequest, "async-event-request"), (AdminOpcode.Abort, "abort"),
            (AdminOpcode.KeepAlive, "keep-alive"),
        ];
        foreach ((byte op, string name) in names)
        {
            long n = AdminCommandCount(op);
            if (n > 0)
            {
                parts.Add($"{name} {n}");
            }
        }

        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    /// <summary>Connect commands refused with Connect Invalid Host.</summary>
    public long HostsRefused => Interlocked.Read(ref _hostsRefused);

    internal void OnHostRefused(string hostNqn, EndPoint? peer)
    {
        Interlocked.Increment(ref _hostsRefused);
        try
        {
            HostRefused?.Invoke(hostNqn, peer);
        }
        catch (Exception e)
        {
            // A faulty handler must not cost the connection thread.
            System.Diagnostics.Debug.WriteLine("HostRefused handler failed: " + e);
        }
    }

    /// <summary>SMART counters summed over the namespaces.</summary>
    internal SmartHealthCounters HealthCounters()
    {
        long bytesRead = 0, bytesWritten = 0, reads = 0, writes = 0;
        bool readOnly = true;
        foreach (NvmeNamespace ns in Executor.Namespaces)
        {
            bytesRead += ns.BytesRead;
            bytesWritten += ns.BytesWritten;
            reads += ns.ReadCount;
            writes += ns.WriteCount;
            readOnly &= ns.IsReadOnly;
        }

        return new SmartHealthCounters
        {
            BytesRead = bytesRead,
            BytesWritten = bytesWritten,
            ReadCommands = reads,
            WriteCommands = writes,
            PowerOnHours = (long)System.Diagnostics.Stopwatch.GetElapsedTime(_startTimestamp).TotalHours,
            ReadOnly = readOnly,
        };
    }

    /// <summary>The options.</summary>
    public NvmeTcpTargetOptions Options { get; }

    internal NvmeCommandExecutor Executor { get; }

    /// <summary>The bound endpoint (valid after <see cref="Start"/>).</summary>
    public IPEndPoint Endpoint => (IPEndPoint)(_listener.LocalEndPoint ?? Options.Endpoint);

    /// <summary>C2HTermReq PDUs sent because of malformed or unexpected PDUs.</summary>
    public long TerminationsSent => Interlocked.Read(ref _terminations);

    /// <summary>
    /// CPU time the connection threads spent handling PDUs (thread CPU time by <see cref="ThreadCpuClock"/>, read once
    /// per PDU; waiting for a PDU costs none), in nanoseconds: the target's "NIC time".
    /// </summary>
    public long BusyNanoseconds => Interlocked.Read(ref _busyNanoseconds);

    /// <summary>Read, Write and Flush commands executed against the namespaces.</summary>
    public long Commands => Interlocked.Read(ref _commands);

    /// <summary>Executed Read, Write and Flush commands that completed with an error status (e.g. LBA Out of Range).</summary>
    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>Connections accepted so far.</summary>
    public long ConnectionsAccepted => Interlocked.Read(ref _connectionsAccepted);

    /// <summary>Connections that ended on an unexpected exception (a bug: it cost that connection only); see <see cref="LastConnectionFault"/>.</summary>
    public long ConnectionFaults => Interlocked.Read(ref _connectionFaults);

    /// <summary>The exception that ended the latest faulted connection, or null.</summary>
    public Exception? LastConnectionFault => Volatile.Read(ref _lastConnectionFault);

    /// <summary>Connections open now.</summary>
    public int OpenConnections
    {
        get
        {
            lock (_lock)
            {
                return _connections.Count;
            }
        }
    }

    /// <summary>Binds, listens and starts accepting connections.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_acceptThread is not null)
        {
            throw new InvalidOperationException("The target is already started.");
        }

        _listener.Bind(Options.Endpoint);
        _listener.Listen(64);
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "nvme-tcp-accept" };
        _acceptThread.Start();
    }

    private void AcceptLoop()
    {
        while (Volatile.Read(ref _disposed) == 0)
        {
            Socket client;
            try
            {
                client = _listener.Accept();
            }
            catch (SocketException)
            {
                if (Volatile.Read(ref _disposed) != 0)
                {
                    return;
                }

                continue;
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _connectionsAccepted);
            var connection = new NvmeTcpTargetConnection(this, client);
            lock (_lock)
            {
                if (_connections.Count >= Options.MaxConnections || Volatile.Read(ref _disposed) != 0)
                {
                    client.Dispose();
                    continue;
                }

                _connections.Add(connection);
            }

            connection.Start();
        }
    }

    internal void CountTermination() => Interlocked.Increment(ref _terminations);

    internal void NoteConnectionFault(Exception e)
    {
        Volatile.Write(ref _lastConnectionFault, e);
        Interlocked.Increment(ref _connectionFaults); // after the exception is visible: a reader of the count sees it
    }

    internal void AddBusy(long nanoseconds) => Interlocked.Add(ref _busyNanoseconds, nanoseconds);

    /// <summary>Executes an I/O command, holding one of the <see cref="NvmeTcpTargetOptions.ExecutionThreads"/> engines if limited.</summary>
    internal NvmeStatus Execute(in SubmissionQueueEntry sqe, Span<byte> data, ushort sqId, ushort sqHead, out NvmeCompletion cqe)
    {
        _engines?.Wait();
        try
        {
            NvmeStatus status = Executor.Execute(in sqe, data, sqId, sqHead, out cqe);
            Interlocked.Increment(ref _commands);
            if (!status.IsSuccess)
            {
                Interlocked.Increment(ref _errors);
            }

            return status;
        }
        finally
        {
            _engines?.Release();
        }
    }

    internal void Remove(NvmeTcpTargetConnection connection)
    {
        lock (_lock)
        {
            _connections.Remove(connection);
        }
    }

    internal TargetController? CreateController(string hostNqn, uint katoMs)
    {
        lock (_lock)
        {
            for (int tries = 0; tries < 0xFFEF; tries++)
            {
                ushort id = _nextControllerId;
                _nextControllerId = (ushort)(id >= 0xFFEF ? 1 : id + 1);
                if (!_controllers.ContainsKey(id))
                {
                    var c = new TargetController(id, hostNqn, katoMs);
                    _controllers.Add(id, c);
                    return c;
                }
            }

            return null;
        }
    }

    internal TargetController? FindController(ushort id)
    {
        lock (_lock)
        {
            return _controllers.TryGetValue(id, out TargetController? c) ? c : null;
        }
    }

    internal void RemoveController(TargetController controller)
    {
        lock (_lock)
        {
            _controllers.Remove(controller.Id);
        }
    }

    /// <summary>Stops listening and closes every connection.</summary>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Stops listening and closes every connection.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _listener.Dispose();
        NvmeTcpTargetConnection[] open;
        lock (_lock)
        {
            open = [.. _connections];
        }

        foreach (NvmeTcpTargetConnection c in open)
        {
            c.Close();
        }

        _acceptThread?.Join(TimeSpan.FromSeconds(5));
        foreach (NvmeTcpTargetConnection c in open)
        {
            c.Join(TimeSpan.FromSeconds(5));
        }
    }
}

/// <summary>Controller state shared by the admin and I/O connections of one host association.</summary>
internal sealed class TargetController
{
    public TargetController(ushort id, string hostNqn, uint katoMs)
    {
        Id = id;
        HostNqn = hostNqn;
        KeepAliveMs = katoMs;
    }

    public ushort Id { get; }

    public string HostNqn { get; }

    /// <summary>KATO in milliseconds: from Connect, changed by Set Features Keep Alive Timer; 0 = no keep alive.</summary>
    public uint KeepAliveMs { get; set; }

    /// <summary>Asynchronous Event Configuration (Set Features 0Bh).</summary>
    public uint AsyncEventConfig { get; set; }

    /// <summary>Temperature Threshold (Set Features 04h); default: over-temperature at 358 K.</summary>
    public uint TemperatureThreshold { get; set; } = 358;

    /// <summary>Error Recovery (Set Features 05h).</summary>
    public uint ErrorRecovery { get; set; }

    /// <summary>Arbitration (Set Features 01h).</summary>
    public uint Arbitration { get; set; }

    /// <summary>Write Atomicity Normal (Set Features 0Ah).</summary>
    public uint WriteAtomicity { get; set; }

    public uint Cc { get; set; }

    public uint Csts { get; set; }

    public bool Ready => (Csts & NvmeProperty.CstsReady) != 0;
}
