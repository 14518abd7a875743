using System.Diagnostics;
using Scalio.Nvme;
using Scalio.Verbs;

namespace Scalio.Offload;

/// <summary>
/// EMULATION of NVMe-oF target offload. On a BlueField-class DPU the NIC itself executes NVMe-oF commands against
/// the SSDs with zero CPU; here a dedicated thread plays the NIC. The protocol is NVMe over RDMA, as a real
/// initiator speaks it: the host SENDs a 64-byte command capsule whose data pointer is a keyed SGL data block
/// descriptor naming host memory (address = offset in the host's region, key = its remote key); the target moves
/// the data with RDMA WRITE (reads) or RDMA READ (writes) and SENDs back the 16-byte completion as the response
/// capsule. Its busy time is reported as NIC time, apart from the server's CPU time. It never stalls on a modelled SSD:
/// a command's data moves at once and its completion (data WRITE and response) is sent when the model says it is due,
/// while the engine serves other commands. Reads of file namespaces (<see cref="FileNamespace"/>, also under a
/// <see cref="ModeledNamespace"/>) are submitted to an <see cref="IoUring"/> per engine and completed as the device
/// answers, so one engine keeps many device reads in flight; writes stay synchronous.
/// With <see cref="OffloadTargetOptions.Threads"/> = 0 there is no engine thread: a command executes on the thread
/// that delivers its capsule (INLINE EMULATION, as the loopback fabric executes every RDMA request), so a hand-off
/// costs no thread switch — on two cores a polling engine thread only measures the scheduler. Device waits then happen
/// on that thread (it is the initiator, and it waits for its read anyway), and device reads are as many in flight as
/// there are initiating threads.
/// </summary>
public sealed unsafe partial class OffloadTarget : IDisposable
{
    private readonly NvmeNamespace[] _namespaces;
    private readonly NvmeCommandExecutor _executor;
    private readonly OffloadTargetOptions _options;
    private readonly ProtectionDomain _domain;
    private readonly Engine[] _engines;
    private readonly List<Connection> _connections = [];
    private volatile bool _stopping;
    private int _nextEngine;
    private long _errors;
    private static int s_ioUringFallbackReported;

    /// <summary>Creates a target over <paramref name="namespaces"/> (NSID = index + 1) on a loopback fabric and starts its threads.</summary>
    public OffloadTarget(LoopbackFabric fabric, IReadOnlyList<NvmeNamespace> namespaces, OffloadTargetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(fabric);
        _namespaces = [.. namespaces];
        _executor = new NvmeCommandExecutor(_namespaces);
        _options = options ?? new OffloadTargetOptions();
        if (_options.Threads < 0 || _options.Threads > 64) ThrowHelper.ArgumentOutOfRange(nameof(options), "the offload target takes 0 (inline) to 64 engine threads");
        if (_options.ServerCpu is not null && _options.Threads == 0) ThrowHelper.ArgumentOutOfRange(nameof(options), "an offload target on the server's CPU needs at least one engine thread");
        _domain = fabric.CreateDomain();
        bool files = false;
        foreach (var ns in _namespaces) files |= FileNamespace.Backs(ns);
        bool ring = files && _options.UseIoUring && Environment.GetEnvironmentVariable("SCALIO_IO_URING") != "0";
        _engines = new Engine[_options.Threads];
        for (int i = 0; i < _engines.Length; i++)
        {
            _engines[i] = new Engine(this, i);
            if (ring && !_engines[i].TryCreateRing(_options.IoUringEntries, out string? error))
            {
                ring = false;
                if (Interlocked.Exchange(ref s_ioUringFallbackReported, 1) == 0)
                    Console.Error.WriteLine($"scalio offload target: {error}; file namespace reads fall back to one synchronous pread per command");
            }
        }
        foreach (var e in _engines) e.Thread.Start();
    }

    /// <summary>Commands one connection may have outstanding (its capsule slots).</summary>
    public int QueueDepth => _options.QueueDepth;

    /// <summary>True when the engines submit file namespace reads on io_uring (false: one synchronous read per command).</summary>
    public bool UsesIoUring => _engines.Length > 0 && _engines[0].Ring is not null;

    /// <summary>True when commands execute on the thread that delivers their capsule (no engine thread).</summary>
    public bool Inline => _engines.Length == 0;

    /// <summary>Device reads submitted asynchronously (io_uring).</summary>
    public long AsyncReads
    {
        get
        {
            long n = 0;
            foreach (var e in _engines) n += Volatile.Read(ref e.AsyncReads);
            return n;
        }
    }

    /// <summary>The target's protection domain.</summary>
    public ProtectionDomain Domain => _domain;

    /// <summary>Namespaces served (NSID = index + 1).</summary>
    public IReadOnlyList<NvmeNamespace> Namespaces => _namespaces;

    /// <summary>Most device reads one engine had in flight on its io_uring at once (0 without io_uring).</summary>
    public int MaxReadsInFlight
    {
        get
        {
            int n = 0;
            foreach (var e in _engines) n = Math.Max(n, Volatile.Read(ref e.MaxReadsInFlight));
            return n;
        }
    }

    /// <summary>CPU time the engines spent working (the emulated NIC's time: receiving capsules, executing commands,
    /// submitting and reaping device I/O, moving data, sending responses), in nanoseconds. Idle polling is not counted. It
    /// is an estimate: the thread CPU time (<see cref="ThreadCpuClock"/>, which includes the kernel's time in io_uring_enter
    /// or pread) of one busy loop pass in 16, times the busy passes — reading the clock is a system call (~1 µs here) and
    /// would otherwise sit on every command's critical path. Never server CPU.</summary>
    public long BusyNanoseconds
    {
        get
        {
            if (_options.ServerCpu is not null) return 0; // server CPU, charged to the server's account instead
            double busy = 0;
            foreach (var e in _engines)
            {
                long n = Volatile.Read(ref e.SampledPasses);
                if (n > 0) busy += (double)Volatile.Read(ref e.SampledNanoseconds) / n * Volatile.Read(ref e.BusyPasses);
            }
            if (Inline)
            {
                lock (_connections)
                {
                    foreach (var c in _connections) busy += Volatile.Read(ref c.InlineTicks) * (1e9 / Stopwatch.Frequency);
                }
            }
            return (long)busy;
        }
    }

    /// <summary>Commands per second one engine sustains at the measured NIC time per command: <see cref="Commands"/> ÷
    /// <see cref="BusyNanoseconds"/> in seconds (a NIC capacity bound for reports; NaN before any busy time was sampled).</summary>
    public double CommandsPerEngineSecond
    {
        get
        {
            long busy = BusyNanoseconds;
            return busy <= 0 ? double.NaN : 1e9 * Commands / busy;
        }
    }

    /// <summary>Same as <see cref="CommandsPerEngineSecond"/>: the measured capacity of one engine, in commands per second.</summary>
    public double Capacity => CommandsPerEngineSecond;

    /// <summary>Commands executed.</summary>
    public long Commands
    {
        get
        {
            long n = 0;
            foreach (var e in _engines) n += Volatile.Read(ref e.Commands);
            if (Inline)
            {
                lock (_connections)
                {
                    foreach (var c in _connections) n += Volatile.Read(ref c.InlineCommands);
                }
            }
            return n;
        }
    }

    /// <summary>Commands that completed with an error status.</summary>
    public long Errors => Volatile.Read(ref _errors);

    /// <summary>Accepts a host: connects <paramref name="hostQueuePair"/> (unconnected, loopback) to a new target queue pair.</summary>
    public void Accept(QueuePair hostQueuePair)
    {
        if (_stopping) ThrowHelper.ObjectDisposed(nameof(OffloadTarget));
        lock (_connections)
        {
            if (Inline)
            {
                // Own queues per connection: the thread that delivers a capsule executes exactly its connection's commands.
                var iqp = _domain.CreateQueuePair(_domain.CreateCompletionQueue(64), _domain.CreateCompletionQueue(_options.QueueDepth), new QueuePairOptions { MaxReceives = _options.QueueDepth });
                var ic = new Connection(this, iqp, null);
                ((LoopbackQueuePair)iqp).InlineReceiver = ic;
                _connections.Add(ic);
                LoopbackFabric.Connect(hostQueuePair, iqp);
                return;
            }
            var engine = _engines[_nextEngine++ % _engines.Length];
            var qp = _domain.CreateQueuePair(engine.SendQueue, engine.ReceiveQueue, new QueuePairOptions { MaxReceives = _options.QueueDepth });
            var conn = new Connection(this, qp, engine);
            engine.Add(conn);
            _connections.Add(conn);
            LoopbackFabric.Connect(hostQueuePair, qp);
        }
    }

    private sealed class Connection : IInlineReceiver
    {
        private readonly OffloadTarget _target;
        private readonly Lock _inlineGate = new();
        private bool _closed;

        // Inline mode only (engine threads keep their own counters).
        public long InlineCommands, InlineTicks;

        public readonly QueuePair QueuePair;
        public readonly MemoryRegion Buffers; // [capsules][response][data]
        public readonly int Depth;
        public readonly int DataOffset;
        public readonly int ResponseOffset;
        public readonly int SlotBytes;

        public int DataOf(int slot) => DataOffset + slot * SlotBytes;

        public Connection(OffloadTarget target, QueuePair qp, Engine? engine)
        {
            _target = target;
            QueuePair = qp;
            Depth = target._options.QueueDepth;
            ResponseOffset = Depth * SubmissionQueueEntry.WireSize;
            DataOffset = (ResponseOffset + NvmeCompletion.WireSize + 4095) & ~4095;
            SlotBytes = (target._options.MaxTransferSize + 4095) & ~4095;
            // One data buffer per capsule slot: commands whose completion is still due keep theirs until it is sent.
            Buffers = target._domain.Allocate((nuint)(DataOffset + (long)Depth * SlotBytes), MemoryAccess.LocalWrite);
            Index = engine?.NextIndex() ?? 0;
            for (int i = 0; i < Depth; i++) PostCapsuleReceive(i);
        }

        /// <summary>Inline mode: a capsule arrived; execute it on the delivering thread.</summary>
        public void Received()
        {
            lock (_inlineGate)
            {
                if (_closed) return; // the target is stopping: the host sees no response, as from a NIC that went away
                long start = Stopwatch.GetTimestamp();
                bool deferring = SsdPerformanceModel.DeferWaits;
                SsdPerformanceModel.DeferWaits = true; // the model hands us its completion time, so its wait is told apart
                try
                {
                    while (QueuePair.ReceiveQueue.TryPoll(out var wc))
                    {
                        if (wc.Status != CompletionStatus.Success) continue; // flushed at disconnect
                        InlineCommands++;
                        start += _target.ExecuteInline(this, (int)(wc.Id & 0xFFFF), wc.ByteLength); // device time is the SSD's
                    }
                }
                finally
                {
                    SsdPerformanceModel.DeferWaits = deferring;
                }
                while (QueuePair.SendQueue.TryPoll(out _)) { } // error completions only: sends are unsignaled
                InlineTicks += Stopwatch.GetTimestamp() - start;
            }
        }

        /// <summary>Inline mode: no command runs after this returns, so the buffers may be released.</summary>
        public void Close()
        {
            lock (_inlineGate) _closed = true;
        }

        public int Index;

        public void PostCapsuleReceive(int i)
            => QueuePair.PostReceive(new ReceiveRequest(((ulong)Index << 16) | (uint)i, Buffers.AddressOf(i * SubmissionQueueEntry.WireSize), SubmissionQueueEntry.WireSize, Buffers.LocalKey));
    }

    /// <summary>A command waiting for its device read (io_uring) or its modelled completion.</summary>
    private struct Pending
    {
        public long Due;
        public Connection? Connection;
        public int Slot, Bytes;
        public ulong Address;
        public uint Key;
        public NvmeCompletion Cqe;
        public bool ToHost;
        // The device read still to do (io_uring only).
        public int Fd, Left;
        public long Offset;
        public nint Buffer;
    }

    /// <summary>Reads the capsule in <paramref name="slot"/> and moves its data (<see cref="Transfer"/>); a failure
    /// becomes an error completion. False when the capsule was too short and has been answered already.</summary>
    private bool Start(Connection conn, int slot, uint length, out SubmissionQueueEntry sqe, out NvmeCompletion cqe,
        out NvmeStatus status, out int bytes, out bool toHost)
    {
        if (length < SubmissionQueueEntry.WireSize)
        {
            sqe = default; cqe = default; status = NvmeStatus.InvalidField; bytes = 0; toHost = false;
            Finish(conn, slot, 0, 0, 0, new NvmeCompletion { SqHead = (ushort)slot, SqId = 1, Status = NvmeStatus.InvalidField }, toHost: false);
            return false;
        }
        sqe = SubmissionQueueEntry.Read(conn.Buffers.Slice(slot * SubmissionQueueEntry.WireSize, SubmissionQueueEntry.WireSize));
        _options.Faults?.BeforeCommand(in sqe);
        status = Transfer(conn, slot, in sqe, out cqe, out bytes, out toHost);
        if (!status.IsSuccess)
        {
            cqe = new NvmeCompletion { CommandId = sqe.CommandId, SqHead = (ushort)slot, SqId = 1, Status = status };
            toHost = false;
        }
        return true;
    }

    private void Execute(Engine engine, Connection conn, int slot, uint length)
    {
        if (!Start(conn, slot, length, out var sqe, out var cqe, out var status, out int bytes, out bool toHost)) return;
        long due = SsdPerformanceModel.TakeDeferredCompletion();
        if (FileNamespace.TakeCapturedRead(out var read) && status.IsSuccess)
        {
            // The namespace validated and counted the read but left it to us: it goes to the device asynchronously.
            engine.Submit(in read, new Pending { Due = due, Connection = conn, Slot = slot, Bytes = bytes, Address = sqe.Sgl.Address, Key = sqe.Sgl.Key, Cqe = cqe, ToHost = toHost });
            return;
        }
        if (due > Stopwatch.GetTimestamp() && engine.CanDefer)
        {
            engine.Defer(new Pending { Due = due, Connection = conn, Slot = slot, Bytes = bytes, Address = sqe.Sgl.Address, Key = sqe.Sgl.Key, Cqe = cqe, ToHost = toHost });
            return;
        }
        if (due > 0 && !engine.CanDefer) SsdPerformanceModel.WaitUntil(due); // more in flight than the engine tracks
        Finish(conn, slot, bytes, sqe.Sgl.Address, sqe.Sgl.Key, cqe, toHost);
    }

    /// <summary>Executes one command on the delivering thread (inline mode); returns the ticks spent waiting for a
    /// modelled device completion.</summary>
    private long ExecuteInline(Connection conn, int slot, uint length)
    {
        if (!Start(conn, slot, length, out var sqe, out var cqe, out _, out int bytes, out bool toHost)) return 0;
        long waited = 0;
        long due = SsdPerformanceModel.TakeDeferredCompletion();
        if (due > Stopwatch.GetTimestamp())
        {
            long t = Stopwatch.GetTimestamp();
            SsdPerformanceModel.WaitUntil(due);
            waited = Stopwatch.GetTimestamp() - t;
        }
        Finish(conn, slot, bytes, sqe.Sgl.Address, sqe.Sgl.Key, cqe, toHost);
        return waited;
    }

    /// <summary>Completes a command: the read data goes to the host by RDMA WRITE, the capsule slot is posted again and
    /// the response capsule is sent.</summary>
    private void Finish(Connection conn, int slot, int bytes, ulong address, uint key, NvmeCompletion cqe, bool toHost)
    {
        if (toHost)
        {
            conn.QueuePair.PostSend(WorkRequest.Write(1, conn.Buffers.AddressOf(conn.DataOf(slot)), (uint)bytes, conn.Buffers.LocalKey, address, key, WorkFlags.None));
            if (conn.QueuePair.State != QueuePairState.ReadyToSend) cqe.Status = NvmeStatus.DataTransferError;
        }
        conn.PostCapsuleReceive(slot);
        if (!cqe.Status.IsSuccess) Interlocked.Increment(ref _errors);
        cqe.WriteTo(conn.Buffers.Slice(conn.ResponseOffset, NvmeCompletion.WireSize));
        conn.QueuePair.PostSend(WorkRequest.Send(0, conn.Buffers.AddressOf(conn.ResponseOffset), NvmeCompletion.WireSize, conn.Buffers.LocalKey, WorkFlags.None));
    }

    /// <summary>Moves the command's data over the fabric around its execution: RDMA READ of host memory before a
    /// write; a read's data is left in the slot's buffer for <see cref="Finish"/> to RDMA WRITE to the host. Only keyed
    /// SGL data blocks are accepted (NVMe over RDMA).</summary>
    private NvmeStatus Transfer(Connection conn, int slot, in SubmissionQueueEntry sqe, out NvmeCompletion cqe, out int bytes, out bool toHost)
    {
        cqe = default;
        toHost = false;
        var status = _executor.GetDataTransfer(in sqe, out var direction, out bytes);
        if (!status.IsSuccess) return status;
        if (bytes > _options.MaxTransferSize) return NvmeStatus.InvalidField;
        var sgl = sqe.Sgl;
        ulong local = conn.Buffers.AddressOf(conn.DataOf(slot));
        var data = conn.Buffers.Slice(conn.DataOf(slot), bytes);
        if (direction != NvmeDataDirection.None)
        {
            if (sqe.Psdt == DataPointerKind.Prp || sgl.Type != SglDescriptorType.KeyedDataBlock) return NvmeStatus.InvalidField;
            if (sgl.KeyedLength < bytes) return NvmeStatus.DataSglLengthInvalid;
        }
        if (direction == NvmeDataDirection.HostToController)
        {
            conn.QueuePair.PostSend(WorkRequest.Read(2, local, (uint)bytes, conn.Buffers.LocalKey, sgl.Address, sgl.Key, WorkFlags.None));
            if (conn.QueuePair.State != QueuePairState.ReadyToSend) return NvmeStatus.DataTransferError;
        }
        status = _executor.Execute(in sqe, data, 1, (ushort)slot, out cqe);
        toHost = status.IsSuccess && direction == NvmeDataDirection.ControllerToHost;
        return status;
    }

    /// <summary>Stops the engines and releases every connection.</summary>
    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        foreach (var e in _engines) { e.ReceiveQueue.WakeAll(); e.Thread.Join(); }
        lock (_connections)
        {
            foreach (var c in _connections) { c.Close(); c.QueuePair.Dispose(); c.Buffers.Dispose(); }
            _connections.Clear();
        }
        _domain.Dispose();
    }
}
