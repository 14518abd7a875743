using System.Threading.Tasks.Sources;

namespace Scalio.Nvme.Tcp;

internal sealed partial class NvmeTcpHostQueue
{
    /// <summary>One outstanding command: pinned capsule buffer, data buffers and the pooled completion source.</summary>
    internal sealed class CommandSlot : IValueTaskSource<NvmeCompletion>
    {
        private readonly byte[] _capsule;
        private readonly byte[] _sqe = GC.AllocateArray<byte>(SubmissionQueueEntry.WireSize, pinned: true);
        private NvmeTcpHostQueue? _owner;
        private int _finished;

        public CommandSlot(ushort cid, int capsuleBytes)
        {
            Cid = cid;
            _capsule = GC.AllocateArray<byte>(capsuleBytes, pinned: true);
            Core.RunContinuationsAsynchronously = false;
        }

        public ushort Cid { get; }

        public ManualResetValueTaskSourceCore<NvmeCompletion> Core;

        public Span<byte> Capsule => _capsule;

        /// <summary>The 64-byte SQE to send; copied into the capsule (bytes 71:8) on submit.</summary>
        public Span<byte> Sqe => _sqe;

        public Memory<byte> ReadDestination { get; set; }

        public ReadOnlyMemory<byte> WriteSource { get; set; }

        public int Transferred { get; set; }

        /// <summary>The write data went in-capsule (no R2T expected).</summary>
        public bool InCapsuleWrite { get; set; }

        public long StartTimestamp { get; set; }

        public volatile bool InFlight;

        public short Version => Core.Version;

        /// <summary>
        /// Set by a synchronous submitter after renting: signalled once the command completes (result or failure),
        /// so the caller can block on it instead of awaiting the value task. Cleared by <see cref="Prepare"/>.
        /// </summary>
        public ManualResetEventSlim? Waiter { get; set; }

        /// <summary>Completes the command with <paramref name="cqe"/> and wakes a synchronous waiter.</summary>
        public void SetResult(NvmeCompletion cqe)
        {
            ManualResetEventSlim? waiter = Waiter; // read first: an awaiting continuation may recycle the slot inside SetResult
            Core.SetResult(cqe);
            waiter?.Set();
        }

        /// <summary>Fails the command with <paramref name="error"/> and wakes a synchronous waiter.</summary>
        public void SetException(Exception error)
        {
            ManualResetEventSlim? waiter = Waiter;
            Core.SetException(error);
            waiter?.Set();
        }

        public void Prepare()
        {
            Waiter = null;
            ReadDestination = default;
            WriteSource = default;
            Transferred = 0;
            InCapsuleWrite = false;
            _finished = 0;
        }

        public void Bind(NvmeTcpHostQueue owner) => _owner = owner;

        /// <summary>True for the one caller that completes the command.</summary>
        public bool TryFinish()
        {
            if (!InFlight || Interlocked.Exchange(ref _finished, 1) != 0)
            {
                return false;
            }

            InFlight = false;
            return true;
        }

        public void Release()
        {
            ReadDestination = default;
            WriteSource = default;
            Core.Reset();
        }

        public NvmeCompletion GetResult(short token)
        {
            try
            {
                return Core.GetResult(token);
            }
            finally
            {
                _owner?.Return(this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => Core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            Core.OnCompleted(continuation, state, token, flags);
    }
}
