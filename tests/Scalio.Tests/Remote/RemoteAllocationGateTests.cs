using System.Net;
using Scalio.Fast;
using Scalio.Fast.OffloadTcp;
using Scalio.Fast.Remote;
using Scalio.Fast.Server;
using Scalio.Tests.Gate;
using Scalio.Tests.Libfabric;
using Scalio.Verbs.Libfabric;

namespace Scalio.Tests.Remote;

/// <summary>
/// The allocation gate on the remote client: a GET hit, a PUT, a GET miss (NVMe/TCP read, fill) and a batch of GETs through <see cref="RemoteScalioClient"/> over
/// tcp;ofi_rxm allocate nothing, counted process-wide (the libfabric progress threads, the server's workers and the
/// offload target all run in this process here).
/// </summary>
[Collection(GateCollection.Name)]
public sealed class RemoteAllocationGateTests
{
    [LibfabricFact]
    public void Remote_get_hit_and_put_allocate_nothing()
    {
        string dir = Path.Combine(Path.GetTempPath(), "scalio-remote-gate-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            using var fabric = LibfabricFabric.Open(new LibfabricOptions { Provider = "tcp" });
            using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, DataDirectory = dir, ServerDomain = fabric.CreateDomain() });
            using var target = StoreOffloadTarget.Open(dir, new StoreOffloadTargetOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), Threads = 1 });
            var endPoint = store.Server.Listen(new IPEndPoint(IPAddress.Loopback, 0), new OffloadTargetEndpoint("127.0.0.1", target.Endpoint.Port, target.SubsystemNqn));
            using var remote = RemoteScalioStore.Connect(endPoint);
            using var client = remote.OpenClient();
            byte[] key = "gate-key-0000001"u8.ToArray(), value = new byte[64], read = new byte[64];
            Assert.Equal(OpStatus.Ok, client.Put(key, value));
            Assert.Equal(OpStatus.Ok, client.Get(key, read, out _)); // fills the slot: later GETs hit
            long failures = 0;
            AllocationGate.AssertAllocationFree("remote GET hit", () =>
            {
                if (client.Get(key, read, out _) != OpStatus.Ok) failures++;
            }, AllocationScope.Process, operations: 200, warmup: 100);
            AllocationGate.AssertAllocationFree("remote PUT", () =>
            {
                if (client.Put(key, value) != OpStatus.Ok) failures++;
            }, AllocationScope.Process, operations: 50, warmup: 50);
            long offloadedBefore = remote.ReadCounters().OffloadedReads;
            AllocationGate.AssertAllocationFree("remote PUT, then GET miss filled over NVMe/TCP", () =>
            {
                if (client.Put(key, value) != OpStatus.Ok || client.Get(key, read, out _) != OpStatus.Ok) failures++;
            }, AllocationScope.Process, operations: 30, warmup: 30);
            Assert.True(remote.ReadCounters().OffloadedReads - offloadedBefore >= 30, "the GETs after a PUT should miss and read the offload target");

            // A batch of 8 keys, 4 of them just rewritten (misses: phased locks and publishes, queued NVMe/TCP reads).
            var keys = new byte[8][];
            for (int i = 0; i < keys.Length; i++)
            {
                keys[i] = System.Text.Encoding.ASCII.GetBytes($"gate-batch-{i:D5}");
                Assert.Equal(OpStatus.Ok, client.Put(keys[i], value));
            }
            offloadedBefore = remote.ReadCounters().OffloadedReads;
            AllocationGate.AssertAllocationFree("remote batch of 8 GETs, 4 misses", () =>
            {
                for (int i = 0; i < 4; i++)
                    if (client.Put(keys[i], value) != OpStatus.Ok) failures++;
                var batch = client.BeginBatch();
                if (batch is null) { failures++; return; }
                for (int i = 0; i < keys.Length; i++) batch.Add(keys[i]);
                if (client.Get(batch) != OpStatus.Ok) failures++;
                for (int i = 0; i < keys.Length; i++)
                    if (batch.StatusAt(i) != OpStatus.Ok) failures++;
            }, AllocationScope.Process, operations: 20, warmup: 20);
            Assert.True(remote.ReadCounters().OffloadedReads - offloadedBefore >= 4 * 20, "the rewritten keys of each batch should miss");
            Assert.Equal(0, failures);
            Assert.True(client.IsConnected);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
