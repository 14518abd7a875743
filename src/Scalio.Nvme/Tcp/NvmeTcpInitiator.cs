using System.Buffers.Binary;
using System.Diagnostics;

namespace Scalio.Nvme.Tcp;

/// <summary>
/// An NVMe/TCP host (NVMe/TCP Transport 1.0 over NVMe Base 2.0 Fabrics): an admin queue and one I/O queue, each
/// on its own TCP connection. <see cref="ConnectAsync(string, int, string, string?, CancellationToken)"/> brings
/// the controller up the way a Linux host does (Connect, Property Get CAP/VS, Property Set CC.EN with IOSQES/IOCQES,
/// wait for CSTS.RDY, Identify Controller, connect the I/O queue). Read/Write/Flush use preallocated command
/// slots, pinned capsule buffers and pooled async state (no allocation per command in steady state). Writes that
/// fit the controller's in-capsule size go in-capsule; larger writes are sent on R2T with H2CData.
/// </summary>
public sealed partial class NvmeTcpInitiator : IAsyncDisposable, IDisposable
{
    private const int AdminDepth = 32;
    private const int AdminInCapsule = 8192;

    private readonly NvmeTcpHostQueue _admin;
    private readonly NvmeTcpInitiatorOptions _options;
    private readonly Dictionary<uint, int> _lbaShift = new();
    private NvmeTcpHostQueue? _io;
    private Timer? _keepAlive;
    private Timer? _watchdog;
    private int _disposed;

    private NvmeTcpInitiator(NvmeTcpHostQueue admin, NvmeTcpInitiatorOptions options, string subsystemNqn, string hostNqn)
    {
        _admin = admin;
        _options = options;
        SubsystemNqn = subsystemNqn;
        HostNqn = hostNqn;
    }

    /// <summary>Subsystem NQN this initiator connected to.</summary>
    public string SubsystemNqn { get; }

    /// <summary>Host NQN sent in Connect.</summary>
    public string HostNqn { get; }

    /// <summary>Controller ID returned by the admin Connect.</summary>
    public ushort ControllerId { get; private set; }

    /// <summary>Controller Capabilities (CAP) property.</summary>
    public ulong Capabilities { get; private set; }

    /// <summary>Version (VS) property.</summary>
    public uint Version { get; private set; }

    /// <summary>Identify Controller data read during connect.</summary>
    public NvmeTcpControllerInfo Controller { get; private set; } = new();

    /// <summary>Header digests are in use (negotiated on both connections).</summary>
    public bool HeaderDigest => _admin.HeaderDigest;

    /// <summary>Data digests are in use.</summary>
    public bool DataDigest => _admin.DataDigest;

    /// <summary>Largest data transfer of one command in bytes (from MDTS and CAP.MPSMIN), or int.MaxValue.</summary>
    public int MaxTransferBytes { get; private set; } = int.MaxValue;

    /// <summary>The I/O queue (for the synchronous offload read path), or null before it is connected.</summary>
    internal NvmeTcpHostQueue? IoQueue => _io;

    /// <summary>Largest write sent in-capsule on the I/O queue.</summary>
    public int InCapsuleDataSize => _io?.InCapsuleLimit ?? 0;

    /// <summary>Connects with default options and an optional host NQN.</summary>
    /// <param name="host">Target host name or address.</param>
    /// <param name="port">Target TCP port (4420 by convention).</param>
    /// <param name="subsystemNqn">NVM subsystem NQN.</param>
    /// <param name="hostNqn">Host NQN, or null for a UUID-based one.</param>
    /// <param name="cancellationToken">Cancels the bring-up.</param>
    public static Task<NvmeTcpInitiator> ConnectAsync(string host, int port, string subsystemNqn, string? hostNqn = null, CancellationToken cancellationToken = default) =>
        ConnectAsync(host, port, subsystemNqn, new NvmeTcpInitiatorOptions { HostNqn = hostNqn }, cancellationToken);

    /// <summary>Connects the admin queue, enables the controller, identifies it and connects I/O queue 1.</summary>
    /// <param name="host">Target host name or address.</param>
    /// <param name="port">Target TCP port.</param>
    /// <param name="subsystemNqn">NVM subsystem NQN.</param>
    /// <param name="options">Options.</param>
    /// <param name="cancellationToken">Cancels the bring-up.</param>
    public static async Task<NvmeTcpInitiator> ConnectAsync(string host, int port, string subsystemNqn, NvmeTcpInitiatorOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentNullException.ThrowIfNull(options);
        if (port is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(port), port, "A TCP port is 1..65535.");
        }

        NvmeTcpWire.ValidateNqn(subsystemNqn, nameof(subsystemNqn));
        string hostNqn = options.HostNqn ?? "nqn.2014-08.org.nvmexpress:uuid:" + options.HostId.ToString("D");
        NvmeTcpWire.ValidateNqn(hostNqn, nameof(options.HostNqn));
        if (options.QueueDepth is < 1 or > 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.QueueDepth, "QueueDepth must be 1..1024.");
        }

        if (options.KeepAliveTimeout < TimeSpan.Zero || options.KeepAliveTimeout.TotalMilliseconds > uint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.KeepAliveTimeout, "KeepAliveTimeout must be zero or a positive time up to 2^32 ms.");
        }

        NvmeTcpHostQueue admin = await NvmeTcpHostQueue.OpenAsync(host, port, 0, AdminDepth, AdminInCapsule, options, cancellationToken).ConfigureAwait(false);
        var initiator = new NvmeTcpInitiator(admin, options, subsystemNqn, hostNqn);
        try
        {
            initiator._watchdog = new Timer(static s => ((NvmeTcpInitiator)s!).Watchdog(), initiator, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
            initiator.ControllerId = await initiator.ConnectQueueAsync(admin, 0, AdminDepth, 0xFFFF, (uint)options.KeepAliveTimeout.TotalMilliseconds, cancellationToken).ConfigureAwait(false);
            if (options.KeepAliveTimeout > TimeSpan.Zero)
            {
                TimeSpan period = options.KeepAliveTimeout / 2;
                initiator._keepAlive = new Timer(static s => ((NvmeTcpInitiator)s!).SendKeepAlive(), initiator, period, period);
            }

            await initiator.EnableAsync(cancellationToken).ConfigureAwait(false);
            NvmeTcpControllerInfo info = await initiator.IdentifyControllerAsync(cancellationToken).ConfigureAwait(false);
            int mps = 12 + (int)((initiator.Capabilities >> 48) & 0xF); // CAP.MPSMIN
            if (info.Mdts != 0 && info.Mdts + mps < 31)
            {
                initiator.MaxTransferBytes = 1 << (info.Mdts + mps);
            }

            int mqes = (int)(initiator.Capabilities & 0xFFFF) + 1; // CAP.MQES is zero-based
            int depth = Math.Min(options.QueueDepth, mqes);
            int inCapsule = Math.Min(info.InCapsuleDataSize, 1 << 20);
            NvmeTcpHostQueue io = await NvmeTcpHostQueue.OpenAsync(host, port, 1, depth, Math.Max(inCapsule, NvmeTcpWire.ConnectDataSize), options, cancellationToken).ConfigureAwait(false);
            initiator._io = io;
            await initiator.ConnectQueueAsync(io, 1, depth, initiator.ControllerId, 0, cancellationToken).ConfigureAwait(false);
            io.InCapsuleLimit = inCapsule;
            return initiator;
        }
        catch
        {
            initiator.Dispose();
            throw;
        }
    }

    private async Task<ushort> ConnectQueueAsync(NvmeTcpHostQueue queue, ushort qid, int depth, ushort cntlid, uint katoMs, CancellationToken cancellationToken)
    {
        byte[] data = new byte[NvmeTcpWire.ConnectDataSize];
        NvmeTcpWire.WriteConnectData(data, _options.HostId, cntlid, SubsystemNqn, HostNqn);
        NvmeTcpHostQueue.CommandSlot slot = await queue.RentAsync(cancellationToken).ConfigureAwait(false);
        new NvmeConnectCommand
        {
            CommandId = slot.Cid,
            Flags = NvmeTcpWire.PsdtSgl,
            SglIdentifier = NvmeTcpWire.SglInCapsule,
            SglLength = NvmeTcpWire.ConnectDataSize,
            RecordFormat = 0,
            QueueId = qid,
            SubmissionQueueSize = (ushort)(depth - 1),
            ConnectAttributes = (byte)(_options.DisableSqFlowControl ? 0x04 : 0),
            KeepAliveTimeout = katoMs,
        }.WriteTo(slot.Sqe);
        NvmeCompletion cqe = await queue.SubmitAsync(slot, data).ConfigureAwait(false);
        ThrowIfError(cqe, $"Fabrics Connect (QID {qid}, subsystem '{SubsystemNqn}')");
        return qid == 0 ? (ushort)cqe.Dw0 : cntlid;
    }

    private async Task EnableAsync(CancellationToken cancellationToken)
    {
        Capabilities = await PropertyGetAsync(NvmeProperty.Cap, true, cancellationToken).ConfigureAwait(false);
        Version = (uint)await PropertyGetAsync(NvmeProperty.Vs, false, cancellationToken).ConfigureAwait(false);
        uint cc = NvmeProperty.CcIoSqes64 | NvmeProperty.CcIoCqes16 | NvmeProperty.CcEnable; // CSS NVM, MPS 4 KiB, round robin
        await PropertySetAsync(NvmeProperty.Cc, cc, false, cancellationToken).ConfigureAwait(false);

        TimeSpan capTimeout = TimeSpan.FromMilliseconds(500 * Math.Max(1, (int)((Capabilities >> 24) & 0xFF))); // CAP.TO, 500 ms units
        TimeSpan limit = capTimeout < _options.EnableTimeout ? capTimeout : _options.EnableTimeout;
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            uint csts = (uint)await PropertyGetAsync(NvmeProperty.Csts, false, cancellationToken).ConfigureAwait(false);
            if ((csts & NvmeProperty.CstsFatal) != 0)
            {
                throw new NvmeTcpException($"The controller reports a fatal status (CSTS 0x{csts:X8}) after CC.EN was set.");
            }

            if ((csts & NvmeProperty.CstsReady) != 0)
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(start) > limit)
            {
                throw new NvmeTcpException($"The controller did not set CSTS.RDY within {limit.TotalSeconds:0.#} s of CC.EN (CSTS 0x{csts:X8}).");
            }

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reads a controller property with Fabrics Property Get.</summary>
    /// <param name="offset">Property offset (see <see cref="NvmeProperty"/>).</param>
    /// <param name="eightBytes">True for an 8-byte property such as CAP.</param>
    /// <param name="cancellationToken">Cancels waiting for a command slot.</param>
    public async Task<ulong> PropertyGetAsync(uint offset, bool eightBytes, CancellationToken cancellationToken = default)
    {
        NvmeTcpHostQueue.CommandSlot slot = await _admin.RentAsync(cancellationToken).ConfigureAwait(false);
        new NvmePropertyGetCommand { CommandId = slot.Cid, Flags = NvmeTcpWire.PsdtSgl, Size8 = (byte)(eightBytes ? 1 : 0), PropertyOffset = offset }.WriteTo(slot.Sqe);
        NvmeCompletion cqe = await _admin.SubmitAsync(slot, default).ConfigureAwait(false);
        ThrowIfError(cqe, $"Property Get 0x{offset:X}");
        ulong value = cqe.Dw0 | ((ulong)cqe.Dw1 << 32);
        return eightBytes ? value : (uint)value;
    }

    /// <summary>Writes a controller property with Fabrics Property Set.</summary>
    /// <param name="offset">Property offset.</param>
    /// <param name="value">Value.</param>
    /// <param name="eightBytes">True for an 8-byte property.</param>
    /// <param name="cancellationToken">Cancels waiting for a command slot.</param>
    public async Task PropertySetAsync(uint offset, ulong value, bool eightBytes, CancellationToken cancellationToken = default)
    {
        NvmeTcpHostQueue.CommandSlot slot = await _admin.RentAsync(cancellationToken).ConfigureAwait(false);
        new NvmePropertySetCommand { CommandId = slot.Cid, Flags = NvmeTcpWire.PsdtSgl, Size8 = (byte)(eightBytes ? 1 : 0), PropertyOffset = offset, Value = value }.WriteTo(slot.Sqe);
        NvmeCompletion cqe = await _admin.SubmitAsync(slot, default).ConfigureAwait(false);
        ThrowIfError(cqe, $"Property Set 0x{offset:X}");
    }

    /// <summary>Identify Controller (CNS 01h).</summary>
    /// <param name="cancellationToken">Cancels waiting for a command slot.</param>
    public async Task<NvmeTcpControllerInfo> IdentifyControllerAsync(CancellationToken cancellationToken = default)
    {
        byte[] data = await IdentifyAsync(IdentifyCns.Controller, 0, cancellationToken).ConfigureAwait(false);
        var info = new NvmeTcpControllerInfo
        {
            VendorId = BinaryPrimitives.ReadUInt16LittleEndian(data),
            SerialNumber = NvmeTcpWire.ReadAscii(data.AsSpan(4, 20)),
            ModelNumber = NvmeTcpWire.ReadAscii(data.AsSpan(24, 40)),
            FirmwareRevision = NvmeTcpWire.ReadAscii(data.AsSpan(64, 8)),
            Mdts = data[77],
            ControllerId = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(78)),
            Version = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(80)),
            NamespaceCount = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(516)),
            SubsystemNqn = NvmeTcpWire.ReadNqn(data.AsSpan(NvmeIdentify.SubnqnOffset, 256)),
            Ioccsz = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(1792)),
            Raw = data,
        };
        Controller = info;
        return info;
    }

    /// <summary>Identify Namespace (CNS 00h) for <paramref name="nsid"/>; remembers its LBA size for Read/Write.</summary>
    /// <param name="nsid">Namespace identifier.</param>
    /// <param name="cancellationToken">Cancels waiting for a command slot.</param>
    public async Task<IdentifyNamespaceSummary> IdentifyNamespaceAsync(uint nsid, CancellationToken cancellationToken = default)
    {
        byte[] data = await IdentifyAsync(IdentifyCns.Namespace, nsid, cancellationToken).ConfigureAwait(false);
        IdentifyNamespaceSummary summary = NvmeIdentify.ReadNamespace(data);
        if (summary.Size == 0)
        {
            throw new NvmeCommandException($"Identify Namespace {nsid}", NvmeStatus.InvalidNamespace, 0);
        }

        lock (_lbaShift)
        {
            _lbaShift[nsid] = System.Numerics.BitOperations.Log2((uint)summary.LbaSize);
        }

        return summary;
    }

    private async Task<byte[]> IdentifyAsync(byte cns, uint nsid, CancellationToken cancellationToken)
    {
        byte[] data = GC.AllocateArray<byte>(NvmeIdentify.DataSize, pinned: true);
        NvmeTcpHostQueue.CommandSlot slot = await _admin.RentAsync(cancellationToken).ConfigureAwait(false);
        new NvmeIdentifyCommand
        {
            CommandId = slot.Cid,
            Flags = NvmeTcpWire.PsdtSgl,
            Nsid = nsid,
            SglIdentifier = NvmeTcpWire.SglTransport,
            SglLength = NvmeIdentify.DataSize,
            Cns = cns,
        }.WriteTo(slot.Sqe);
        slot.ReadDestination = data;
        NvmeCompletion cqe = await _admin.SubmitAsync(slot, default).ConfigureAwait(false);
        ThrowIfError(cqe, $"Identify CNS {cns:X2}h NSID {nsid}");
        return data;
    }

    /// <summary>
    /// Sends any admin command with no data or data from the controller (Get Log Page, Get/Set Features, Abort,
    /// Asynchronous Event Request, Identify with other CNS values) and returns its completion without throwing on an
    /// error status. The SQE carries PSDT = SGL and, when <paramref name="readDestination"/> is not empty, a
    /// transport SGL data block of its length. An Asynchronous Event Request completes only when the controller
    /// reports an event or the command is aborted.
    /// </summary>
    /// <param name="opcode">Admin opcode.</param>
    /// <param name="nsid">Namespace identifier (CDW1).</param>
    /// <param name="cdw10">Command dword 10.</param>
    /// <param name="cdw11">Command dword 11.</param>
    /// <param name="cdw12">Command dword 12.</param>
    /// <param name="cdw13">Command dword 13.</param>
    /// <param name="readDestination">Where data from the controller goes (its length is the transfer length), or empty.</param>
    /// <param name="cancellationToken">Cancels waiting for a command slot.</param>
    public async Task<NvmeCompletion> AdminCommandAsync(byte opcode, uint nsid, uint cdw10, uint cdw11 = 0, uint cdw12 = 0, uint cdw13 = 0,
        Memory<byte> readDestination = default, CancellationToken cancellationToken = default)
    {
        if (opcode == AdminOpcode.Fabrics)
        {
            throw new ArgumentException("Fabrics commands have their own methods (Property Get/Set); Connect is done by ConnectAsync.", nameof(opcode));
        }

        NvmeTcpHostQueue.CommandSlot slot = await _admin.RentAsync(cancellationToken).ConfigureAwait(false);
        new NvmeAdminCommand
        {
            Opcode = opcode,
            Flags = NvmeTcpWire.PsdtSgl,
            CommandId = slot.Cid,
            Nsid = nsid,
            Sgl = SglDescriptor.TransportDataBlock((uint)readDestination.Length),
            Cdw10 = cdw10,
            Cdw11 = cdw11,
            Cdw12 = cdw12,
            Cdw13 = cdw13,
        }.WriteTo(slot.Sqe);
        slot.ReadDestination = readDestination;
        return await _admin.SubmitAsync(slot, default).ConfigureAwait(false);
    }

    /// <summary>Sends one Keep Alive on the admin queue.</summary>
    /// <param name="cancellationToken">Cancels waiting for a command slot.</param>
    public async Task KeepAliveAsync(CancellationToken cancellationToken = default)
    {
        NvmeTcpHostQueue.CommandSlot slot = await _admin.RentAsync(cancellationToken).ConfigureAwait(false);
        new NvmeKeepAliveCommand { CommandId = slot.Cid, Flags = NvmeTcpWire.PsdtSgl }.WriteTo(slot.Sqe);
        NvmeCompletion cqe = await _admin.SubmitAsync(slot, default).ConfigureAwait(false);
        ThrowIfError(cqe, "Keep Alive");
    }

    private static void ThrowIfError(in NvmeCompletion cqe, string what)
    {
        if (!cqe.Status.IsSuccess)
        {
            throw new NvmeCommandException(what, cqe.Status, cqe.Dw0);
        }
    }

    private void SendKeepAlive()
    {
        if (Volatile.Read(ref _disposed) != 0 || _admin.Failure is not null)
        {
            return;
        }

        _ = KeepAliveSafeAsync();
    }

    private async Task KeepAliveSafeAsync()
    {
        try
        {
            await KeepAliveAsync().ConfigureAwait(false);
        }
        catch (NvmeTcpException)
        {
            // The queue is closed; commands report the failure.
        }
        catch (NvmeCommandException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void Watchdog()
    {
        _admin.CheckTimeouts(_options.CommandTimeout);
        _io?.CheckTimeouts(_options.CommandTimeout);
        if (_admin.Failure is Exception f && _io is { Failure: null } io)
        {
            io.Fail(new NvmeTcpException("The admin queue failed: " + f.Message, f));
        }
    }

    /// <summary>Shuts the controller down (CC.SHN, best effort, at most 2 s) and closes both connections.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _keepAlive?.Dispose();
        _watchdog?.Dispose();
        if (_admin.Failure is null)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await PropertySetAsync(NvmeProperty.Cc, NvmeProperty.CcIoSqes64 | NvmeProperty.CcIoCqes16 | NvmeProperty.CcEnable | (1u << 14), false, cts.Token)
                    .WaitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NvmeTcpException or NvmeCommandException or OperationCanceledException or TimeoutException)
            {
                // Shutdown notification is a courtesy; closing the connections is what matters.
            }
        }

        _io?.Dispose();
        _admin.Dispose();
    }

    /// <summary>Closes both connections without a shutdown notification.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _keepAlive?.Dispose();
        _watchdog?.Dispose();
        _io?.Dispose();
        _admin.Dispose();
    }
}
