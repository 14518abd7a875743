using System.Diagnostics.Metrics;
using Scalio.Fast.Diagnostics;
using Scalio.Fast;
using Scalio.Fast.Rpc;

namespace Scalio.Tests.Gate;

/// <summary>
/// The allocation gate with the server's and the clients' meters subscribed: a MeterListener has every Scalio instrument
/// enabled while PUTs and GETs run, and they still allocate nothing (the counters are observable: collection reads
/// counters, the request path only bumps them; the sampled duration histogram records with struct tags).
/// </summary>
[Collection(GateCollection.Name)]
public sealed class MetricsAllocationGateTests
{
    [Fact]
    public void Put_and_get_allocate_nothing_while_the_meter_is_subscribed()
    {
        using var rig = new HotPathRig();
        using var metrics = new ScalioServerMetrics(rig.Store);
        using var clientMetrics = new ScalioClientMetrics(rig.Store);
        using var listener = new MeterListener();
        int enabled = 0;
        long puts = 0, timed = 0, clientPuts = 0;
        listener.InstrumentPublished = (i, l) =>
        {
            // The clients' histograms are on the process-wide meter of the same name: enabled too, so sampled timing runs.
            if (i.Meter == metrics.Meter || i.Meter.Name == ScalioClientMetrics.MeterName)
            {
                l.EnableMeasurementEvents(i);
                enabled++;
            }
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
        {
            if (i.Name == "scalio.server.requests" && tags.Length == 1 && (string?)tags[0].Value == "put") puts = v;
            if (i.Name == "scalio.client.operations" && (string?)tags[0].Value == "put" && (string?)tags[1].Value == "ok") clientPuts = v;
        });
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) =>
        {
            if (i.Name == "scalio.client.operation.duration" && v > 0) timed++;
        });
        listener.Start();
        Assert.True(enabled >= 20, $"{enabled} instruments enabled");

        int bad = 0;
        AllocationGate.AssertAllocationFree("PUT with the meter subscribed", () => { if (rig.Put() != OpStatus.Ok) bad++; }, AllocationScope.Process);
        AllocationGate.AssertAllocationFree("GET hit with the meter subscribed", () => { if (rig.GetHit() != OpStatus.Ok) bad++; }, AllocationScope.Process);
        Assert.Equal(0, bad);

        listener.RecordObservableInstruments();
        Assert.True(puts > 0, "the meter saw no PUT"); // the counter the gate ran under is the one collected
        Assert.Equal(rig.Store.Server.RequestsOf(RpcOp.Put), puts);
        Assert.True(timed > 0, "no operation was timed while the duration histogram was enabled");
        Assert.True(clientPuts > 0, "the client meter saw no PUT");
    }
}
