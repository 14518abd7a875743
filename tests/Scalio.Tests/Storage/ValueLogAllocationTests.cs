using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Client;
using Scalio.Tests.Gate;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Storage;

/// <summary>The allocation gate on the value-log paths: a GET miss on a large record (two offloaded reads) and a PUT
/// of a 4096-byte value (value record + block in one batch write, with the cleaner moving records as the log laps).</summary>
[Collection(GateCollection.Name)]
public sealed class ValueLogAllocationTests : IDisposable
{
    private const int Keys = 64;
    private readonly ScalioStore _store;
    private readonly ScalioClient _client;
    private readonly byte[][] _keys = new byte[Keys][];
    private readonly byte[] _value = ValueLogTests.BigValue("gate", 1, 4096);
    private readonly byte[] _buffer = new byte[4096];
    private int _next, _failures;

    /// <summary>A store with 4096-byte values and a 4-slot cache, every key loaded.</summary>
    public ValueLogAllocationTests()
    {
        _store = new ScalioStore(new ScalioStoreOptions { Layout = new SlotLayout(16, 4096, 4), ExpectedRecords = 200, CacheBuckets = 1 });
        _client = _store.OpenClient();
        for (int i = 0; i < Keys; i++)
        {
            _keys[i] = Key($"gate-key-{i:D5}");
            Assert.Equal(OpStatus.Ok, _client.Put(_keys[i], _value));
        }
    }

    [Fact]
    public void Get_miss_on_a_value_log_record_allocates_nothing()
    {
        long valueReads = _client.Counters.ValueLogReads;
        AllocationGate.AssertAllocationFree("GET miss on a value-log record (block + record, both offloaded)", () =>
        {
            if (_client.Get(_keys[_next = (_next + 1) % Keys], _buffer, out int n) != OpStatus.Ok || n != 4096) _failures++;
        }, AllocationScope.Process);
        Assert.Equal(0, _failures);
        Assert.True(_client.Counters.ValueLogReads - valueReads > 100, "the GETs did not read the value log");
    }

    [Fact]
    public void Put_of_a_large_value_allocates_nothing()
    {
        var log = _store.Server.Store.Logs[0];
        long records = log.ValueRecords;
        AllocationGate.AssertAllocationFree("PUT of a 4096-byte value (value record + block, cleaner)", () =>
        {
            if (_client.Put(_keys[_next = (_next + 1) % Keys], _value) != OpStatus.Ok) _failures++;
        }, AllocationScope.Process);
        Assert.Equal(0, _failures);
        Assert.True(log.ValueRecords - records > 100);
    }

    /// <summary>Stops the store.</summary>
    public void Dispose() => _store.Dispose();
}
