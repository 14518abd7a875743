using System.Diagnostics;
using Scalio.Verbs.Nvme;

namespace Scalio.Verbs.Offload;

/// <summary>Options of the emulated offload target.</summary>
public sealed class OffloadTargetOptions
{
    /// <summary>Threads that execute commands (the "NIC engines"). They are never the server's worker threads.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Largest data transfer of one command, in bytes.</summary>
    public int MaxTransferSize { get; init; } = 128 * 1024;

    /// <summary>Command capsules a connection may have outstanding.</summary>
    public int QueueDepth { get; init; } = 8;

    /// <summary>Optional delay injection (tests and the checker harness only): slows chosen commands.</summary>
    public OffloadTargetFaults? Faults { get; init; }
}

/// <summary>
/// EMULATION of NVMe-oF target offload. On a BlueField-class DPU the NIC itself executes NVMe-oF commands against
/// the SSDs with zero CPU; here a dedicated thread plays the NIC. The protocol is NVMe over RDMA, as a real
/// initiator speaks it: the host SENDs a 64-byte command capsule whose data pointer is a keyed SGL data block
/// descriptor naming host memory (address = offset in the host's region, key = its remote key); the target moves
/// the data with RDMA WRITE (reads) or RDMA READ (writes) and SENDs back the 16-byte completion as the response
/// capsule. Its busy time is reported as NIC time, apart from the server's CPU time. It never stalls on a modelled SSD:
/// a command's data moves at once and its completion (data WRITE and response) is sent when the model says it is due,
/// while the engine serves other commands.
/// </summary>
public sealed unsafe class OffloadTarget : IDisposable
{
    private readonly NvmeNamespace[] _namespaces;
    private readonly NvmeCommandExecutor _executor;
    private readonly OffloadTargetOptions _options;
    private readonly ProtectionDomain _domain;
    private readonly Engine[] _engines;
    private readonly List<Connection> _connections = [];
    private volatile bool _stopping;
    private int _nextEngine;
    private long _sampledNanoseconds, _sampledCommands, _commands, _errors;

    /// <summary>Creates a target over <paramref name="namespaces"/> (NSID = index + 1) on a loopback fabric and starts its threads.</summary>
    public OffloadTarget(LoopbackFabric fabric, IReadOnlyList<NvmeNamespace> namespaces, OffloadTargetOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(fabric);
        _namespaces = [.. namespaces];
        _executor = new NvmeCommandExecutor(_namespaces);
        _options = options ?? new OffloadTargetOptions();
        if (_options.Threads < 1) ThrowHelper.ArgumentOutOfRange(nameof(options), "the offload target needs at least one thread");
        _domain = fabric.CreateDomain();
        _engines = new Engine[_options.Threads];
        for (int i = 0; i < _engines.Length; i++)
        {
            _engines[i] = new Engine(this, i);
            _engines[i].Thread.Start();
        }
    }

    /// <summary>The target's protection domain.</summary>
    public ProtectionDomain Domain => _domain;

    /// <summary>Namespaces served (NSID = index + 1).</summary>
    public IReadOnlyList<NvmeNamespace> Namespaces => _namespaces;

    /// <summary>CPU time the engines spent executing commands (the emulated NIC's time), in nanoseconds: the thread CPU
    /// time (<see cref="ThreadCpuClock"/>) of one command in 16, times the commands executed — an estimate that keeps the
    /// clock's system call off the other fifteen commands' critical path.</summary>
    public long BusyNanoseconds
    {
        get
        {
            long n = Volatile.Read(ref _sampledCommands);
            return n == 0 ? 0 : (long)((double)Volatile.Read(ref _sampledNanoseconds) / n * Volatile.Read(ref _commands));
        }
    }

    /// <summary>Commands per second one engine sustains at the measured CPU cost per command (a NIC capacity bound for
    /// reports; NaN before any command was sampled).</summary>
    public double CommandsPerEngineSecond
    {
        get
        {
            long n = Volatile.Read(ref _sampledCommands), ns = Volatile.Read(ref _sampledNanoseconds);
            return n == 0 || ns == 0 ? double.NaN : 1e9 * n / ns;
        }
    }

    /// <summary>Commands executed.</summary>
    public long Commands => Volatile.Read(ref _commands);

    /// <summary>Commands that completed with an error status.</summary>
    public long Errors => Volatile.Read(ref _errors);

    /// <summary>Accepts a host: connects <paramref name="hostQueuePair"/> (unconnected, loopback) to a new target queue pair.</summary>
    public void Accept(QueuePair hostQueuePair)
    {
        if (_stopping) ThrowHelper.ObjectDisposed(nameof(OffloadTarget));
        lock (_connections)
        {
            var engine = _engines[_nextEngine++ % _engines.Length];
            var qp = _domain.CreateQueuePair(engine.SendQueue, engine.ReceiveQueue, new QueuePairOptions { MaxReceives = _options.QueueDepth });
            var conn = new Connection(this, qp, engine);
            engine.Add(conn);
            _connections.Add(conn);
            LoopbackFabric.Connect(hostQueuePair, qp);
        }
    }

    private sealed class Connection
    {
        public readonly QueuePair QueuePair;
        public readonly MemoryRegion Buffers; // [capsules][response][data]
        public readonly int Depth;
        public readonly int DataOffset;
        public readonly int ResponseOffset;
        public readonly int SlotBytes;

        public int DataOf(int slot) => DataOffset + slot * SlotBytes;

        public Connection(OffloadTarget target, QueuePair qp, Engine engine)
        {
            QueuePair = qp;
            Depth = target._options.QueueDepth;
            ResponseOffset = Depth * SubmissionQueueEntry.Size;
            DataOffset = (ResponseOffset + CompletionQueueEntry.Size + 4095) & ~4095;
            SlotBytes = (target._options.MaxTransferSize + 4095) & ~4095;
            // One data buffer per capsule slot: commands whose completion is still due keep theirs until it is sent.
            Buffers = target._domain.Allocate((nuint)(DataOffset + (long)Depth * SlotBytes), MemoryAccess.LocalWrite);
            Index = engine.NextIndex();
            for (int i = 0; i < Depth; i++) PostCapsuleReceive(i);
        }

        public int Index;

        public void PostCapsuleReceive(int i)
            => QueuePair.PostReceive(new ReceiveRequest(((ulong)Index << 16) | (uint)i, Buffers.AddressOf(i * SubmissionQueueEntry.Size), SubmissionQueueEntry.Size, Buffers.LocalKey));
    }

    private sealed class Engine
    {
        private readonly OffloadTarget _target;
        private Connection?[] _byIndex = new Connection?[16];
        private int _count;
        public readonly CompletionQueue SendQueue = new(1024);
        public readonly CompletionQueue ReceiveQueue = new(4096);
        public readonly Thread Thread;

        public Engine(OffloadTarget target, int i)
        {
            _target = target;
            Thread = new Thread(Run) { IsBackground = true, Name = $"scalio-offload-{i}" };
        }

        public int NextIndex() { lock (this) return _count; }

        public void Add(Connection c)
        {
            lock (this)
            {
                if (c.Index >= _byIndex.Length) Array.Resize(ref _byIndex, _byIndex.Length * 2);
                _byIndex[c.Index] = c;
                _count = Math.Max(_count, c.Index + 1);
            }
        }

        /// <summary>Commands executed whose modelled device completion is not due yet (data moved to or from the
        /// namespace already; the data WRITE to the host and the response wait for the completion time).</summary>
        private readonly Pending[] _pending = new Pending[256];
        private int _pendingCount;

        public bool CanDefer => _pendingCount < _pending.Length;

        public void Defer(in Pending p) => _pending[_pendingCount++] = p;

        private void Run()
        {
            // A NIC does not stall on its SSD: modelled device latency is waited per command, not per engine.
            SsdPerformanceModel.DeferWaits = true;
            var waiter = new Waiter();
            long commands = 0;
            while (!_target._stopping)
            {
                if (_pendingCount > 0) CompleteDue(Stopwatch.GetTimestamp());
                if (!ReceiveQueue.TryPoll(out var wc))
                {
                    if (_pendingCount == 0) { waiter.Pause(); continue; }
                    long next = long.MaxValue;
                    for (int i = 0; i < _pendingCount; i++) next = Math.Min(next, _pending[i].Due);
                    long left = next - Stopwatch.GetTimestamp();
                    if (left > Stopwatch.Frequency / 30_000) WaitPolicy.Sleep(Math.Min((long)(left * (1e9 / Stopwatch.Frequency)) - 15_000, WaitPolicy.SleepMicroseconds * 1000L));
                    else Thread.Yield();
                    continue;
                }
                waiter.Reset();
                // NIC time: thread CPU of one command in 16 (a thread clock reading is a system call, ~1 µs here, and
                // would sit on the command's critical path), scaled by the command count.
                bool sample = (++commands & 15) == 1; // the first command, then one in 16
                long start = sample ? ThreadCpuClock.NowNanoseconds() : 0;
                int connIndex = (int)(wc.Id >> 16);
                int slot = (int)(wc.Id & 0xFFFF);
                Connection? conn;
                lock (this) conn = connIndex < _byIndex.Length ? _byIndex[connIndex] : null;
                if (conn is null) continue;
                if (wc.Status != CompletionStatus.Success) continue; // flushed at disconnect
                _target.Execute(this, conn, slot, wc.ByteLength);
                // Drain our own send completions (error ones only: sends are unsignaled).
                while (SendQueue.TryPoll(out _)) { }
                if (sample)
                {
                    Interlocked.Add(ref _target._sampledNanoseconds, ThreadCpuClock.NowNanoseconds() - start);
                    Interlocked.Increment(ref _target._sampledCommands);
                }
            }
            CompleteDue(long.MaxValue); // stopping: nothing waits for the model any more
        }

        private void CompleteDue(long now)
        {
            for (int i = 0; i < _pendingCount;)
            {
                if (_pending[i].Due > now) { i++; continue; }
                var p = _pending[i];
                _pending[i] = _pending[--_pendingCount];
                _target.Finish(p.Connection!, p.Slot, p.Bytes, p.Address, p.Key, p.Cqe, p.ToHost);
            }
        }
    }

    /// <summary>A command waiting for its modelled completion.</summary>
    private struct Pending
    {
        public long Due;
        public Connection? Connection;
        public int Slot, Bytes;
        public ulong Address;
        public uint Key;
        public CompletionQueueEntry Cqe;
        public bool ToHost;
    }

    private void Execute(Engine engine, Connection conn, int slot, uint length)
    {
        Interlocked.Increment(ref _commands);
        var capsule = conn.Buffers.Slice(slot * SubmissionQueueEntry.Size, SubmissionQueueEntry.Size);
        CompletionQueueEntry cqe;
        if (length < SubmissionQueueEntry.Size)
        {
            cqe = new CompletionQueueEntry { SqHead = (ushort)slot, SqId = 1, Status = NvmeStatus.InvalidField };
            Finish(conn, slot, 0, 0, 0, cqe, toHost: false);
            return;
        }
        var sqe = SubmissionQueueEntry.Read(capsule);
        _options.Faults?.BeforeCommand(in sqe);
        var status = Transfer(conn, slot, in sqe, out cqe, out int bytes, out bool toHost);
        if (!status.IsSuccess)
        {
            cqe = new CompletionQueueEntry { CommandId = sqe.CommandId, SqHead = (ushort)slot, SqId = 1, Status = status };
            toHost = false;
        }
        long due = SsdPerformanceModel.TakeDeferredCompletion();
        if (due > Stopwatch.GetTimestamp() && engine.CanDefer)
        {
            engine.Defer(new Pending { Due = due, Connection = conn, Slot = slot, Bytes = bytes, Address = sqe.Sgl.Address, Key = sqe.Sgl.Key, Cqe = cqe, ToHost = toHost });
            return;
        }
        if (due > 0 && !engine.CanDefer) SsdPerformanceModel.WaitUntil(due); // more in flight than the engine tracks
        Finish(conn, slot, bytes, sqe.Sgl.Address, sqe.Sgl.Key, cqe, toHost);
    }

    /// <summary>Completes a command: the read data goes to the host by RDMA WRITE, the capsule slot is posted again and
    /// the response capsule is sent.</summary>
    private void Finish(Connection conn, int slot, int bytes, ulong address, uint key, CompletionQueueEntry cqe, bool toHost)
    {
        if (toHost)
        {
            conn.QueuePair.PostSend(WorkRequest.Write(1, conn.Buffers.AddressOf(conn.DataOf(slot)), (uint)bytes, conn.Buffers.LocalKey, address, key, WorkFlags.None));
            if (conn.QueuePair.State != QueuePairState.ReadyToSend) cqe.Status = NvmeStatus.DataTransferError;
        }
        conn.PostCapsuleReceive(slot);
        if (!cqe.Status.IsSuccess) Interlocked.Increment(ref _errors);
        cqe.WriteTo(conn.Buffers.Slice(conn.ResponseOffset, CompletionQueueEntry.Size));
        conn.QueuePair.PostSend(WorkRequest.Send(0, conn.Buffers.AddressOf(conn.ResponseOffset), CompletionQueueEntry.Size, conn.Buffers.LocalKey, WorkFlags.None));
    }

    /// <summary>Moves the command's data over the fabric around its execution: RDMA READ of host memory before a
    /// write; a read's data is left in the slot's buffer for <see cref="Finish"/> to RDMA WRITE to the host. Only keyed
    /// SGL data blocks are accepted (NVMe over RDMA).</summary>
    private NvmeStatus Transfer(Connection conn, int slot, in SubmissionQueueEntry sqe, out CompletionQueueEntry cqe, out int bytes, out bool toHost)
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
            foreach (var c in _connections) { c.QueuePair.Dispose(); c.Buffers.Dispose(); }
            _connections.Clear();
        }
        _domain.Dispose();
    }
}
