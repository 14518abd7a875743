using System.Diagnostics;
using Scalio.Nvme;
using Scalio.Verbs;

namespace Scalio.Offload;

public sealed unsafe partial class OffloadTarget
{
    /// <summary>One "NIC engine" thread (a MODEL of the DPU's NVMe-oF offload hardware): polls its connections' capsules, runs their commands and sends completions when the SSD model says they are due.</summary>
    private sealed class Engine
    {
        private readonly OffloadTarget _target;
        private Connection?[] _byIndex = new Connection?[16];
        private int _count;
        public readonly CompletionQueue SendQueue = new(1024);
        public readonly CompletionQueue ReceiveQueue = new(4096);
        public readonly Thread Thread;

        // Written by the engine thread only; read by the target's counters.
        public long Commands, AsyncReads, BusyPasses, SampledPasses, SampledNanoseconds;
        public int MaxReadsInFlight;

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

        // ---- device reads in flight on the io_uring: a fixed table indexed by the SQE's user data, and its free list.
        public IoUring? Ring;
        private Pending[] _io = [];
        private int[] _ioFree = [];
        private int _ioFreeCount;

        public bool TryCreateRing(int entries, out string? error)
        {
            Ring = IoUring.TryCreate(Math.Max(1, entries), out error);
            if (Ring is null) return false;
            _io = new Pending[Ring.Entries];
            _ioFree = new int[Ring.Entries];
            for (int i = 0; i < _ioFree.Length; i++) _ioFree[i] = _ioFree.Length - 1 - i;
            _ioFreeCount = _ioFree.Length;
            return true;
        }

        /// <summary>True when the next command's read may be submitted asynchronously.</summary>
        public bool CanSubmit => Ring is { HasRoom: true } && _ioFreeCount > 0;

        /// <summary>Submits a captured read; the command completes when its CQE arrives (and its modelled time is due).</summary>
        public unsafe void Submit(in FileNamespace.CapturedRead read, in Pending command)
        {
            int i = _ioFree[--_ioFreeCount];
            ref var io = ref _io[i];
            io = command;
            io.Fd = read.Fd;
            io.Offset = read.Offset;
            io.Buffer = read.Buffer;
            io.Left = read.Length;
            bool ok = Ring!.TryPrepare(IoUring.OpRead, read.Fd, read.Offset, (void*)read.Buffer, read.Length, (ulong)i);
            Debug.Assert(ok, "CanSubmit was checked before the command ran");
            AsyncReads++;
        }

        private unsafe void Reaped(int i, int result)
        {
            ref var io = ref _io[i];
            if (IoUring.ReadWantsRest(result, io.Left))
            {
                // Try again, or read the rest of a short read (a whole number of blocks under O_DIRECT).
                if (result > 0) { io.Offset += result; io.Buffer += result; io.Left -= result; }
                if (Ring!.TryPrepare(IoUring.OpRead, io.Fd, io.Offset, (void*)io.Buffer, io.Left, (ulong)i)) return;
                result = -11;
            }
            var p = io;
            io = default;
            _ioFree[_ioFreeCount++] = i;
            if (result != p.Left)
            {
                p.Cqe.Status = NvmeStatus.UnrecoveredReadError; // an I/O error, or the file shrank under us
                p.ToHost = false;
            }
            if (p.Due > Stopwatch.GetTimestamp() && CanDefer) Defer(in p);
            else _target.Finish(p.Connection!, p.Slot, p.Bytes, p.Address, p.Key, p.Cqe, p.ToHost);
        }

        // ---- NIC time: the thread CPU of one busy loop pass in 16 (see BusyNanoseconds).
        private bool _busy;
        private long _sampleStart;

        private void Working()
        {
            if (_busy) return;
            _busy = true;
            long n = BusyPasses + 1;
            Volatile.Write(ref BusyPasses, n);
            var account = _target._options.ServerCpu;
            if (account is not null)
            {
                // Server cores: wait for credit, then measure every busy pass, as a server worker does.
                long over;
                while ((over = account.OverdraftTicks) > 0) account.Pause(over);
                _chargeStart = ThreadCpuClock.NowNanoseconds();
                _hardwareStart = HardwareWork.Nanoseconds;
                return;
            }
            if ((n & 15) == 1) _sampleStart = ThreadCpuClock.NowNanoseconds(); // the first pass, then one in 16
        }

        private long _chargeStart, _hardwareStart;

        private void EndPass()
        {
            if (_chargeStart != 0)
            {
                long spent = ThreadCpuClock.NowNanoseconds() - _chargeStart - (HardwareWork.Nanoseconds - _hardwareStart);
                _target._options.ServerCpu!.Charge(Math.Max(0, spent));
                _chargeStart = 0;
            }
            if (_sampleStart != 0)
            {
                Volatile.Write(ref SampledNanoseconds, SampledNanoseconds + ThreadCpuClock.NowNanoseconds() - _sampleStart);
                Volatile.Write(ref SampledPasses, SampledPasses + 1);
                _sampleStart = 0;
            }
            _busy = false;
        }

        private void Run()
        {
            // A NIC does not stall on its SSD: modelled device latency is waited per command, not per engine.
            SsdPerformanceModel.DeferWaits = true;
            HardwareWork.Tracking = _target._options.ServerCpu is not null; // the SSDs' and fabric's work is not the server's
            var waiter = new Waiter();
            var ring = Ring;
            while (!_target._stopping)
            {
                // 1. Device completions (read from the shared ring, no system call).
                if (ring is { InFlight: > 0 })
                {
                    while (ring.TryReap(out ulong id, out int result)) { Working(); Reaped((int)id, result); }
                }
                // 2. Modelled completions that fell due.
                if (_pendingCount > 0) CompleteDue(Stopwatch.GetTimestamp());
                // 3. New command capsules, a few at a time so their reads go to the device in one submission.
                for (int k = 0; k < 32 && ReceiveQueue.TryPoll(out var wc); k++)
                {
                    Working();
                    int connIndex = (int)(wc.Id >> 16);
                    int slot = (int)(wc.Id & 0xFFFF);
                    Connection? conn;
                    lock (this) conn = connIndex < _byIndex.Length ? _byIndex[connIndex] : null;
                    if (conn is null) continue;
                    if (wc.Status != CompletionStatus.Success) continue; // flushed at disconnect
                    if (ring is not null) FileNamespace.CaptureReads = CanSubmit;
                    Volatile.Write(ref Commands, Commands + 1);
                    _target.Execute(this, conn, slot, wc.ByteLength);
                }
                if (_busy)
                {
                    // 4. One system call hands every read prepared above to the device.
                    if (ring is { Unsubmitted: > 0 })
                    {
                        ring.Submit();
                        if (ring.InFlight > MaxReadsInFlight) Volatile.Write(ref MaxReadsInFlight, ring.InFlight);
                    }
                    // Drain our own send completions (error ones only: sends are unsignaled).
                    while (SendQueue.TryPoll(out _)) { }
                    EndPass();
                    waiter.Reset();
                    continue;
                }
                // Idle: wait by the one policy (spin, yield, sleep) for a capsule or a device completion; with only
                // modelled completions outstanding, sleep until the next is due.
                if (_pendingCount > 0 && ring is not { InFlight: > 0 })
                {
                    long next = long.MaxValue;
                    for (int i = 0; i < _pendingCount; i++) next = Math.Min(next, _pending[i].Due);
                    long left = next - Stopwatch.GetTimestamp();
                    if (left > Stopwatch.Frequency / 30_000) WaitPolicy.Sleep(Math.Min((long)(left * (1e9 / Stopwatch.Frequency)) - 15_000, WaitPolicy.SleepMicroseconds * 1000L));
                    else Thread.Yield();
                    continue;
                }
                waiter.Pause();
            }
            FileNamespace.CaptureReads = false;
            if (ring is not null)
            {
                // Stopping: the device must be done with every buffer before the connections release them.
                while (ring.InFlight > 0)
                {
                    ring.SubmitAndWait(1);
                    while (ring.TryReap(out ulong id, out int result)) Reaped((int)id, result);
                }
                ring.Dispose();
            }
            CompleteDue(long.MaxValue); // stopping: nothing waits for the model any more
        }

        private void CompleteDue(long now)
        {
            for (int i = 0; i < _pendingCount;)
            {
                if (_pending[i].Due > now) { i++; continue; }
                Working();
                var p = _pending[i];
                _pending[i] = _pending[--_pendingCount];
                _target.Finish(p.Connection!, p.Slot, p.Bytes, p.Address, p.Key, p.Cqe, p.ToHost);
            }
        }
    }
}
