using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Scalio.Fast.Cache;
using Scalio.Verbs;

namespace Scalio.Fast.Client;

// Block fetch (GET steps 1-2): one RDMA READ of the key's cache bucket, the scan of its slots, and a hit's value and access stamp.
public sealed unsafe partial class ScalioClient
{
    private void ReadBucket(int bucket)
    {
        ulong id = ProtocolSteps.PostReadBucket(_qp, _chain, in _steps, NextId(), bucket);
        _counters.RoundTrips++;
        _counters.BytesMoved += _layout.BucketSize;
        Await(id);
    }

    /// <summary>What one read of a bucket says about a key: the slot that holds it, or where a miss may go.</summary>
    private struct BucketScan
    {
        /// <summary>Slot holding the key (VALID, verified), or -1.</summary>
        public int Hit;
        /// <summary>First FREE slot, the VALID slot with the oldest stamp, a slot filling this fingerprint, a slot whose
        /// lease expired, and a slot of this fingerprint whose image is torn (each -1 when none).</summary>
        public int Free, Oldest, Pending, Expired, TornSlot;
    }

    /// <summary>Steps 1-2 of a GET on a bucket image: find the key, else the candidates for the miss path.</summary>
    private BucketScan Scan(ReadOnlySpan<byte> image, ReadOnlySpan<byte> key, ushort fp)
    {
        var r = new BucketScan { Hit = -1, Free = -1, Oldest = -1, Pending = -1, Expired = -1, TornSlot = -1 };
        uint oldestStamp = uint.MaxValue;
        int slots = _layout.SlotsPerBucket;
        for (int i = 0; i < slots; i++)
        {
            ulong h = _layout.HeaderAt(image, i);
            switch (SlotHeader.State(h))
            {
                case SlotState.Valid:
                {
                    var slot = _layout.SlotAt(image, i);
                    if (SlotHeader.Fingerprint(h) == fp)
                    {
                        if (_layout.Matches(slot, key, h, out bool t))
                        {
                            r.Hit = i;
                            return r;
                        }
                        if (t) r.TornSlot = i;
                    }
                    uint stamp = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(slot[SlotLayout.StampOffset..]);
                    if (stamp < oldestStamp || r.Oldest < 0) { oldestStamp = stamp; r.Oldest = i; }
                    break;
                }
                case SlotState.Free:
                    if (r.Free < 0) r.Free = i;
                    break;
                case SlotState.Filling:
                    if (SlotHeader.Fingerprint(h) == fp && r.Pending < 0) r.Pending = i;
                    else if (r.Expired < 0 && LeaseExpired(h)) r.Expired = i;
                    break;
                case SlotState.Orphan:
                    if (r.Expired < 0 && LeaseExpired(h)) r.Expired = i;
                    break;
            }
        }
        return r;
    }

    /// <summary>Step 2 when it hits: the first VALID slot of this fingerprint that holds the key with a verified checksum,
    /// as <see cref="Scan"/> would find it, without gathering the miss path's candidates; -1 otherwise.</summary>
    private int ProbeHit(ReadOnlySpan<byte> image, ReadOnlySpan<byte> key, ushort fp)
    {
        if (image.Length < _layout.BucketSize) return -1;
        fixed (byte* bucket = image) return ProbeHit(bucket, key, fp);
    }

    /// <summary><see cref="ProbeHit(ReadOnlySpan{byte}, ReadOnlySpan{byte}, ushort)"/> on a whole bucket image at
    /// <paramref name="bucket"/>: one masked compare a slot header, the key and checksum only where it matches.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ProbeHit(byte* bucket, ReadOnlySpan<byte> key, ushort fp)
    {
        const ulong mask = SlotHeader.StateMask << SlotHeader.StateShift | SlotHeader.FingerprintMask << SlotHeader.FingerprintShift;
        ulong want = (ulong)SlotState.Valid << SlotHeader.StateShift | (ulong)fp << SlotHeader.FingerprintShift;
        var layout = _layout;
        int size = layout.SlotSize, slots = layout.SlotsPerBucket;
        for (int i = 0; i < slots; i++)
        {
            byte* slot = bucket + i * size;
            ulong h = Unsafe.ReadUnaligned<ulong>(slot);
            if ((h & mask) == want && layout.HoldsVerified(slot, key, h)) return i;
        }
        return -1;
    }

    /// <summary>A single GET's hit: the value copied out (<see cref="TakeHit"/>) and, when the slot's stamp is stale, the
    /// stamp rewritten unsignaled. Returns the value's length.</summary>
    private int TakeHitAndTouch(ReadOnlySpan<byte> image, int bucket, int slot, Span<byte> value)
    {
        int length = TakeHit(image, slot, value);
        uint now = Stamp;
        if (StampIsStale(_layout.SlotAt(image, slot), now)) WriteStampUnsignaled(bucket, slot, now);
        return length;
    }

    /// <summary>Copies the value of the VALID slot <paramref name="slot"/> of a bucket image and counts the hit.</summary>
    private int TakeHit(ReadOnlySpan<byte> image, int slot, Span<byte> value)
    {
        var body = _layout.SlotAt(image, slot);
        int length = SlotLayout.ValueLength(body);
        body.Slice(_layout.ValueOffset, length).CopyTo(value);
        _counters.Hits++;
        return length;
    }

    /// <summary>True when a hit at <paramref name="now"/> must rewrite the stamp of the slot <paramref name="slot"/>:
    /// it is older than <see cref="ScalioClientOptions.TouchIntervalMilliseconds"/> (or from the future: a wrapped clock).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool StampIsStale(ReadOnlySpan<byte> slot, uint now)
        => SlotLayout.StampIsStale(slot, now, (uint)_options.TouchIntervalMilliseconds);

    /// <summary>Records a hit: an unsignaled, unordered WRITE of the current stamp to the slot's access stamp (no round trip, no completion).</summary>
    private void WriteStampUnsignaled(int bucket, int slot, uint now)
    {
        // The slot image buffer's stamp field is the source; a later fill rewrites the whole body anyway.
        *(uint*)(_mr.Address + _slotOff + SlotLayout.StampOffset) = now;
        ProtocolSteps.Touch(_chain, in _steps, NextId(), WorkFlags.Unordered, bucket, slot); // no order needed: a stamp only guides eviction
        _qp.PostSend(in *_chain);
        _counters.BytesMoved += 4;
    }

    /// <summary>Identical torn reads of one VALID header after which its body is treated as stale and the slot freed.</summary>
    private const int StaleBodyRereads = 4;
}
