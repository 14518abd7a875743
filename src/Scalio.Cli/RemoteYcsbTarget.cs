using System.Buffers.Binary;
using Scalio.Checking;
using Scalio.Fast;
using Scalio.Fast.Remote;
using Scalio.Fast.Rpc;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary>
/// Drives a <see cref="RemoteScalioStore"/> (server in another process) from the YCSB runner, optionally recording every
/// operation into a <see cref="HistoryRecorder"/> on the raw monotonic clock (shared by the processes of one machine).
/// </summary>
/// <remarks>
/// With a history, each UPDATE writes a value made unique by a tag in its first 8 bytes (history client id, sequence), so
/// the linearizability check can tell writes apart (YCSB's own values depend only on the record); the runner's value
/// check is then off and the checker judges what was read. A session whose connection fails ends its operation
/// incomplete (<c>end: null</c>) and continues under a new history client id, as docs/history-format.md requires.
/// </remarks>
internal sealed class RemoteYcsbTarget(RemoteScalioStore store, HistoryRecorder? history, int historyIdsPerThread) : IYcsbTarget
{
    public string Name => "scalio (remote)";

    public IYcsbSession OpenSession(int threadIndex) => new Session(store.OpenClient(), history, threadIndex * historyIdsPerThread, historyIdsPerThread);

    /// <summary>Client-side counters only: the server's CPU and the target's time live in other processes and are not measured here.</summary>
    public TargetCounters ReadCounters()
    {
        var c = store.ReadCounters();
        return new TargetCounters(c.RoundTrips, 0, 0, c.OffloadedReads, 0, c.Hits, c.Gets - c.Hits, c.BytesMoved);
    }

    private sealed class Session(RemoteScalioClient client, HistoryRecorder? history, int firstId, int ids) : IYcsbSession
    {
        private readonly int _lastId = firstId + ids - 1;
        private int _id = firstId;
        private ClientRecorder? _recorder = history?.Client(firstId);
        private readonly byte[] _tagged = new byte[1024];
        private uint _sequence;

        public bool Read(ReadOnlySpan<byte> key, Span<byte> value)
        {
            int op = _recorder?.BeginGet(key) ?? -1;
            var st = client.Get(key, value, out int length);
            if (st == OpStatus.Ok)
            {
                _recorder?.CompleteGet(op, value[..length]);
                return true;
            }
            if (st == OpStatus.NotFound)
            {
                _recorder?.CompleteGetNotFound(op);
                return false;
            }
            Failed();
            throw new ScalioException($"GET failed: {st}");
        }

        public void Update(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
            => Write(key, _recorder is null ? value : TagForHistory(_tagged, value, _id, ref _sequence));

        public void Insert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Write(key, value);

        private void Write(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
            int op = _recorder?.BeginPut(key, value) ?? -1;
            var st = client.Put(key, value);
            if (st == OpStatus.Ok)
            {
                _recorder?.Complete(op);
                return;
            }
            Failed();
            throw new ScalioException($"PUT failed: {st}");
        }

        /// <summary>The operation stays incomplete; later operations of this thread go under a fresh client id.</summary>
        private void Failed()
        {
            if (history is null || _id >= _lastId) return;
            _id++;
            _recorder = history.Client(_id);
        }

        public void Dispose() => client.Dispose();
    }

    /// <summary>A recorded update writes a value no other write wrote: its first 8 bytes become (client id, sequence),
    /// so the checker can tell every write apart. Values shorter than 8 bytes or longer than the buffer stay as given.</summary>
    internal static ReadOnlySpan<byte> TagForHistory(byte[] buffer, ReadOnlySpan<byte> value, int id, ref uint sequence)
    {
        if (value.Length < 8 || value.Length > buffer.Length) return value;
        var tagged = buffer.AsSpan(0, value.Length);
        value.CopyTo(tagged);
        BinaryPrimitives.WriteUInt64LittleEndian(tagged, ((ulong)(uint)id << 32) | ++sequence);
        return tagged;
    }
}
