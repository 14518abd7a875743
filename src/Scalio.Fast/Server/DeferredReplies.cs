using System.Diagnostics;
using Scalio.Nvme;

namespace Scalio.Fast.Server;

public sealed unsafe partial class ScalioServer
{
    [ThreadStatic] private static DeferredReplies? t_deferred;

    /// <summary>Replies (after <see cref="Connection.PostReceive"/>) once the device I/O they depend on has completed: at
    /// once, or, on a worker whose modelled devices complete later (<see cref="SsdPerformanceModel.DeferWaits"/>), when
    /// that completion is due — the worker serves other requests meanwhile instead of blocking on its SSD.</summary>
    private static void ReplyWhenDurable(Connection conn, int slot, int length, long due)
    {
        var deferred = t_deferred;
        if (due == 0 || Stopwatch.GetTimestamp() >= due) conn.SendReply(slot, length);
        else if (deferred is not null) deferred.Add(due, conn, slot, length);
        else
        {
            SsdPerformanceModel.WaitUntil(due);
            conn.SendReply(slot, length);
        }
    }

    /// <summary>One worker's replies waiting for their device completion. Few entries (one per outstanding request at
    /// most): a linear scan is cheaper than ordering them.</summary>
    private sealed class DeferredReplies
    {
        private Connection?[] _connections = new Connection?[64];
        private long[] _due = new long[64];
        private int[] _slots = new int[64], _lengths = new int[64];
        private int _count;

        public int Count => _count;

        /// <summary>Most replies held at once (2 or more: the worker served on while a device write was in flight).</summary>
        public int Peak;

        public void Add(long due, Connection conn, int slot, int length)
        {
            if (_count == _due.Length) Grow();
            _connections[_count] = conn;
            _due[_count] = due;
            _slots[_count] = slot;
            _lengths[_count] = length;
            _count++;
            if (_count > Peak) Peak = _count;
        }

        /// <summary>Sends every reply due by <paramref name="now"/>; returns the earliest due time left (MaxValue: none).</summary>
        public long SendDue(long now)
        {
            long next = long.MaxValue;
            for (int i = 0; i < _count;)
            {
                if (_due[i] <= now)
                {
                    _connections[i]!.SendReply(_slots[i], _lengths[i]);
                    int last = --_count;
                    _connections[i] = _connections[last];
                    _due[i] = _due[last];
                    _slots[i] = _slots[last];
                    _lengths[i] = _lengths[last];
                    _connections[last] = null;
                    continue;
                }
                next = Math.Min(next, _due[i]);
                i++;
            }
            return next;
        }

        private void Grow() // cold: only when more requests are outstanding than ever before
        {
            int n = _due.Length * 2;
            Array.Resize(ref _connections, n);
            Array.Resize(ref _due, n);
            Array.Resize(ref _slots, n);
            Array.Resize(ref _lengths, n);
        }
    }
}
