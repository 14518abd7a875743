using Scalio.Fast;

namespace Scalio.Tests.Gate;

/// <summary>
/// The allocation gate in CI: every hot-path step, and whole GET hit / GET miss with fill / PUT, allocates nothing.
/// Steps that hand work to other threads (fabric, offload target, server workers) are counted process-wide.
/// </summary>
[Collection(GateCollection.Name)]
public sealed class HotPathAllocationGateTests : IClassFixture<HotPathAllocationGateTests.RigFixture>
{
    /// <summary>One rig for all gate tests of this class.</summary>
    public sealed class RigFixture : IDisposable
    {
        internal HotPathRig Rig { get; } = new();

        /// <inheritdoc />
        public void Dispose() => Rig.Dispose();
    }

    private readonly HotPathRig _rig;

    /// <summary>Takes the shared rig.</summary>
    public HotPathAllocationGateTests(RigFixture fixture) => _rig = fixture.Rig;

    private void Gate(string step, Action op, AllocationScope scope)
    {
        long failuresBefore = _rig.Failures;
        AllocationGate.AssertAllocationFree(step, op, scope);
        Assert.True(_rig.Failures == failuresBefore, $"step '{step}' reported {_rig.Failures - failuresBefore} wrong results");
    }

    [Fact]
    public void Block_fetch_allocates_nothing()
    {
        int valid = 0;
        Gate("block fetch (RDMA READ of a bucket + header scan)", () => valid += _rig.FetchBlock(), AllocationScope.Process);
        Assert.True(valid > 0, "the fetched buckets held no VALID slot");
    }

    [Fact]
    public void Victim_pick_allocates_nothing()
    {
        _rig.FetchBlock();
        int picked = 0;
        Gate("victim pick (sampled LRU)", () => picked |= 1 << _rig.PickVictim(), AllocationScope.CurrentThread);
        Assert.True(picked != 0);
    }

    [Fact]
    public void Cas_lock_allocates_nothing()
        => Gate("CAS lock (CAS to FILLING + re-read, release CAS)", _rig.LockVictim, AllocationScope.Process);

    [Fact]
    public void Offloaded_read_allocates_nothing()
        => Gate("offloaded read (NVMe-oF READ via target offload)", _rig.OffloadedRead, AllocationScope.Process);

    [Fact]
    public void Rdma_fill_allocates_nothing()
        => Gate("RDMA fill (WRITE slot body + publishing CAS)", _rig.RdmaFill, AllocationScope.Process);

    [Fact]
    public void Batched_write_allocates_nothing()
    {
        long before = _rig.BatchesCommitted;
        // 8 PUTs per batch; enough batches that the log wraps and the cleaner and a checkpoint run inside the count.
        Gate("batched write (8 PUTs, one FUA log write)", _rig.BatchedWrite, AllocationScope.CurrentThread);
        Assert.True(_rig.BatchesCommitted - before >= 1700, $"only {_rig.BatchesCommitted - before} batches committed");
    }

    [Fact]
    public void Get_hit_allocates_nothing()
    {
        long hits = _rig.Client.Counters.Hits;
        int bad = 0;
        Gate("GET hit", () => { if (_rig.GetHit() != OpStatus.Ok) bad++; }, AllocationScope.Process);
        Assert.Equal(0, bad);
        Assert.True(_rig.Client.Counters.Hits - hits >= 500, "expected cache hits");
    }

    [Fact]
    public void Get_miss_with_fill_allocates_nothing()
    {
        long fills = _rig.Client.Counters.Fills;
        int bad = 0;
        Gate("GET miss with fill", () => { if (_rig.GetMissWithFill() != OpStatus.Ok) bad++; }, AllocationScope.Process);
        Assert.Equal(0, bad);
        Assert.True(_rig.Client.Counters.Fills - fills >= 500, "expected misses with fills");
    }

    [Fact]
    public void Batched_get_allocates_nothing()
    {
        using var batch = _rig.Client.CreateGetBatch(16); // creating a batch allocates; running one must not
        long fills = _rig.Client.Counters.Fills, hits = 0;
        int bad = 0, next = 0;
        Gate("batched GET (16 keys: hits and misses with fill)", () =>
        {
            batch.Clear();
            batch.Add(_rig.Key(0));
            for (int j = 1; j < batch.Capacity; j++) batch.Add(_rig.Key(next = (next + 1) & (HotPathRig.KeyCount - 1)));
            _rig.Client.Get(batch);
            for (int j = 0; j < batch.Count; j++) if (batch.StatusAt(j) != OpStatus.Ok) bad++;
            hits += batch.HitCount;
        }, AllocationScope.Process);
        Assert.Equal(0, bad);
        Assert.True(hits > 0 && _rig.Client.Counters.Fills - fills >= 500, $"expected hits and fills: {hits} hits, {_rig.Client.Counters.Fills - fills} fills");
    }

    [Fact]
    public void Put_allocates_nothing()
    {
        int bad = 0;
        Gate("PUT", () => { if (_rig.Put() != OpStatus.Ok) bad++; }, AllocationScope.Process);
        Assert.Equal(0, bad);
    }
}
