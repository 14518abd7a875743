using System.Buffers.Binary;
using Scalio.Checking;
using Scalio.Fast;
using Scalio.Fast.Client;
using Scalio.Fast.Remote;
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
/// incomplete (<c>end: null</c>) and continues under a new history client id, as docs/history-format.md requires; the
/// thread itself carries on (the session reconnects on its next operation), so a server restart does not end the run.
/// </remarks>
internal sealed class RemoteYcsbTarget(RemoteScalioStore store, HistoryRecorder? history, int historyIdsPerThread) : IYcsbTarget
{
    public string Name => "scalio (remote)";

    public IYcsbSession OpenSession(int threadIndex) => new Session(this, OpenClient(), history, threadIndex * historyIdsPerThread, historyIdsPerThread);

    /// <summary>Opens a session, waiting out a server that is restarting (with the store's backoff, up to its reconnect timeout).</summary>
    private RemoteScalioClient OpenClient()
    {
        var o = store.Options;
        var deadline = DateTime.UtcNow + o.ReconnectTimeout;
        var backoff = o.InitialBackoff;
        while (true)
        {
            try
            {
                return store.OpenClient();
            }
            catch (Exception e) when ((RemoteScalioStore.IsTransient(e) || e is InvalidOperationException) && DateTime.UtcNow + backoff < deadline)
            {
                // A phase's sessions open while the server may be down (a restart between load and run): try again.
            }
            Thread.Sleep(backoff);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, o.MaxBackoff.Ticks));
        }
    }

    /// <summary>Client-side counters only: the server's CPU and the target's time live in other processes and are not measured here.</summary>
    public TargetCounters ReadCounters()
    {
        var c = store.ReadCounters();
        return new TargetCounters(c.RoundTrips, 0, 0, c.OffloadedReads, 0, c.Hits, c.Gets - c.Hits, c.BytesMoved);
    }

    private long _unknownPuts, _failedPuts, _failedGets;

    /// <summary>PUTs whose connection failed before the reply (server gone, timeout): applied or not, nobody knows; recorded without an end.</summary>
    public long UnknownPuts => Interlocked.Read(ref _unknownPuts);

    /// <summary>PUTs the server answered with an error (never applied; left out of the history).</summary>
    public long FailedPuts => Interlocked.Read(ref _failedPuts);

    /// <summary>GETs that failed (they observed nothing; left out of the history and counted by the runner as not found).</summary>
    public long FailedGets => Interlocked.Read(ref _failedGets);

    /// <summary>
    /// One YCSB thread. A failed operation never stops the thread (the next operation reconnects, see
    /// <see cref="RemoteScalioClient"/>): a failed GET is left out of the history, a PUT the server refused is left out,
    /// and a PUT whose connection failed stays incomplete while the thread goes on under a fresh history client id.
    /// </summary>
    private sealed class Session(RemoteYcsbTarget owner, RemoteScalioClient client, HistoryRecorder? history, int firstId, int ids) : IYcsbSession, IYcsbBatchSession
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
            Interlocked.Increment(ref owner._failedGets);
            _recorder?.Discard(op); // a failed read observed nothing
            return false;
        }

        public int MaxReadBatch => ScalioGetBatch.MaxCapacity;

        /// <summary>Reads together (<see cref="RemoteScalioClient.Get(ScalioGetBatch)"/>); GETs of a failed batch count as
        /// failed. Not with a history (the CLI refuses it: a history client's operations do not overlap).</summary>
        public void ReadBatch(int count, ReadOnlySpan<byte> keys, int keySize, Span<byte> values, int valueSize, Span<bool> found, Span<bool> hits)
        {
            if (_recorder is not null) throw new InvalidOperationException("batched reads are not recorded in a history");
            var batch = client.BeginBatch();
            var st = OpStatus.Unavailable;
            if (batch is not null)
            {
                for (int j = 0; j < count; j++) batch.Add(keys.Slice(j * keySize, keySize));
                st = client.Get(batch);
            }
            for (int j = 0; j < count; j++)
            {
                var kst = st == OpStatus.Ok ? batch!.StatusAt(j) : st;
                hits[j] = st == OpStatus.Ok && batch!.HitAt(j);
                found[j] = kst == OpStatus.Ok;
                if (kst == OpStatus.Ok)
                {
                    var v = batch!.ValueAt(j);
                    v[..Math.Min(v.Length, valueSize)].CopyTo(values.Slice(j * valueSize, valueSize));
                }
                else if (kst != OpStatus.NotFound) Interlocked.Increment(ref owner._failedGets);
            }
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
            if (st is not (OpStatus.Timeout or OpStatus.Unavailable))
            {
                Interlocked.Increment(ref owner._failedPuts);
                _recorder?.Discard(op); // the server answered: the write did not take effect
                return;
            }
            Interlocked.Increment(ref owner._unknownPuts);
            if (_recorder is null) return;
            // The op stays without an end (it may take effect at any time, or never); a client id has at most one such op, last.
            if (_id >= _lastId) throw new InvalidOperationException($"more than {ids - 1} PUTs of one thread ended with an unknown outcome (history client ids exhausted)");
            _id++;
            _recorder = history!.Client(_id);
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
