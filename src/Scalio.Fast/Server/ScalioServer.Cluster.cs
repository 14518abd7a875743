using System.Buffers.Binary;
using System.Diagnostics;
using Scalio.Fast.Cache;
using Scalio.Fast.Storage;

namespace Scalio.Fast.Server;

/// <summary>Decides whether a server takes a PUT (<paramref name="value"/>) or DELETE (<paramref name="remove"/>) of
/// <paramref name="key"/> (a sharded cluster: whether it owns the key now; a replicated one: whether the write's version is
/// newer). Called on a server worker for every write, under a lock shared by the writes of the key until the admitted
/// write has joined its batch: it must be fast, must not allocate and must not block.</summary>
public delegate bool WriteAdmission(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool remove);

/// <summary>Receives one key found by <see cref="ScalioServer.ForEachStoredKey"/>; the span is valid during the call only.</summary>
public delegate void StoredKeyVisitor(ReadOnlySpan<byte> key);

// What a sharded cluster needs from one server: a write fence per key, a way to wait out the writes that passed it,
// and an enumeration of the keys on its SSDs (to copy the ones that change owner).
public sealed unsafe partial class ScalioServer
{
    /// <summary>
    /// The write fence of a sharded cluster: when set, every PUT and DELETE is first passed to it, and refused with
    /// <see cref="OpStatus.WrongOwner"/> (nothing changed) when it returns false. Null (default): every write is taken.
    /// Reads are one-sided and never reach it. After changing what the delegate answers, call
    /// <see cref="DrainAdmittedWrites"/> to wait for the writes it admitted under the old answer.
    /// </summary>
    public WriteAdmission? WriteAdmission
    {
        get => _writeAdmission;
        set => _writeAdmission = value;
    }

    private const int AdmissionStripeCount = 256;
    private readonly object[] _admissionStripes = CreateStripes();

    private static object[] CreateStripes()
    {
        var a = new object[AdmissionStripeCount];
        for (int i = 0; i < a.Length; i++) a[i] = new object();
        return a;
    }

    /// <summary>The lock that orders admission and enqueueing of the writes of one key (and the keys sharing its stripe).</summary>
    private object AdmissionStripe(in KeyHash hash) => _admissionStripes[(int)(hash.Value & (AdmissionStripeCount - 1))];

    /// <summary>PUT and DELETE requests refused by <see cref="WriteAdmission"/>.</summary>
    public long RequestsWrongOwner => Interlocked.Read(ref _wrongOwner);

    /// <summary>
    /// Waits until every write that <see cref="WriteAdmission"/> admitted before this call is committed to the SSDs
    /// (durable, location published): first until no write is between its admission check and its batch, then until each
    /// device's batch that was open then has been committed (the workers commit it within the batch idle timeout).
    /// The caller changes the state the delegate reads before calling (with a full fence, e.g. an Interlocked write):
    /// a write either saw the new state or is counted here. False when <paramref name="timeout"/> passed first.
    /// </summary>
    public bool DrainAdmittedWrites(TimeSpan timeout)
    {
        Interlocked.MemoryBarrier();
        long deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (Interlocked.Read(ref _inAdmission) != 0)
        {
            if (Stopwatch.GetTimestamp() > deadline) return false;
            Thread.Yield();
        }
        foreach (var q in _queues)
        {
            PendingBatch? open;
            lock (q.Gate) open = q.Open.Batch.Count == 0 ? null : q.Open;
            if (open is not null)
            {
                while (true)
                {
                    lock (q.Gate) if (!ReferenceEquals(q.Open, open)) break;
                    if (Stopwatch.GetTimestamp() > deadline) return false;
                    Thread.Sleep(1);
                }
            }
            lock (q.FlushGate) { } // a batch taken before this point is committed when its flush releases the gate
        }
        return true;
    }

    /// <summary>
    /// Calls <paramref name="visitor"/> with every key stored on the SSDs, bucket by bucket (reads each bucket block with
    /// the server CPU; a block rewritten meanwhile is read again). Keys written concurrently may or may not be seen;
    /// keys whose writes are fenced off and drained (<see cref="DrainAdmittedWrites"/>) are seen exactly once.
    /// Throws <see cref="IOException"/> when a block cannot be read or stays corrupt.
    /// </summary>
    public void ForEachStoredKey(StoredKeyVisitor visitor)
    {
        ArgumentNullException.ThrowIfNull(visitor);
        var page = GC.AllocateUninitializedArray<byte>(_store.PageSize);
        for (int bucket = 0; bucket < _store.BucketCount; bucket++)
        {
            for (int attempt = 0; ; attempt++)
            {
                var loc = _store.LocationOf(bucket);
                if (!loc.Exists) break;
                var st = _store.Devices[loc.Device].Read(_store.LbaOf(loc.Device, loc.Page), _store.LbasPerPage(loc.Device), page);
                if (!st.IsSuccess) throw new IOException($"bucket {bucket}: device {loc.Device} read failed ({st})");
                if (BucketBlock.Verify(page) && BucketBlock.BucketOf(page) == (uint)bucket && BucketBlock.SequenceOf(page) == loc.Sequence)
                {
                    VisitRecords(page, visitor);
                    break;
                }
                if (attempt >= 64) throw new IOException($"bucket {bucket}: its block stays unreadable (corrupt or rewritten 64 times)");
            }
        }
    }

    private static void VisitRecords(ReadOnlySpan<byte> page, StoredKeyVisitor visitor)
    {
        int count = BucketBlock.CountOf(page);
        int used = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(page[24..]), (uint)page.Length);
        int pos = BucketBlock.HeaderSize;
        for (int i = 0; i < count && pos + BucketBlock.RecordHeaderSize <= used; i++)
        {
            int kl = BinaryPrimitives.ReadUInt16LittleEndian(page[pos..]);
            int vl = BinaryPrimitives.ReadUInt16LittleEndian(page[(pos + 2)..]) & ~BucketBlock.IndirectFlag;
            int next = pos + BucketBlock.RecordHeaderSize + kl + vl;
            if (next > used) break;
            visitor(page.Slice(pos + BucketBlock.RecordHeaderSize, kl));
            pos = next;
        }
    }

    /// <summary>Reads <paramref name="key"/> from the SSDs with the server CPU (not the cache): the committed value, as a
    /// key-moving copier needs it. <see cref="OpStatus.Ok"/> with the value in <paramref name="value"/>[..length].</summary>
    public OpStatus ReadStored(ReadOnlySpan<byte> key, Span<byte> value, out int length)
    {
        length = 0;
        var scratch = GC.AllocateUninitializedArray<byte>(_store.PageSize);
        var hash = new KeyHash(key);
        var st = _store.Read(in hash, key, scratch, out var found);
        if (st != OpStatus.Ok) return st;
        if (found.Length > value.Length) return OpStatus.InvalidArgument;
        found.CopyTo(value);
        length = found.Length;
        return OpStatus.Ok;
    }
}
