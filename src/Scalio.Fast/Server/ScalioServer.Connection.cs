using System.Diagnostics;
using Scalio.Verbs;

namespace Scalio.Fast.Server;

// One client connection of the two-sided request path: its receive buffers, replies and flow control.
public sealed unsafe partial class ScalioServer
{
    internal sealed class Connection : IDisposable
    {
        private readonly QueuePair _qp;
        private readonly MemoryRegion _buffers; // [receives][one reply buffer per receive slot]
        private readonly int _index, _messageSize, _replyOffset;

        /// <summary>Stopwatch timestamp of this connection's last PUT/DELETE (group commit counts recent writers).</summary>
        public long LastWriteTimestamp = long.MinValue / 2;

        /// <summary>Admitted as a reader: its PUT and DELETE are refused with <see cref="OpStatus.Forbidden"/>.</summary>
        public readonly bool ReadOnly;

        /// <summary>Requests of this connection received and not yet given their receive back (at most the receives posted).</summary>
        private int _inFlight;

        public Connection(QueuePair qp, ProtectionDomain domain, int index, int receives, int messageSize, bool readOnly = false)
        {
            _qp = qp;
            ReadOnly = readOnly;
            _index = index;
            _messageSize = (messageSize + 63) & ~63;
            _replyOffset = receives * _messageSize;
            _buffers = domain.Allocate((nuint)(2 * _replyOffset), MemoryAccess.LocalWrite, 64);
            for (int i = 0; i < receives; i++) PostReceiveUnchecked(i);
        }

        /// <summary>A request arrived: counts it in flight and raises <paramref name="peak"/> when this connection holds more than ever.</summary>
        public void NoteArrival(ref int peak)
        {
            int n = Interlocked.Increment(ref _inFlight);
            int p;
            while (n > (p = Volatile.Read(ref peak)) && Interlocked.CompareExchange(ref peak, n, p) != p) { }
        }

        public Span<byte> Receive(int slot) => _buffers.Slice(slot * _messageSize, _messageSize);

        /// <summary>Reply buffer of a receive slot: replies of one connection may be sent by different workers.</summary>
        public Span<byte> Reply(int slot) => _buffers.Slice(_replyOffset + slot * _messageSize, _messageSize);

        public void PostReceive(int slot)
        {
            Interlocked.Decrement(ref _inFlight);
            if (_qp.State is QueuePairState.Closed or QueuePairState.Error) return;
            try
            {
                PostReceiveUnchecked(slot);
            }
            catch (ObjectDisposedException)
            {
                // Closed by the disconnect monitor between the check and the post: the peer is gone, nothing to receive.
            }
        }

        private void PostReceiveUnchecked(int slot)
        {
            _qp.PostReceive(new ReceiveRequest(((ulong)_index << 16) | (uint)slot, _buffers.AddressOf(slot * _messageSize), (uint)_messageSize, _buffers.LocalKey));
        }

        public void SendReply(int slot, int length)
        {
            if (_qp.State is QueuePairState.Closed or QueuePairState.Error) return;
            _qp.PostSend(WorkRequest.Send(0, _buffers.AddressOf(_replyOffset + slot * _messageSize), (uint)length, _buffers.LocalKey, WorkFlags.None));
        }

        /// <summary>Disconnects (the peer is gone): later receives and replies are dropped; buffers stay until <see cref="Dispose"/>,
        /// since a batch in flight may still reply through them.</summary>
        public void Close() => _qp.Dispose();

        public void Dispose()
        {
            _qp.Dispose();
            _buffers.Dispose();
        }
    }
}
