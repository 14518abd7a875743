using Scalio.Fast;

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
    /// map. A replica that refuses it but already holds it or a newer version is passed (the write got there, or was
    /// superseded there). Acknowledged once the tail holds it or newer, and, when the key's chain changed with the map
    /// this process routes by, not before <see cref="ClusterTiming.OwnerGrace"/> after this process learned that map.
    /// Any other refusal or a lost replica retries with the <b>same</b> version on the latest map (a new version could
    /// apply the value again after a newer write), until <see cref="OperationDeadline"/>: then
    /// <see cref="OpStatus.Unavailable"/> (the outcome is unknown: some replicas may hold it).
    /// </summary>
    private OpStatus ChainWrite(ReadOnlySpan<byte> key, ulong keyHash, ReadOnlySpan<byte> value, bool remove)
    {
        int length = ChainVersion.HeaderSize + (remove ? 0 : value.Length);
        EnsureBuffers(length);
        Span<int> chain = stackalloc int[ClusterMap.MaxReplicas];
        long deadline = 0;
        ulong version = 0;
        bool touched = false; // some replica may hold it: a later hard error is then an unknown outcome
        while (true)
        {
            var r = RouteMap(ref deadline);
            if (r is null) return OpStatus.Unavailable;
            int n = r.Map.ActiveChain(keyHash, chain);
            if (n == 0) return OpStatus.Unavailable;
            var st = OpStatus.Ok;
            if (version == 0)
            {
                st = ReadVersion(Session(r, chain[0]), key, out ulong headVersion);
                if (st == OpStatus.Ok)
                {
                    ulong counter = ChainVersion.Counter(headVersion) + 1;
                    if (counter > ChainVersion.MaxCounter) return OpStatus.StorageFull;
                    version = ChainVersion.Make(counter, _writer);
                    ChainVersion.Write(_write, version, remove);
                    if (!remove) value.CopyTo(_write.AsSpan(ChainVersion.HeaderSize));
                }
            }
            if (st == OpStatus.Ok)
            {
                var payload = _write.AsSpan(0, length);
                int i = 0;
                for (; i < n; i++)
                {
                    var replica = Session(r, chain[i]);
                    st = replica?.Put(key, payload) ?? OpStatus.Unavailable;
                    touched = true;
                    if (st == OpStatus.Ok) continue;
                    if (st == OpStatus.WrongOwner && ReadVersion(replica, key, out ulong held) == OpStatus.Ok && held >= version) continue;
                    break;
                }
                if (i == n)
                {
                    WaitOutChainChange(r, keyHash);
                    return OpStatus.Ok;
                }
                if (st == OpStatus.WrongOwner) WrongOwnerRetries++;
            }
            if (st is not (OpStatus.WrongOwner or OpStatus.Unavailable or OpStatus.Timeout))
                return touched ? OpStatus.Unavailable : st; // answered with an error; applied nowhere unless touched
            ChainRestarts++;
            _store.RequestRefresh();
            if (!Pause(ref deadline)) return OpStatus.Unavailable;
        }
    }

    /// <summary>Holds the acknowledgement of a write until <see cref="ClusterTiming.OwnerGrace"/> after this process
    /// learned the map, when the key's chain in it differs from the map before (or none was before): a client still
    /// reading by the older map, perhaps from an old tail that never saw this write, trusts it for less than that.</summary>
    private static void WaitOutChainChange(ClusterStore.Routing r, ulong keyHash)
    {
        if (r.Previous is { } p && p.Version + 1 == r.Map.Version && r.Map.SameActiveChain(p, keyHash)) return;
        long until = r.InstalledAt + GraceTicks;
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (now < until) Thread.Sleep(TimeSpan.FromSeconds((double)(until - now) / System.Diagnostics.Stopwatch.Frequency));
    }

    private static readonly long GraceTicks = (long)(ClusterTiming.OwnerGrace.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);

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
