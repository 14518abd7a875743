using System.Buffers.Binary;
using System.Text;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Server;

namespace Scalio.Tests.Protocol;

/// <summary>One slot of the server's cache as the test sees it in memory.</summary>
internal readonly record struct SlotView(int Bucket, int Index, ulong Header, string Key, string Value, bool ChecksumOk)
{
    public SlotState State => SlotHeader.State(Header);
}

/// <summary>Reads the server's cache memory directly (owner-side view, for assertions only).</summary>
internal static unsafe class CacheScan
{
    public static int Buckets(ScalioStore store) => store.Server.Describe().CacheBuckets;

    public static long SlotOffset(ScalioStore store, int bucket, int slot)
        => ScalioServer.BucketsOffset + (long)bucket * store.Layout.BucketSize + (long)slot * store.Layout.SlotSize;

    public static ulong Header(ScalioStore store, int bucket, int slot)
        => Volatile.Read(ref System.Runtime.CompilerServices.Unsafe.AsRef<ulong>(Address(store, SlotOffset(store, bucket, slot))));

    private static void* Address(ScalioStore store, long offset) => store.Server.CacheRegion.Address + offset;

    /// <summary>A copy of slot (bucket, slot) decoded; the copy is not atomic, so callers re-check the header.</summary>
    public static SlotView Read(ScalioStore store, int bucket, int slot)
    {
        var layout = store.Layout;
        var image = store.Server.CacheRegion.Span.Slice((int)SlotOffset(store, bucket, slot), layout.SlotSize).ToArray();
        ulong header = BinaryPrimitives.ReadUInt64LittleEndian(image);
        int kl = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(SlotLayout.LengthsOffset));
        int vl = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(SlotLayout.LengthsOffset + 2));
        bool sane = kl <= layout.KeyCapacity && vl <= layout.ValueCapacity;
        string key = sane ? Encoding.ASCII.GetString(image, SlotLayout.KeyOffset, kl) : "";
        string value = sane ? Encoding.ASCII.GetString(image, layout.ValueOffset, vl) : "";
        bool ok = sane && BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(SlotLayout.ChecksumOffset)) == layout.ComputeChecksum(image, SlotHeader.Version(header));
        return new SlotView(bucket, slot, header, key, value, ok);
    }

    public static List<SlotView> All(ScalioStore store)
    {
        var list = new List<SlotView>();
        for (int b = 0; b < Buckets(store); b++)
            for (int s = 0; s < store.Layout.SlotsPerBucket; s++)
                list.Add(Read(store, b, s));
        return list;
    }
}
