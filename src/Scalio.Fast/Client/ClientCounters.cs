using System.Runtime.CompilerServices;

namespace Scalio.Fast.Client;

/// <summary>A client operation, as <see cref="ClientCounters.Completed"/> and the client meter tell them apart.</summary>
public enum ClientOperation
{
    /// <summary>A GET (alone or in a batch).</summary>
    Get = 0,
    /// <summary>A PUT.</summary>
    Put = 1,
    /// <summary>A DELETE.</summary>
    Delete = 2,
}

/// <summary>Completed operations per (operation, status): plain longs inline in the counters, no allocation.</summary>
[InlineArray(Length)]
internal struct OutcomeCounts
{
    internal const int Statuses = 16;
    internal const int Length = 3 * Statuses;
    private long _first;
}

/// <summary>Per-client operation counters (plain fields: one client is one thread).</summary>
public struct ClientCounters
{
    /// <summary>GET calls.</summary>
    public long Gets;
    /// <summary>GETs served from the cache.</summary>
    public long Hits;
    /// <summary>GETs that filled a slot from the SSD.</summary>
    public long Fills;
    /// <summary>GETs that read the SSD without filling (slow filler bypassed, or no victim).</summary>
    public long DirectReads;
    /// <summary>PUT and DELETE calls.</summary>
    public long Writes;
    /// <summary>Network round trips (a chain posted with one doorbell counts once).</summary>
    public long RoundTrips;
    /// <summary>NVMe-oF reads through the offload target.</summary>
    public long OffloadedReads;
    /// <summary>Bucket reads retried because a slot image was torn (checksum mismatch).</summary>
    public long TornRetries;
    /// <summary>Lock attempts lost (CAS failed or another slot of the bucket already held the key).</summary>
    public long LockConflicts;
    /// <summary>Expired FILLING/ORPHAN slots reclaimed.</summary>
    public long Reclaims;
    /// <summary>Times a reader waited on another client's fill.</summary>
    public long FillWaits;
    /// <summary>VALID slots freed because their body never verified under an unchanged header (overwritten by the late
    /// body WRITE of a filler whose slot had been reclaimed).</summary>
    public long StaleBodiesFreed;
    /// <summary>Bytes moved over the fabric by this client.</summary>
    public long BytesMoved;
    /// <summary>Value-log records read through the offload target (the second read of a miss on a large record).</summary>
    public long ValueLogReads;
    /// <summary>Misses that read a value-log record the cleaner had moved or recycled (sequence, bucket or checksum
    /// mismatch while the location index had moved on) and retried from the location index.</summary>
    public long ValueLogRetries;

    /// <summary>GET batches run (<see cref="ScalioClient.Get(ScalioGetBatch)"/>).</summary>
    public long Batches;
    /// <summary>GETs run in batches (also counted in <see cref="Gets"/>).</summary>
    public long BatchedGets;

    private OutcomeCounts _outcomes;

    /// <summary>Operations of kind <paramref name="operation"/> that returned <paramref name="status"/> (an operation
    /// that threw is not counted).</summary>
    public readonly long Completed(ClientOperation operation, OpStatus status)
    {
        int i = Index(operation, status);
        return i < 0 ? 0 : _outcomes[i];
    }

    /// <summary>Counts one completed operation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Complete(ClientOperation operation, OpStatus status)
    {
        int i = Index(operation, status);
        if (i >= 0) _outcomes[i]++;
    }

    /// <summary>Counts <paramref name="count"/> operations completed with the same status.</summary>
    internal void Complete(ClientOperation operation, OpStatus status, int count)
    {
        int i = Index(operation, status);
        if (i >= 0) _outcomes[i] += count;
    }

    private static int Index(ClientOperation operation, OpStatus status)
        => (uint)operation < 3 && (uint)status < OutcomeCounts.Statuses ? (int)operation * OutcomeCounts.Statuses + (int)status : -1;

    /// <summary>Adds another client's counters.</summary>
    public void Add(in ClientCounters o)
    {
        Gets += o.Gets; Hits += o.Hits; Fills += o.Fills; DirectReads += o.DirectReads; Writes += o.Writes;
        RoundTrips += o.RoundTrips; OffloadedReads += o.OffloadedReads; TornRetries += o.TornRetries;
        LockConflicts += o.LockConflicts; Reclaims += o.Reclaims; FillWaits += o.FillWaits; BytesMoved += o.BytesMoved;
        StaleBodiesFreed += o.StaleBodiesFreed; ValueLogReads += o.ValueLogReads; ValueLogRetries += o.ValueLogRetries;
        Batches += o.Batches; BatchedGets += o.BatchedGets;
        for (int i = 0; i < OutcomeCounts.Length; i++) _outcomes[i] += o._outcomes[i];
    }
}
