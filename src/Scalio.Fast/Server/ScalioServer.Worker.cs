using System.Diagnostics;
using System.Runtime.InteropServices;
using Scalio.Fast.Rpc;
using Scalio.Verbs;
using Scalio.Nvme;

namespace Scalio.Fast.Server;

// A server worker: polls its connections' requests, batches writes per device and commits them, under the CPU budget.
public sealed unsafe partial class ScalioServer
{
    private sealed class Worker : IDisposable
    {
        private readonly ScalioServer _server;
        private readonly List<Connection> _connections = [];
        private Connection[] _byIndex = [];
        public readonly CompletionQueue SendQueue = new(1024);
        public readonly CompletionQueue ReceiveQueue = new(4096);
        public readonly Thread Thread;
        private readonly byte* _scratch;

        public Worker(ScalioServer server, int index)
        {
            _server = server;
            _scratch = (byte*)NativeMemory.AlignedAlloc((nuint)server._options.PageSize, 4096);
            Thread = new Thread(Run) { IsBackground = true, Name = $"scalio-server-{index}" };
        }

        public void Add(QueuePair clientQp)
        {
            lock (_connections)
            {
                var qp = CreateQueuePair();
                AddConnected(qp);
                LoopbackFabric.Connect(clientQp, qp);
            }
        }

        /// <summary>A queue pair on this worker's completion queues, not connected yet.</summary>
        public QueuePair CreateQueuePair()
            => _server._domain.CreateQueuePair(SendQueue, ReceiveQueue, new QueuePairOptions { MaxReceives = _server._options.ReceivesPerConnection });

        /// <summary>Serves <paramref name="qp"/> (made by <see cref="CreateQueuePair"/>): posts its receives; returns the
        /// connection. <paramref name="readOnly"/>: a reader's, whose writes are refused (set before any request can arrive).</summary>
        public Connection AddConnected(QueuePair qp, bool readOnly = false)
        {
            var s = _server;
            int messageSize = RpcFormat.RequestHeaderSize + s._layout.KeyCapacity + s._layout.ValueCapacity;
            lock (_connections)
            {
                var conn = new Connection(qp, s._domain, _connections.Count, s._options.ReceivesPerConnection, messageSize, readOnly);
                _connections.Add(conn);
                Volatile.Write(ref _byIndex, [.. _connections]);
                return conn;
            }
        }

        /// <summary>Connections of this worker that sent a write within <paramref name="window"/> ticks.</summary>
        public int CountWriters(long now, long window)
        {
            int n = 0;
            foreach (var c in Volatile.Read(ref _byIndex)) if (now - Volatile.Read(ref c.LastWriteTimestamp) <= window) n++;
            return n;
        }

        /// <summary>This worker's replies awaiting their device completion (set once the worker runs).</summary>
        public DeferredReplies? Deferred;

        /// <summary>Most requests handled between two charges of the serving CPU.</summary>
        private const int MaxDrain = 16;

        private void Run()
        {
            var s = _server;
            var scratch = new Span<byte>(_scratch, s._options.PageSize);
            var waiter = new Waiter();
            // Device I/O completes asynchronously (replies wait for it, the worker does not).
            SsdPerformanceModel.DeferWaits = true;
            HardwareWork.Tracking = true;
            var deferred = t_deferred = Deferred = new DeferredReplies();
            while (!s._stopping)
            {
                bool got = ReceiveQueue.TryPoll(out var wc);
                if (!got)
                {
                    long nextDue = deferred.Count == 0 ? long.MaxValue : deferred.SendDue(Stopwatch.GetTimestamp());
                    if (!s.AnyPending())
                    {
                        if (nextDue == long.MaxValue) waiter.Pause(); // idle: the one wait policy, nobody has to wake us
                        else WaitBriefly(nextDue);
                        continue;
                    }
                    // An open batch inside its drain grace: keep polling (yielding the core to writers about to send).
                    if (s.HoldingAfterDrain(Stopwatch.GetTimestamp())) { Thread.Yield(); continue; }
                }
                waiter.Reset();
                var budget = s._budget;
                if (budget is not null)
                {
                    // Over budget: wait, but keep sending the replies that fall due (the NIC's work, not the cores').
                    long over;
                    while ((over = budget.OverdraftTicks) > 0)
                    {
                        if (deferred.Count > 0) deferred.SendDue(Stopwatch.GetTimestamp());
                        budget.Pause(over);
                    }
                }
                long cpuStart = ThreadCpuClock.NowNanoseconds();
                long deviceWaitStart = SsdPerformanceModel.ThreadWaitCpuNanoseconds;
                long hardwareStart = HardwareWork.Nanoseconds;
                bool drained = true;
                for (int handled = 1; got; handled++)
                {
                    var conns = Volatile.Read(ref _byIndex);
                    int ci = (int)(wc.Id >> 16), slot = (int)(wc.Id & 0xFFFF);
                    if ((uint)ci < (uint)conns.Length && wc.IsSuccess)
                    {
                        var conn = conns[ci];
                        s.HandleMessage(conn, slot, conn.Receive(slot)[..(int)wc.ByteLength], scratch);
                    }
                    // Drain what has arrived before looking at timeouts, but a bounded run: under a steady stream the
                    // CPU must be charged (and the budget obeyed) as it is spent, not when the stream pauses.
                    if (handled == MaxDrain) { drained = false; break; }
                    if (!ReceiveQueue.TryPoll(out wc)) break;
                }
                long now = Stopwatch.GetTimestamp();
                if (drained) s.FlushUnheld(now); // requests still waiting may join the open batches
                s.FlushDue(now);
                if (deferred.Count > 0) deferred.SendDue(Stopwatch.GetTimestamp());
                while (SendQueue.TryPoll(out _)) { }
                // Serving time: thread CPU less the CPU spent waiting on modelled devices (a real core does other work then)
                // and less the NIC's and SSDs' own work that the emulation runs on this thread (HardwareWork).
                long spent = Math.Max(0, ThreadCpuClock.NowNanoseconds() - cpuStart - (SsdPerformanceModel.ThreadWaitCpuNanoseconds - deviceWaitStart)
                    - (HardwareWork.Nanoseconds - hardwareStart));
                Interlocked.Add(ref s._busyNanoseconds, spent);
                budget?.Charge(spent);
            }
            deferred.SendDue(long.MaxValue); // stopping: nothing waits for the model any more
        }

        /// <summary>Waits toward <paramref name="due"/> without passing it by more than a short slice, polling meanwhile.</summary>
        private static void WaitBriefly(long due)
        {
            long left = due - Stopwatch.GetTimestamp();
            long slice = Stopwatch.Frequency / 100_000; // 10 us
            if (left > 3 * slice) WaitPolicy.Sleep(Math.Min(left - slice, WaitPolicy.SleepMicroseconds * slice / 10) * 1_000_000_000 / Stopwatch.Frequency);
            else Thread.Yield();
        }

        public void Dispose()
        {
            lock (_connections)
            {
                foreach (var c in _connections) c.Dispose();
                _connections.Clear();
            }
            NativeMemory.AlignedFree(_scratch);
        }
    }
}
