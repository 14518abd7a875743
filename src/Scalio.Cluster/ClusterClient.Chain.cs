using Scalio.Fast.Rpc;

namespace Scalio.Cluster;

// Replicated keys (R > 1): the client drives each write down the key's chain, reads go one-sided to the tail.
// The protocol and why it is linearizable: docs/cluster.md, "Replicated writes".
public sealed partial class ClusterClient
{
    private byte[] _read = [], _write = [];

    /// <summary>Writes rejected by a replica (version not newer, chain changing or in its grace) and run again with a new version.</summary>
    public long ChainRestarts { get; private set; }

    /// <summary>
    /// One write of a replicated key: reads the head's version (one-sided), takes the next one (counter + 1, this
    /// session's writer id), and PUTs the versioned value (or tombstone) to every replica, head to tail; each replica
    /// admits it only when it is newer than every version it took, and only as a member of the key's chain under its own
    /// map. Acknowledged when the tail took it. Any refusal or lost replica starts it again from the head with a newer
    /// version, on the latest map, until <see cref="OperationDeadline"/>: then <see cref="OpStatus.Unavailable"/> (the
    /// outcome is unknown: some replicas may hold it).
    /// </summary>
    private OpStatus ChainWrite(ReadOnlySpan<byte> key, ulong keyHash, ReadOnlySpan<byte> value, bool remove)
    {
        int length = ChainVersion.HeaderSize + (remove ? 0 : value.Length);
        EnsureBuffers(length);
        Span<int> chain = stackalloc int[ClusterMap.MaxReplicas];
        long deadline = 0;
        ulong lastCounter = 0;
        bool touched = false; // some replica may hold an attempt: a later hard error is then an unknown outcome
        while (true)
        {
            var r = RouteMap(ref deadline);
            if (r is null) return OpStatus.Unavailable;
            int n = r.Map.ActiveChain(keyHash, chain);
            if (n == 0) return OpStatus.Unavailable;
            var st = ReadVersion(Session(r, chain[0]), key, out ulong headVersion);
            if (st == OpStatus.Ok)
            {
                lastCounter = Math.Max(ChainVersion.Counter(headVersion), lastCounter) + 1;
                if (lastCounter > ChainVersion.MaxCounter) return OpStatus.StorageFull;
                ChainVersion.Write(_write, ChainVersion.Make(lastCounter, _writer), remove);
                if (!remove) value.CopyTo(_write.AsSpan(ChainVersion.HeaderSize));
                var payload = _write.AsSpan(0, length);
                int i = 0;
                for (; i < n; i++)
                {
                    st = Session(r, chain[i])?.Put(key, payload) ?? OpStatus.Unavailable;
                    if (st != OpStatus.Ok) break;
                    touched = true;
                }
                if (i == n) return OpStatus.Ok;
                if (st == OpStatus.WrongOwner) WrongOwnerRetries++;
                if (i > 0 || st is OpStatus.Unavailable or OpStatus.Timeout) touched = true;
            }
            if (st is not (OpStatus.WrongOwner or OpStatus.Unavailable or OpStatus.Timeout))
                return touched ? OpStatus.Unavailable : st; // answered with an error; applied nowhere unless touched
            ChainRestarts++;
            _store.RequestRefresh();
            if (!Pause(ref deadline)) return OpStatus.Unavailable;
        }
    }

    /// <summary>Reads the version the replica holds for the key (0: none). <see cref="OpStatus.Corrupt"/> when its value has no header.</summary>
    private OpStatus ReadVersion(Fast.Remote.RemoteScalioClient? replica, ReadOnlySpan<byte> key, out ulong version)
    {
        version = 0;
        if (replica is null) return OpStatus.Unavailable;
        var st = replica.Get(key, _read, out int n);
        if (st == OpStatus.NotFound) return OpStatus.Ok;
        if (st != OpStatus.Ok) return st;
        return ChainVersion.TryRead(_read.AsSpan(0, n), out version, out _) ? OpStatus.Ok : OpStatus.Corrupt;
    }

    /// <summary>A read of a replicated key: one-sided at the tail of its chain (which holds only writes every replica
    /// took); a tombstone reads as not found. A tail that is gone is retried on a newer map.</summary>
    private OpStatus ChainGet(ReadOnlySpan<byte> key, ulong keyHash, Span<byte> value, out int valueLength)
    {
        valueLength = 0;
        EnsureBuffers(ChainVersion.HeaderSize + value.Length);
        Span<int> chain = stackalloc int[ClusterMap.MaxReplicas];
        long deadline = 0;
        while (true)
        {
            var r = RouteMap(ref deadline);
            if (r is null) return OpStatus.Unavailable;
            int n = r.Map.ActiveChain(keyHash, chain);
            if (n == 0) return OpStatus.Unavailable;
            int length = 0;
            var st = Session(r, chain[n - 1])?.Get(key, _read, out length) ?? OpStatus.Unavailable;
            if (st == OpStatus.Ok)
            {
                if (!ChainVersion.TryRead(_read.AsSpan(0, length), out _, out bool tombstone)) return OpStatus.Corrupt;
                if (tombstone) return OpStatus.NotFound;
                int v = length - ChainVersion.HeaderSize;
                if (v > value.Length) return OpStatus.InvalidArgument;
                _read.AsSpan(ChainVersion.HeaderSize, v).CopyTo(value);
                valueLength = v;
                return OpStatus.Ok;
            }
            if (st is not (OpStatus.Unavailable or OpStatus.Timeout)) return st;
            _store.RequestRefresh();
            if (!Pause(ref deadline)) return st;
        }
    }

    /// <summary>Grows the session's buffers (rarely: to the largest value seen; the read one holds any stored value).</summary>
    private void EnsureBuffers(int length)
    {
        if (_write.Length < length) _write = new byte[Math.Max(length, 256)];
        if (_read.Length < Math.Max(length, 64 * 1024)) _read = new byte[Math.Max(length, 64 * 1024)];
    }
}
