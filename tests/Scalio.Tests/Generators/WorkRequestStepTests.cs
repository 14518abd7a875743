using System.Runtime.CompilerServices;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Fast.Schema;
using Scalio.Fast.Server;
using Scalio.Fast.Storage;
using Scalio.Verbs;

namespace Scalio.Tests.Generators;

/// <summary>The work-request builders generated from Scalio.Fast's declared protocol steps (<see cref="ProtocolSteps"/>).</summary>
public sealed unsafe class WorkRequestStepTests : IDisposable
{
    private const int Buckets = 4, SsdBuckets = 8, BucketsOffset = 64;
    private readonly ProtectionDomain _clientDomain, _serverDomain;
    private readonly QueuePair _qp, _peer;
    private readonly MemoryRegion _local, _cache, _index;
    private readonly ServerDescriptor _server;
    private readonly StepContext _context;
    private readonly int _bucketBuf, _atomicBuf, _locationBuf, _slotBuf;
    private readonly SlotLayout _layout = SlotLayout.Default;

    public WorkRequestStepTests()
    {
        var fabric = new LoopbackFabric();
        _clientDomain = fabric.CreateDomain();
        _serverDomain = fabric.CreateDomain();
        (_qp, _peer) = LoopbackFabric.CreateConnectedPair(_clientDomain, _serverDomain);
        _cache = _serverDomain.Allocate((nuint)(BucketsOffset + Buckets * _layout.BucketSize), MemoryAccess.All);
        _index = _serverDomain.Allocate((nuint)(SsdBuckets * Location.EntrySize), MemoryAccess.RemoteRead | MemoryAccess.LocalWrite);
        _local = _clientDomain.Allocate(4096, MemoryAccess.All);
        _bucketBuf = 0;
        _atomicBuf = (_layout.BucketSize + 63) & ~63;
        _locationBuf = _atomicBuf + 64;
        _slotBuf = _locationBuf + 64;
        _server = new ServerDescriptor(_layout, _cache.RemoteKey, BucketsOffset, Buckets, _index.RemoteKey, SsdBuckets, 4096, [4096], 0, 1000);
        _context = new StepContext(_local, _bucketBuf, _atomicBuf, _locationBuf, _slotBuf, _server);
        new Random(5).NextBytes(_cache.Span);
        new Random(6).NextBytes(_index.Span);
    }

    public void Dispose()
    {
        _qp.Dispose();
        _peer.Dispose();
        _clientDomain.Dispose();
        _serverDomain.Dispose();
    }

    private long SlotOffset(int bucket, int slot) => BucketsOffset + (long)bucket * _layout.BucketSize + (long)slot * _layout.SlotSize;

    private static void Same(in WorkRequest expected, in WorkRequest actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Opcode, actual.Opcode);
        Assert.Equal(expected.Flags, actual.Flags);
        Assert.Equal(expected.LocalAddress, actual.LocalAddress);
        Assert.Equal(expected.Length, actual.Length);
        Assert.Equal(expected.LocalKey, actual.LocalKey);
        Assert.Equal(expected.RemoteOffset, actual.RemoteOffset);
        Assert.Equal(expected.RemoteKey, actual.RemoteKey);
        Assert.Equal(expected.CompareAdd, actual.CompareAdd);
        Assert.Equal(expected.Swap, actual.Swap);
        Assert.Equal(expected.Immediate, actual.Immediate);
    }

    private static void Garbage(WorkRequest* chain, int count) => new Span<byte>(chain, count * sizeof(WorkRequest)).Fill(0xCD);

    [Fact]
    public void Generated_chains_equal_the_hand_built_requests_of_the_client()
    {
        WorkRequest* chain = stackalloc WorkRequest[ProtocolSteps.MaxChainLength];
        Assert.Equal(2, ProtocolSteps.MaxChainLength);
        const ulong h = 0x1234_5678_9abc_def0, d = 0x0fed_cba9_8765_4321;

        // GET step 1 (ScalioClient.ReadBucket).
        Garbage(chain, 2);
        ProtocolSteps.ReadBucket(chain, in _context, 7, WorkFlags.Signaled, 3);
        Same(WorkRequest.Read(7, _local.AddressOf(_bucketBuf), (uint)_layout.BucketSize, _local.LocalKey, (ulong)(BucketsOffset + 3 * _layout.BucketSize), _cache.RemoteKey), chain[0]);

        // Miss step 4 (ScalioClient.CompareSwapThenReadBucket): CAS unsignaled, then a fenced, signaled READ of the bucket.
        Garbage(chain, 2);
        Assert.Equal(ProtocolSteps.LockAndRereadLength, ProtocolSteps.LockAndReread(chain, in _context, 10, 2, 5, h, d));
        Same(WorkRequest.CompareSwap(10, _local.AddressOf(_atomicBuf), _local.LocalKey, (ulong)SlotOffset(2, 5), _cache.RemoteKey, h, d, WorkFlags.None), chain[0]);
        Same(WorkRequest.Read(11, _local.AddressOf(_bucketBuf), (uint)_layout.BucketSize, _local.LocalKey, (ulong)(BucketsOffset + 2 * _layout.BucketSize), _cache.RemoteKey, WorkFlags.Signaled | WorkFlags.Fence), chain[1]);

        // Miss step 5 (ScalioClient.ReadFromSsd): the location entry.
        Garbage(chain, 2);
        ProtocolSteps.ReadLocation(chain, in _context, 12, WorkFlags.Signaled, 6);
        Same(WorkRequest.Read(12, _local.AddressOf(_locationBuf), Location.EntrySize, _local.LocalKey, 6UL * Location.EntrySize, _index.RemoteKey), chain[0]);

        // Miss step 6 (ScalioClient.MissFill): WRITE of the body unsignaled, then the publishing CAS signaled.
        Garbage(chain, 2);
        Assert.Equal(2, ProtocolSteps.FillAndPublish(chain, in _context, 20, 1, 7, 40, h, d));
        int bodyLength = _layout.ValueOffset + 40 - SlotLayout.ChecksumOffset;
        Same(WorkRequest.Write(20, _local.AddressOf(_slotBuf + SlotLayout.ChecksumOffset), (uint)bodyLength, _local.LocalKey,
            (ulong)(SlotOffset(1, 7) + SlotLayout.ChecksumOffset), _cache.RemoteKey, WorkFlags.None), chain[0]);
        Same(WorkRequest.CompareSwap(21, _local.AddressOf(_atomicBuf), _local.LocalKey, (ulong)SlotOffset(1, 7), _cache.RemoteKey, h, d), chain[1]);

        // Release (ScalioClient.Release / TryFree): one signaled CAS.
        Garbage(chain, 2);
        ProtocolSteps.Release(chain, in _context, 30, WorkFlags.Signaled, 0, 0, h, d);
        Same(WorkRequest.CompareSwap(30, _local.AddressOf(_atomicBuf), _local.LocalKey, (ulong)SlotOffset(0, 0), _cache.RemoteKey, h, d), chain[0]);
        ProtocolSteps.Publish(chain + 1, in _context, 31, WorkFlags.Signaled, 0, 0, h, d);
        ProtocolSteps.LockVictim(chain, in _context, 31, WorkFlags.Signaled, 0, 0, h, d);
        Same(chain[0], chain[1]);
        // Orphaning a slow filler (ScalioClient.TryOrphan) is the same kind of CAS.
        ProtocolSteps.Orphan(chain + 1, in _context, 31, WorkFlags.Signaled, 0, 0, h, d);
        Same(chain[0], chain[1]);

        // Hit (ScalioClient.WriteStampUnsignaled): unsignaled 4-byte WRITE from the slot image's stamp field.
        Garbage(chain, 2);
        ProtocolSteps.Touch(chain, in _context, 40, WorkFlags.None, 3, 2);
        Same(WorkRequest.Write(40, _local.AddressOf(_slotBuf + SlotLayout.StampOffset), 4, _local.LocalKey,
            (ulong)(SlotOffset(3, 2) + SlotLayout.StampOffset), _cache.RemoteKey, WorkFlags.None), chain[0]);
    }

    private Completion PollOne()
    {
        Assert.True(_qp.SendQueue.TryPoll(out Completion wc), "expected a completion");
        Assert.False(_qp.SendQueue.TryPoll(out _), "only the last request of a chain is signaled");
        return wc;
    }

    private ref ulong ServerHeader(int bucket, int slot) => ref *(ulong*)(_cache.Address + SlotOffset(bucket, slot));

    private ulong AtomicResult => *(ulong*)(_local.Address + _atomicBuf);

    [Fact]
    public void Posting_generated_chains_on_the_loopback_fabric_runs_the_miss_protocol()
    {
        WorkRequest* chain = stackalloc WorkRequest[ProtocolSteps.MaxChainLength];
        const int bucket = 2, slot = 3;
        ulong free = SlotHeader.Make(SlotState.Free, 0, 0, 5);
        ServerHeader(bucket, slot) = free;
        DefaultKey key = DefaultKey.From("user000042"u8);
        ushort fp = DefaultSchema.Fingerprint(in key);

        // Lock the victim and re-read the bucket with one doorbell.
        ulong filling = SlotHeader.Next(free, SlotState.Filling, fp, 77);
        ulong id = ProtocolSteps.PostLockAndReread(_qp, chain, in _context, 100, bucket, slot, free, filling);
        Completion wc = PollOne();
        Assert.True(wc.IsSuccess, wc.Status.ToString());
        Assert.Equal(101UL, id);
        Assert.Equal(id, wc.Id);
        Assert.Equal(filling, ServerHeader(bucket, slot));
        Assert.Equal(free, AtomicResult);
        Assert.Equal(_cache.Slice(BucketsOffset + bucket * _layout.BucketSize, _layout.BucketSize).ToArray(), _local.Slice(_bucketBuf, _layout.BucketSize).ToArray());
        Assert.Equal(filling, _layout.HeaderAt(_local.Slice(_bucketBuf, _layout.BucketSize), slot)); // the fenced READ saw the CAS

        // Read the location entry.
        id = ProtocolSteps.PostReadLocation(_qp, chain, in _context, 200, 5);
        wc = PollOne();
        Assert.True(wc.IsSuccess && wc.Id == id);
        Assert.Equal(_index.Slice(5 * Location.EntrySize, Location.EntrySize).ToArray(), _local.Slice(_locationBuf, Location.EntrySize).ToArray());

        // Fill the slot body and publish it, one doorbell.
        DefaultValue value = default;
        new Random(9).NextBytes(value);
        ulong valid = SlotHeader.Next(filling, SlotState.Valid);
        ref DefaultSchema.Slot image = ref Unsafe.AsRef<DefaultSchema.Slot>(_local.Address + _slotBuf);
        DefaultSchema.WriteBody(ref image, in key, in value, SlotHeader.Version(valid), 1234);
        id = ProtocolSteps.PostFillAndPublish(_qp, chain, in _context, 300, bucket, slot, DefaultSchema.ValueCapacity, filling, valid);
        wc = PollOne();
        Assert.True(wc.IsSuccess && wc.Id == 301 && id == 301);
        Assert.Equal(valid, ServerHeader(bucket, slot));
        Assert.Equal(filling, AtomicResult);
        ReadOnlySpan<byte> serverSlot = _cache.Slice((int)SlotOffset(bucket, slot), _layout.SlotSize);
        Assert.True(_layout.Matches(serverSlot, DefaultSchema.KeyBytes(in key), valid, out bool torn) && !torn);
        Assert.True(DefaultSchema.TryReadValue(in DefaultSchema.SlotAt(_cache.Slice(BucketsOffset + bucket * _layout.BucketSize, _layout.BucketSize), slot), in key, valid, out DefaultValue read, out _));
        Assert.True(DefaultSchema.ValueEquals(in read, in value));
        // The slot next door is untouched by the body WRITE.
        Assert.NotEqual(valid, ServerHeader(bucket, slot + 1));

        // A hit's stamp WRITE changes the slot's 4 stamp bytes and nothing else of it.
        byte[] before = _cache.Slice((int)SlotOffset(bucket, slot), _layout.SlotSize).ToArray();
        *(uint*)(_local.Address + _slotBuf + SlotLayout.StampOffset) = 0xA1B2C3D4;
        id = ProtocolSteps.PostTouch(_qp, chain, in _context, 350, bucket, slot);
        wc = PollOne();
        Assert.True(wc.IsSuccess && wc.Id == id);
        byte[] after = _cache.Slice((int)SlotOffset(bucket, slot), _layout.SlotSize).ToArray();
        Assert.Equal(0xA1B2C3D4u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(after.AsSpan(SlotLayout.StampOffset)));
        before.AsSpan(SlotLayout.StampOffset, 4).CopyTo(after.AsSpan(SlotLayout.StampOffset));
        Assert.Equal(before, after);

        // A publish whose expected header is stale fails and reports what is there.
        ProtocolSteps.PostPublish(_qp, chain, in _context, 400, bucket, slot, filling, SlotHeader.Next(filling, SlotState.Valid));
        Assert.True(PollOne().IsSuccess);
        Assert.Equal(valid, ServerHeader(bucket, slot));
        Assert.Equal(valid, AtomicResult);

        // Release: back to FREE.
        ulong freed = SlotHeader.Next(valid, SlotState.Free, 0, 0);
        ProtocolSteps.PostRelease(_qp, chain, in _context, 500, bucket, slot, valid, freed);
        Assert.True(PollOne().IsSuccess);
        Assert.Equal(freed, ServerHeader(bucket, slot));
    }

    [Fact]
    public void A_bad_remote_key_fails_the_chain_like_a_hand_built_one()
    {
        WorkRequest* chain = stackalloc WorkRequest[ProtocolSteps.MaxChainLength];
        var wrongServer = _server with { CacheKey = _cache.RemoteKey + 1000 };
        var context = new StepContext(_local, _bucketBuf, _atomicBuf, _locationBuf, _slotBuf, wrongServer);
        ProtocolSteps.PostLockAndReread(_qp, chain, in context, 1, 0, 0, 0, 1);
        Assert.True(_qp.SendQueue.TryPoll(out Completion wc));
        Assert.Equal(CompletionStatus.RemoteAccessError, wc.Status);
        Assert.Equal(1UL, wc.Id); // errors complete even when unsignaled
    }

    [Theory]
    [InlineData(typeof(StepOperation))]
    [InlineData(typeof(StepBuffer))]
    [InlineData(typeof(StepTarget))]
    public void The_generator_reads_steps_with_the_runtime_s_own_vocabulary(Type declared)
    {
        // One declaration (Client/StepVocabulary.cs, linked into the generator): no mirror under another name may return.
        var generator = typeof(Scalio.Generators.Steps.StepsGenerator).Assembly;
        var matches = generator.GetTypes().Where(t => t.IsEnum && t.Name == declared.Name).ToList();
        Type same = Assert.Single(matches);
        Assert.Equal(declared.FullName, same.FullName);
        Assert.Equal(Enum.GetNames(declared), Enum.GetNames(same));
    }

    [Fact]
    public void Context_rejects_buffers_outside_the_region()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new StepContext(_local, 4000, _atomicBuf, _locationBuf, _slotBuf, _server));
        Assert.Throws<ArgumentException>(() => new StepContext(_local, _bucketBuf, _atomicBuf + 4, _locationBuf, _slotBuf, _server));
    }

    [Fact]
    public void Building_and_posting_chains_allocates_nothing()
    {
        WorkRequest* chain = stackalloc WorkRequest[ProtocolSteps.MaxChainLength];
        const int bucket = 1, slot = 6;
        ulong header = SlotHeader.Make(SlotState.Free, 0, 0, 1);
        ServerHeader(bucket, slot) = header;
        int failures = 0;
        ulong id = 1;

        long before = 0;
        for (int i = 0; i < 2200; i++)
        {
            if (i == 200) before = GC.GetAllocatedBytesForCurrentThread(); // after warm-up
            ulong locked = SlotHeader.Next(header, SlotState.Filling, 0x5a5a, 1);
            ProtocolSteps.PostLockAndReread(_qp, chain, in _context, id, bucket, slot, header, locked);
            id += ProtocolSteps.LockAndRereadLength;
            if (!_qp.SendQueue.TryPoll(out Completion wc) || !wc.IsSuccess || AtomicResult != header) failures++;
            ulong valid = SlotHeader.Next(locked, SlotState.Valid);
            ProtocolSteps.PostFillAndPublish(_qp, chain, in _context, id, bucket, slot, 64, locked, valid);
            id += ProtocolSteps.FillAndPublishLength;
            if (!_qp.SendQueue.TryPoll(out wc) || !wc.IsSuccess || AtomicResult != locked) failures++;
            ulong freed = SlotHeader.Next(valid, SlotState.Free, 0, 0);
            ProtocolSteps.PostRelease(_qp, chain, in _context, id++, bucket, slot, valid, freed);
            if (!_qp.SendQueue.TryPoll(out wc) || !wc.IsSuccess) failures++;
            header = freed;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, failures);
        Assert.Equal(0, allocated);
        Assert.Equal(header, ServerHeader(bucket, slot));
        Assert.Equal(2200U * 3, SlotHeader.Version(header) - 1);
    }
}
