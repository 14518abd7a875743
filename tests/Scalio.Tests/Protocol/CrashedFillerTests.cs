using System.Diagnostics;
using System.Text;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Verbs;

namespace Scalio.Tests.Protocol;

/// <summary>A filler that dies (or stalls past its lease) while its slot is FILLING.</summary>
public class CrashedFillerTests
{
    private const int LeaseMs = 100;

    /// <summary>Kills or stalls one thread at its next fill body WRITE into the cache; watches its publish CAS.</summary>
    private sealed unsafe class FillerFaults : LoopbackFaults, IDisposable
    {
        public uint CacheKey;
        public volatile int Thread = -1;
        public bool Stall;
        public readonly ManualResetEventSlim Stalled = new(), Resume = new();
        public volatile int CasThread = -1;
        public bool? LateCasSucceeded;

        public void Dispose()
        {
            Stalled.Dispose();
            Resume.Dispose();
        }

        public override void BeforeExecute(uint queuePairNumber, in WorkRequest request)
        {
            if (request.RemoteKey != CacheKey || request.Opcode != WorkOpcode.Write || request.Length <= 8) return;
            if (Environment.CurrentManagedThreadId != Thread) return;
            Thread = -1;
            if (!Stall) throw new LoopbackCrashException("test: filler killed before writing its slot");
            Stalled.Set();
            Assert.True(Resume.Wait(TimeSpan.FromSeconds(20)), "the stalled filler was never resumed");
            CasThread = Environment.CurrentManagedThreadId;
        }

        public override void BeforeCompletion(uint queuePairNumber, in WorkRequest request)
        {
            if (request.Opcode != WorkOpcode.CompareSwap || Environment.CurrentManagedThreadId != CasThread) return;
            CasThread = -1;
            LateCasSucceeded = *(ulong*)request.LocalAddress == request.CompareAdd; // the old value landed locally
        }
    }

    private static (ScalioStore Store, FillerFaults Faults) Open()
    {
        var faults = new FillerFaults();
        var store = new ScalioStore(new ScalioStoreOptions
        {
            ExpectedRecords = 1000,
            CacheBuckets = 1,
            LeaseMilliseconds = LeaseMs,
            // Readers wait for the lease instead of bypassing the filler, so the reclaim path is what serves them.
            Client = new ScalioClientOptions { FillWaitMicroseconds = 20_000_000 },
            Fabric = new LoopbackOptions { Faults = faults },
        });
        faults.CacheKey = store.Server.CacheRegion.RemoteKey;
        return (store, faults);
    }

    private static byte[] V(string s) => Encoding.ASCII.GetBytes(s.PadRight(64, '.'));

    [Fact]
    public void A_killed_fillers_slot_is_reclaimed_after_the_lease_and_the_key_is_readable_again()
    {
        var (store, faults) = Open();
        using var owner = store;
        using var faultsOwner = faults;
        var key = Encoding.ASCII.GetBytes("crash-key");
        var dead = store.OpenClient();
        using var reader = store.OpenClient();
        Assert.Equal(OpStatus.Ok, reader.Put(key, V("one")));

        faults.Thread = Environment.CurrentManagedThreadId;
        var sw = Stopwatch.StartNew(); // before the lock: the reclaim cannot come earlier than a lease after this
        Assert.Throws<LoopbackCrashException>(() => dead.Get(key, new byte[64], out _));
        var stuck = CacheScan.Read(store, 0, 0);
        Assert.Equal(SlotState.Filling, stuck.State); // abandoned mid-fill, forever

        var buf = new byte[64];
        Assert.Equal(OpStatus.Ok, reader.Get(key, buf, out _));
        Assert.Equal(V("one"), buf);
        Assert.True(sw.ElapsedMilliseconds >= LeaseMs, $"served after {sw.ElapsedMilliseconds} ms, before the lease ran out");
        Assert.True(reader.Counters.Reclaims >= 1);
        Assert.True(SlotHeader.Version(CacheScan.Header(store, 0, 0)) > SlotHeader.Version(stuck.Header));

        long hits = reader.Counters.Hits;
        Assert.Equal(OpStatus.Ok, reader.Get(key, buf, out _)); // cached again
        Assert.Equal(hits + 1, reader.Counters.Hits);
    }

    [Fact]
    public void A_filler_that_wakes_after_its_slot_was_reclaimed_cannot_publish_and_its_late_write_is_never_read()
    {
        var (store, faults) = Open();
        using var owner = store;
        using var faultsOwner = faults;
        var key = Encoding.ASCII.GetBytes("late-key");
        using var late = store.OpenClient();
        using var other = store.OpenClient();
        using var third = store.OpenClient();
        Assert.Equal(OpStatus.Ok, other.Put(key, V("old")));

        faults.Stall = true;
        OpStatus lateStatus = OpStatus.Timeout;
        var lateValue = new byte[64];
        var thread = new Thread(() =>
        {
            faults.Thread = Environment.CurrentManagedThreadId;
            lateStatus = late.Get(key, lateValue, out _);
        });
        thread.Start();
        Assert.True(faults.Stalled.Wait(TimeSpan.FromSeconds(10)), "the filler never reached its fill");

        // The filler is stuck past its lease: another client reclaims the slot, a put replaces the value, and the
        // new value is cached (in the same slot, the bucket's first FREE one).
        var buf = new byte[64];
        Assert.Equal(OpStatus.Ok, other.Get(key, buf, out _));
        Assert.Equal(V("old"), buf);
        Assert.True(other.Counters.Reclaims >= 1);
        Assert.Equal(OpStatus.Ok, other.Put(key, V("new")));
        Assert.Equal(OpStatus.Ok, other.Get(key, buf, out _));
        Assert.Equal(V("new"), buf);
        Assert.Equal("late-key", CacheScan.Read(store, 0, 0).Key);

        // The filler wakes: its body WRITE lands on the slot (RDMA WRITEs are unconditional), its CAS must fail.
        faults.Resume.Set();
        Assert.True(thread.Join(TimeSpan.FromSeconds(20)));
        Assert.Equal(OpStatus.Ok, lateStatus);
        Assert.Equal(V("old"), lateValue); // what it read before the put: still a linearizable answer for its GET
        Assert.False(faults.LateCasSucceeded ?? true, "the late publish CAS was not observed or succeeded");
        var slot = CacheScan.Read(store, 0, 0);
        Assert.Equal(SlotState.Valid, slot.State);
        Assert.Equal("old".PadRight(64, '.'), slot.Value); // the stale body is there...
        Assert.False(slot.ChecksumOk);                     // ...but can never verify under the slot's version

        // Readers never return it: they see a torn slot, then free it and refill from the SSD.
        Assert.Equal(OpStatus.Ok, third.Get(key, buf, out _));
        Assert.Equal(V("new"), buf);
        Assert.True(third.Counters.StaleBodiesFreed >= 1);
        Assert.Equal(OpStatus.Ok, third.Get(key, buf, out _));
        Assert.Equal(V("new"), buf);
    }
}
