using System.Buffers.Binary;
using System.IO.Hashing;
using Scalio.Fast.Cache;
using Scalio.Fast;
using Scalio.Fast.Storage;
using Scalio.Verbs;
using Scalio.Nvme;

namespace Scalio.Cli.Fuzz;

/// <summary>
/// An on-disk bucket block as a reader (client or server) sees it: <see cref="BucketBlock.Verify"/>, then
/// <see cref="BucketBlock.Find"/> and <see cref="BucketBlock.NextPointer"/> report Corrupt or false, never throw; the
/// server's <see cref="BucketBlock.Rewrite"/> of a verified block throws <see cref="InvalidDataException"/>.
/// </summary>
internal sealed class BucketBlockTarget : FuzzTarget
{
    private const int Page = 4096;
    private readonly byte[][] _keys = Enumerable.Range(0, 6).Select(i => System.Text.Encoding.ASCII.GetBytes($"user{i:D12}")).ToArray();
    private readonly byte[] _target = new byte[Page];

    public override string Name => "bucket-block";

    public override string Contract => "Find reports Corrupt/Stale, NextPointer stops, Rewrite throws InvalidDataException";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var list = new List<byte[]>();
        for (int n = 0; n <= _keys.Length; n++)
        {
            var block = new byte[Page];
            var tmp = new byte[Page];
            BucketBlock.Rewrite([], block, 5, 100, _keys[0], FuzzTargets.Bytes(r, 64), remove: n == 0);
            for (int i = 1; i < n; i++)
            {
                bool indirect = i % 3 == 0;
                byte[] value = indirect ? new byte[ValuePointer.Size] : FuzzTargets.Bytes(r, r.Next(0, 200));
                if (indirect) new ValuePointer((ulong)r.Next(3, 60), r.Next(1, 4), (ulong)r.NextInt64(), r.Next(1000, 3000), (uint)r.Next()).Write(value);
                BucketBlock.Rewrite(block, tmp, 5, (ulong)(100 + i), _keys[i], value, remove: false, indirect);
                (block, tmp) = (tmp, block);
            }
            list.Add(block);
        }
        // A block filled to its last byte: a record count one too high must not read past the page.
        var full = new byte[Page];
        var next = new byte[Page];
        for (int i = 0; i < 19; i++)
        {
            byte[] key = System.Text.Encoding.ASCII.GetBytes($"full{i:D12}");
            BucketBlock.Rewrite(i == 0 ? [] : full, next, 5, (ulong)(200 + i), key, FuzzTargets.Bytes(r, i < 18 ? 200 : 84), remove: false);
            (full, next) = (next, full);
        }
        list.Add(full);
        var q = new byte[Page];
        BucketBlock.WriteQuarantine(q, 5, 7);
        list.Add(q);
        return list;
    }

    public override void Reseal(byte[] input)
    {
        if (input.Length < BucketBlock.HeaderSize) return;
        uint used = BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(24));
        if (used >= 8 && used <= input.Length) BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan(4), (uint)XxHash3.HashToUInt64(input.AsSpan(8, (int)used - 8)));
    }

    public override bool Decode(byte[] input)
    {
        bool verified = BucketBlock.Verify(input);
        ulong sequence = BucketBlock.SequenceOf(input);
        uint bucket = input.Length >= 12 ? BucketBlock.BucketOf(input) : 0;
        foreach (var key in _keys)
        {
            var found = BucketBlock.Find(input, bucket, sequence, key, out var value);
            if (found is BlockLookup.Found or BlockLookup.Indirect && !input.AsSpan().Overlaps(value) && !value.IsEmpty) throw new InvalidOperationException("a value outside the block");
            if (found == BlockLookup.Indirect) _ = ValuePointer.Read(value);
        }
        if (!verified) return false;
        int cursor = 0, pointers = 0;
        while (BucketBlock.NextPointer(input, ref cursor, out _))
            if (++pointers > input.Length) throw new InvalidOperationException("NextPointer does not advance");
        // The server rewrites a verified block it read back (read-modify-write of a batch): a malformed one is refused.
        if (input.Length == Page) BucketBlock.Rewrite(input, _target, bucket, sequence + 1, _keys[0], "fuzz"u8, remove: false);
        return true;
    }

    public override bool IsRejection(Exception e) => e is InvalidDataException;
}

/// <summary>A value-log record read through a pointer: <see cref="ValueRecord.Check"/> reports Stale or Corrupt, never throws.</summary>
internal sealed class ValueRecordTarget : FuzzTarget
{
    private const int Page = 512;

    public override string Name => "value-record";

    public override string Contract => "ValueRecord.Check reports Stale/Corrupt";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var list = new List<byte[]>();
        foreach (int vl in new[] { 100, 480, 1000, 1400 })
        {
            int pages = ValueRecord.PagesFor(16, vl, Page);
            var b = new byte[pages * Page];
            ValueRecord.Write(b, 3, (ulong)r.NextInt64(), "user000000000001"u8, FuzzTargets.Bytes(r, vl), pages);
            list.Add(b);
        }
        var pad = new byte[Page];
        ValueRecord.WritePad(pad, 77);
        list.Add(pad);
        return list;
    }

    public override void Reseal(byte[] input)
    {
        if (input.Length < ValueRecord.HeaderSize) return;
        long used = ValueRecord.HeaderSize + (long)BinaryPrimitives.ReadUInt16LittleEndian(input.AsSpan(12)) + BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(24));
        if (used <= input.Length) BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan(4), (uint)XxHash3.HashToUInt64(input.AsSpan(8, (int)used - 8)));
    }

    public override bool Decode(byte[] input)
    {
        // The pointer a block would hold for this record, read from its own header, so mutations get past the sequence check.
        var ptr = input.Length >= ValueRecord.HeaderSize
            ? new ValuePointer(0, ValueRecord.PagesOf(input), BucketBlock.SequenceOf(input), (int)BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(24)), ValueRecord.ChecksumOf(input))
            : default;
        var check = ValueRecord.Check(input, 3, in ptr, "user000000000001"u8, out var value);
        if (check == ValueCheck.Ok && !value.IsEmpty && !input.AsSpan().Overlaps(value)) throw new InvalidOperationException("a value outside the record");
        return check == ValueCheck.Ok;
    }
}

/// <summary>
/// A device's recovery (<c>DeviceLog.Open</c> through <c>SsdStore</c>) over a RAM namespace whose superblock, checkpoint
/// or log pages were replaced by the input: <see cref="InvalidDataException"/> or <see cref="IOException"/>, never
/// another exception; a recovered store then serves reads and a write (statuses, not exceptions).
/// </summary>
internal sealed class RecoveryTarget : FuzzTarget
{
    /// <summary>Which pages the input replaces.</summary>
    public enum Region { Superblock, Checkpoint, Log }

    private const int Page = 512, Pages = 64, Buckets = 8, ValuePages = 3;
    private const int CheckpointPages = 1; // (64 + 16 x 8 buckets) bytes in one 512-byte page
    private readonly Region _region;
    private readonly LoopbackFabric _fabric = new();
    private readonly RamNamespace _ns = new(1, Page, Pages);
    private readonly byte[] _image;
    private readonly List<(byte[] Key, byte[] Value)> _records = [];

    public RecoveryTarget(string name, Region region)
    {
        Name = name;
        _region = region;
        // The base image: a formatted store with inline and value-log records, some rewritten, one deleted, then a crash (no clean checkpoint).
        var r = new Random(16);
        using (var domain = _fabric.CreateDomain())
        using (var store = new SsdStore(domain, [_ns], Buckets, Page, batchLimit: 1, valuePages: ValuePages))
        {
            using var batch = new WriteBatch(1, 16, 1400);
            for (int i = 0; i < 12; i++)
            {
                byte[] key = System.Text.Encoding.ASCII.GetBytes($"user{i % 9:D12}");
                byte[] value = FuzzTargets.Bytes(r, i % 3 == 0 ? 1000 : 64);
                batch.Clear();
                batch.TryAdd(new KeyHash(key).SsdBucket(Buckets), key, value, remove: i == 10, 0);
                store.Commit(0, batch);
                _records.Add((key, value));
            }
        }
        _image = new byte[Pages * Page];
        if (!_ns.Read(0, Pages, _image).IsSuccess) throw new IOException("cannot read the base image");
    }

    public override string Name { get; }

    public override string Contract => "recovery throws InvalidDataException or IOException";

    private (int Offset, int Length) Span => _region switch
    {
        Region.Superblock => (0, Page),
        Region.Checkpoint => (Page, 2 * CheckpointPages * Page),
        _ => ((1 + 2 * CheckpointPages) * Page, (Pages - 1 - 2 * CheckpointPages) * Page),
    };

    public override IReadOnlyList<byte[]> Seeds(Random r) => [_image.AsSpan(Span.Offset, Span.Length).ToArray()];

    public override void Reseal(byte[] input)
    {
        switch (_region)
        {
            case Region.Superblock when input.Length >= 128:
                BinaryPrimitives.WriteUInt64LittleEndian(input.AsSpan(8), XxHash3.HashToUInt64(input.AsSpan(16, 112)));
                break;
            case Region.Checkpoint:
                for (int slot = 0; slot + Page <= input.Length; slot += Page)
                    BinaryPrimitives.WriteUInt64LittleEndian(input.AsSpan(slot + 8), XxHash3.HashToUInt64(input.AsSpan(slot + 16, 64 + 16 * Buckets - 16)));
                break;
            case Region.Log:
                for (int p = 0; p + Page <= input.Length; p += Page)
                {
                    var page = input.AsSpan(p);
                    if (BinaryPrimitives.ReadUInt32LittleEndian(page) == BucketBlock.Magic)
                    {
                        uint used = BinaryPrimitives.ReadUInt32LittleEndian(page[24..]);
                        if (used >= 8 && used <= Page) BinaryPrimitives.WriteUInt32LittleEndian(page[4..], (uint)XxHash3.HashToUInt64(page[8..(int)used]));
                    }
                    else if (ValueRecord.HasMagic(page))
                    {
                        long used = ValueRecord.HeaderSize + (long)BinaryPrimitives.ReadUInt16LittleEndian(page[12..]) + BinaryPrimitives.ReadUInt32LittleEndian(page[24..]);
                        if (used <= page.Length) BinaryPrimitives.WriteUInt32LittleEndian(page[4..], (uint)XxHash3.HashToUInt64(page[8..(int)used]));
                    }
                }
                break;
        }
    }

    public override bool Decode(byte[] input)
    {
        var image = (byte[])_image.Clone();
        var (offset, length) = Span;
        input.AsSpan(0, Math.Min(input.Length, length)).CopyTo(image.AsSpan(offset)); // a short input leaves the rest as it was
        if (!_ns.Write(0, Pages, image, fua: true).IsSuccess) throw new IOException("cannot write the image");
        using var domain = _fabric.CreateDomain();
        using var store = new SsdStore(domain, [_ns], Buckets, Page, batchLimit: 1, valuePages: ValuePages);
        var scratch = new byte[Page];
        foreach (var (key, _) in _records)
        {
            var st = store.Read(new KeyHash(key), key, scratch, out _);
            // Timeout: the index names a page holding another block and 64 re-reads did not change that (bounded, reported).
            if (st is not (OpStatus.Ok or OpStatus.NotFound or OpStatus.Corrupt or OpStatus.IoError or OpStatus.Timeout)) throw new InvalidOperationException($"read status {st}");
        }
        using var batch = new WriteBatch(1, 16, 1400);
        byte[] k = _records[0].Key;
        batch.TryAdd(new KeyHash(k).SsdBucket(Buckets), k, "after recovery"u8, remove: false, 0);
        store.Commit(0, batch);
        return true;
    }

    public override bool IsRejection(Exception e) => e is InvalidDataException or IOException;

    public override void Dispose()
    {
        _ns.Dispose();
        base.Dispose();
    }
}
