using System.Buffers;
using System.Diagnostics;
using System.Threading.Tasks.Sources;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;
using Scalio.Verbs;

namespace Scalio.Offload;

/// <summary>Options of <see cref="NvmeTcpOffloadReadPath"/>.</summary>
public sealed class NvmeTcpOffloadReadPathOptions
{
    /// <summary>Host NQN; null gives a UUID-based one per connection.</summary>
    public string? HostNqn { get; init; }

    /// <summary>Ask for CRC32C header digests.</summary>
    public bool HeaderDigest { get; init; }

    /// <summary>Ask for CRC32C data digests.</summary>
    public bool DataDigest { get; init; }

    /// <summary>Longest a read waits for its data and completion; then the connection is closed and the read returns
    /// <see cref="NvmeStatus.CommandAbortedByHost"/>. Default 5 s.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Time allowed for a whole connect (both TCP connections, Fabrics Connect, enable, Identify). Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Keep Alive Timeout sent in Connect (Keep Alive goes out every half of it from a timer). Default 10 s.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>After a FAILED reconnect, the next attempt waits this long; reads in between return
    /// <see cref="NvmeStatus.HostPathingError"/> at once. (The first attempt after a failure goes at once.) Default 1 s.</summary>
    public TimeSpan ReconnectInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Reads one thread may keep in flight through <see cref="IOffloadReadQueue"/> (a batch's misses), 1..64.
    /// Default 8.</summary>
    public int QueueDepth { get; init; } = 8;

    /// <summary>Reconnect after a transport failure (default true); false leaves the path failed for good.</summary>
    public bool Reconnect { get; init; } = true;
}

/// <summary>
/// The client's miss path to the SSDs over NVMe/TCP: reads go straight to the offload target process
/// (<c>scalio target</c>, or any NVMe/TCP target such as Linux nvmet-tcp), never through the server. Synchronous and
/// single-threaded (one per client thread, like <see cref="OffloadInitiator"/>); a read allocates nothing: it takes
/// the I/O queue's preallocated command slot, sends the capsule from the calling thread, lets the queue's receive
/// thread copy C2HData straight into the client's registered region, and blocks on a reusable event until the
/// completion arrives (no Task, no boxed continuation).
/// <para>Status mapping: a completion's own status is returned as is (e.g. LBA Out of Range, Invalid Namespace or
/// Format). Transport failures never throw from <see cref="Read"/>: no connection, a refused reconnect, a closed
/// socket, a C2HTermReq, a digest or PDU error give <see cref="NvmeStatus.HostPathingError"/> (SCT 3h, SC 70h); a
/// command without a response within <see cref="NvmeTcpOffloadReadPathOptions.CommandTimeout"/> gives
/// <see cref="NvmeStatus.CommandAbortedByHost"/> (SCT 3h, SC 71h) and closes the connection. The next read after a
/// failure reconnects (after a failed reconnect, the next attempt waits
/// <see cref="NvmeTcpOffloadReadPathOptions.ReconnectInterval"/>; a read that connects pays the connect, the only
/// case in which a read allocates). A read whose connection looked healthy but turns out
/// broken (the target restarted, or closed an idle queue) reconnects at once and is sent once more: reads are
/// idempotent, so a target restart costs a client no error when the target is back.</para>
/// </summary>
public sealed unsafe partial class NvmeTcpOffloadReadPath : IOffloadReadQueue
{
    private readonly string _host;
    private readonly int _port;
    private readonly NvmeTcpOffloadReadPathOptions _options;
    private readonly ManualResetEventSlim _done = new(false, 200);
    private readonly NativeWindow _window = new();
    private readonly int _timeoutMs;
    private NvmeTcpInitiator? _initiator;
    private long _lastFailedConnect;
    private long _commands, _transportFailures, _timeouts, _reconnects;
    private Exception? _lastFailure;
    private int _disposed;

    private NvmeTcpOffloadReadPath(string host, int port, string subsystemNqn, NvmeTcpOffloadReadPathOptions options, NvmeTcpInitiator initiator)
    {
        _host = host;
        _port = port;
        SubsystemNqn = subsystemNqn;
        _options = options;
        _initiator = initiator;
        _timeoutMs = (int)Math.Clamp(options.CommandTimeout.TotalMilliseconds, 1, int.MaxValue);
        _posted = new Posted[options.QueueDepth];
        for (int i = 0; i < _posted.Length; i++) _posted[i].Window = new NativeWindow();
        // A blocking wait creates the event's lock object; do it now, so that the first read that blocks (rather
        // than spins) does not allocate it.
        _done.Wait(1);
    }

    /// <summary>Subsystem NQN under which <c>scalio target</c> serves a store's namespaces unless told otherwise.</summary>
    public const string DefaultSubsystemNqn = "nqn.2024-01.io.scalio:offload";

    /// <summary>
    /// Connects to the NVMe/TCP target at <paramref name="host"/>:<paramref name="port"/> and subsystem
    /// <paramref name="subsystemNqn"/> (admin queue, controller enable, Identify, one I/O queue). Cold path: blocks
    /// the caller for at most <see cref="NvmeTcpOffloadReadPathOptions.ConnectTimeout"/>.
    /// </summary>
    /// <param name="host">Target host name or address.</param>
    /// <param name="port">Target TCP port.</param>
    /// <param name="subsystemNqn">Subsystem NQN served by the target.</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <returns>The connected read path.</returns>
    /// <exception cref="NvmeTcpException">The target is unreachable, refused the connection or did not answer in time.</exception>
    /// <exception cref="NvmeCommandException">The target refused Connect (e.g. an unknown subsystem NQN) or another bring-up command.</exception>
    public static NvmeTcpOffloadReadPath Connect(string host, int port, string subsystemNqn, NvmeTcpOffloadReadPathOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentException.ThrowIfNullOrEmpty(subsystemNqn);
        options ??= new NvmeTcpOffloadReadPathOptions();
        if (options.CommandTimeout <= TimeSpan.Zero || options.ConnectTimeout <= TimeSpan.Zero || options.ReconnectInterval < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "CommandTimeout and ConnectTimeout must be positive, ReconnectInterval not negative.");
        }

        if (options.QueueDepth is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "QueueDepth must be 1..64.");
        }

        NvmeTcpInitiator initiator = ConnectInitiator(host, port, subsystemNqn, options);
        return new NvmeTcpOffloadReadPath(host, port, subsystemNqn, options, initiator);
    }

    /// <summary>Connects asynchronously; see <see cref="Connect"/>.</summary>
    /// <param name="host">Target host name or address.</param>
    /// <param name="port">Target TCP port.</param>
    /// <param name="subsystemNqn">Subsystem NQN served by the target.</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the connect.</param>
    /// <returns>The connected read path.</returns>
    public static Task<NvmeTcpOffloadReadPath> ConnectAsync(string host, int port, string subsystemNqn, NvmeTcpOffloadReadPathOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Connect(host, port, subsystemNqn, options), cancellationToken);

    private static NvmeTcpInitiator ConnectInitiator(string host, int port, string subsystemNqn, NvmeTcpOffloadReadPathOptions options)
    {
        var initiatorOptions = new NvmeTcpInitiatorOptions
        {
            HostNqn = options.HostNqn,
            HeaderDigest = options.HeaderDigest,
            DataDigest = options.DataDigest,
            KeepAliveTimeout = options.KeepAliveTimeout,
            // The read path enforces its own (shorter) timeout; the initiator's watchdog is only the backstop.
            CommandTimeout = options.CommandTimeout + TimeSpan.FromSeconds(2),
            ConnectTimeout = options.ConnectTimeout,
            EnableTimeout = options.ConnectTimeout,
            QueueDepth = Math.Max(2, options.QueueDepth), // the queued reads; a single Read never overlaps them (one thread)
            // Reads then complete with C2HData SUCCESS: one PDU per read instead of C2HData + CapsuleResp.
            DisableSqFlowControl = true,
        };
        using var cts = new CancellationTokenSource(options.ConnectTimeout);
        Task<NvmeTcpInitiator> connect = NvmeTcpInitiator.ConnectAsync(host, port, subsystemNqn, initiatorOptions, cts.Token);
        bool finished;
        try
        {
            finished = connect.Wait(options.ConnectTimeout + TimeSpan.FromSeconds(1));
        }
        catch (AggregateException)
        {
            finished = true; // rethrown unwrapped below
        }

        if (!finished)
        {
            // ConnectAsync bounds each step itself; this only guards against a bring-up that never returns.
            _ = connect.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            throw new NvmeTcpException($"Connecting to NVMe/TCP target {host}:{port} ({subsystemNqn}) did not finish within {options.ConnectTimeout.TotalSeconds:0.#} s.");
        }

        try
        {
            return connect.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException e)
        {
            throw new NvmeTcpException($"Connecting to NVMe/TCP target {host}:{port} ({subsystemNqn}) did not finish within {options.ConnectTimeout.TotalSeconds:0.#} s.", e);
        }
    }

    /// <summary>Subsystem NQN this path reads from.</summary>
    public string SubsystemNqn { get; }

    /// <summary>Read commands sent so far.</summary>
    public long Commands => Volatile.Read(ref _commands);

    /// <summary>Reads that ended in a transport failure (<see cref="NvmeStatus.HostPathingError"/>), including reads refused while disconnected.</summary>
    public long TransportFailures => Volatile.Read(ref _transportFailures);

    /// <summary>Reads that timed out (<see cref="NvmeStatus.CommandAbortedByHost"/>).</summary>
    public long Timeouts => Volatile.Read(ref _timeouts);

    /// <summary>Successful reconnects after a failure.</summary>
    public long Reconnects => Volatile.Read(ref _reconnects);

    /// <summary>True while a connection is up.</summary>
    public bool IsConnected => _initiator is { IoQueue.Failure: null };

    /// <summary>The last transport failure or refused reconnect, for diagnostics (null if none).</summary>
    public Exception? LastFailure => _lastFailure;

    /// <summary>
    /// Reads <paramref name="blocks"/> LBAs of <paramref name="lbaSize"/> bytes at <paramref name="slba"/> of namespace
    /// <paramref name="nsid"/> into <paramref name="region"/> at <paramref name="offset"/>. Returns the NVMe status; see
    /// the class remarks for how transport failures map to statuses. Bad arguments (a slice outside the region, an
    /// LBA size other than 512/4096, a block count outside 1..65536) throw: they are programming errors.
    /// </summary>
    /// <param name="nsid">Namespace identifier (device index + 1 for a Scalio store).</param>
    /// <param name="slba">Starting LBA.</param>
    /// <param name="blocks">Number of blocks, 1..65536.</param>
    /// <param name="lbaSize">The namespace's LBA size (the target checks the transfer length against its own).</param>
    /// <param name="region">Destination region (any access rights: the data is copied in by this process).</param>
    /// <param name="offset">Offset of the destination in <paramref name="region"/>.</param>
    /// <returns>The NVMe status.</returns>
    public NvmeStatus Read(uint nsid, ulong slba, int blocks, int lbaSize, MemoryRegion region, int offset)
    {
        long length = Validate(blocks, lbaSize, region, offset);
        NvmeTcpInitiator? initiator = _initiator;
        bool wasConnected = initiator?.IoQueue is { Failure: null };
        if (!wasConnected)
        {
            initiator = Reconnect();
            if (initiator is null)
            {
                Interlocked.Increment(ref _transportFailures);
                return NvmeStatus.HostPathingError;
            }
        }

        NvmeStatus status = Send(initiator!, nsid, slba, blocks, (int)length, region, offset);
        if (wasConnected && status == NvmeStatus.HostPathingError && _options.Reconnect)
        {
            // The connection broke while it looked healthy (the target restarted, or closed an idle queue): reconnect
            // at once and send the read again (reads are idempotent), so a target restart costs no client an error.
            initiator = Reconnect();
            if (initiator is not null)
            {
                status = Send(initiator, nsid, slba, blocks, (int)length, region, offset);
            }
        }

        return status;
    }

    private long Validate(int blocks, int lbaSize, MemoryRegion region, int offset)
    {
        ArgumentNullException.ThrowIfNull(region);
        if (region.IsDisposed)
        {
            ThrowHelper.ObjectDisposed(nameof(MemoryRegion)); // the receive thread would write through a freed pointer
        }

        if (blocks is < 1 or > 65536)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(blocks), "an NVMe read moves 1..65536 blocks");
        }

        if (lbaSize is not (512 or 4096))
        {
            ThrowHelper.ArgumentOutOfRange(nameof(lbaSize), "the LBA size is 512 or 4096");
        }

        long length = (long)blocks * lbaSize;
        if (offset < 0 || (ulong)offset + (ulong)length > region.Length)
        {
            ThrowHelper.ArgumentOutOfRange(nameof(offset), "data buffer lies outside the region");
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return length;
    }

    /// <summary>One read on <paramref name="initiator"/>'s I/O queue; transport failures drop the connection and map to a status.</summary>
    private NvmeStatus Send(NvmeTcpInitiator initiator, uint nsid, ulong slba, int blocks, int length, MemoryRegion region, int offset)
    {
        if (length > initiator.MaxTransferBytes)
        {
            return NvmeStatus.InvalidField; // beyond the controller's MDTS
        }

        NvmeTcpHostQueue queue = initiator.IoQueue!;
        NvmeTcpHostQueue.CommandSlot? slot = queue.TryRent();
        if (slot is null)
        {
            // Only a failed queue has no free slot: this path keeps at most one command outstanding.
            return Failed(initiator, queue.Failure);
        }

        NvmeTcpWire.WriteTransportRead(slot.Sqe, slot.Cid, nsid, slba, blocks, length);
        slot.ReadDestination = _window.Point(region.Address + offset, length);
        _done.Reset();
        slot.Waiter = _done;
        Interlocked.Increment(ref _commands);
        short token = slot.Version;
        try
        {
            queue.Submit(slot, default);
        }
        catch (NvmeTcpException e)
        {
            return Failed(initiator, e); // the queue had failed; Submit gave the slot back
        }

        if (!WaitFor(slot, token))
        {
            Interlocked.Increment(ref _timeouts);
            _lastFailure = new NvmeTcpException($"Read nsid {nsid} slba {slba} blocks {blocks}: no response from {_host}:{_port} within {_timeoutMs} ms; the connection was closed.");
            Drop(initiator);
            return NvmeStatus.CommandAbortedByHost;
        }

        try
        {
            return slot.GetResult(token).Status; // gives the slot back
        }
        catch (NvmeTcpException e)
        {
            return Failed(initiator, e);
        }
    }

    /// <summary>
    /// Blocks until the command in <paramref name="slot"/> completes or the command timeout passes. The event may still be set by
    /// the previous command's completion (signalled just after its result), so a wake-up is re-checked; the result is
    /// always set before the event, so a reset followed by a check cannot miss a completion.
    /// </summary>
    private bool WaitFor(NvmeTcpHostQueue.CommandSlot slot, short token)
    {
        long start = Stopwatch.GetTimestamp();
        while (slot.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            int left = _timeoutMs - (int)Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (left <= 0 || !_done.Wait(left))
            {
                return slot.GetStatus(token) != ValueTaskSourceStatus.Pending;
            }

            _done.Reset();
        }

        return true;
    }

    private NvmeStatus Failed(NvmeTcpInitiator initiator, Exception? failure)
    {
        Interlocked.Increment(ref _transportFailures);
        _lastFailure = failure ?? new NvmeTcpException("The NVMe/TCP I/O queue has no free command slot.");
        Drop(initiator);
        return NvmeStatus.HostPathingError;
    }

    /// <summary>Closes a failed connection; joins its receive thread, so nothing writes into a client region afterwards.</summary>
    private void Drop(NvmeTcpInitiator initiator)
    {
        if (ReferenceEquals(Interlocked.CompareExchange(ref _initiator, null, initiator), initiator))
        {
            initiator.Dispose();
        }
    }

    /// <summary>Cold path: a new connection. The first attempt after a failure goes at once; after a failed attempt
    /// the next waits for the reconnect interval (reads in between fail fast).</summary>
    private NvmeTcpInitiator? Reconnect()
    {
        if (_initiator is { } stale)
        {
            Drop(stale);
        }

        if (!_options.Reconnect || (_lastFailedConnect != 0 && Stopwatch.GetElapsedTime(_lastFailedConnect) < _options.ReconnectInterval))
        {
            return null;
        }

        try
        {
            NvmeTcpInitiator fresh = ConnectInitiator(_host, _port, SubsystemNqn, _options);
            if (Volatile.Read(ref _disposed) != 0)
            {
                fresh.Dispose();
                return null;
            }

            _initiator = fresh;
            _lastFailedConnect = 0;
            Interlocked.Increment(ref _reconnects);
            return fresh;
        }
        catch (Exception e) when (e is NvmeTcpException or NvmeCommandException)
        {
            _lastFailure = e;
            _lastFailedConnect = Stopwatch.GetTimestamp();
            return null;
        }
    }

    /// <summary>Closes the connection (no shutdown notification; the target drops the controller when the sockets close).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Interlocked.Exchange(ref _initiator, null)?.Dispose();
        _done.Dispose();
    }

    /// <summary>A reusable <see cref="Memory{T}"/> over native memory (the client's registered region), re-pointed per read.</summary>
    private sealed class NativeWindow : MemoryManager<byte>
    {
        private byte* _pointer;
        private int _length;

        public Memory<byte> Point(byte* pointer, int length)
        {
            _pointer = pointer;
            _length = length;
            return CreateMemory(length);
        }

        public override Span<byte> GetSpan() => new(_pointer, _length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
            _pointer = null;
            _length = 0;
        }
    }
}
