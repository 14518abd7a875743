using System.Diagnostics.Metrics;
using Scalio.Fast.OffloadTcp;
using Scalio.Fast.Rpc;
using Scalio.Nvme;

namespace Scalio.Fast.Diagnostics;

/// <summary>
/// A server's counters as <see cref="System.Diagnostics.Metrics"/> instruments on the meter <see cref="MeterName"/>,
/// for OpenTelemetry (<c>AddMeter("Scalio.Fast.Server")</c>), <c>dotnet-counters</c> or <c>scalio server --metrics</c>.
/// Every instrument is observable: it reads a counter the server, its devices or its emulated NIC already keep, only
/// when a listener collects, so the request path pays nothing for it.
/// </summary>
/// <remarks>
/// Instruments (name, unit, tags): <c>scalio.server.requests</c> ({request}; op = put, delete, get, invalid),
/// <c>scalio.server.cpu.time</c> (s), <c>scalio.server.batches</c> ({batch}), <c>scalio.server.invalidations</c> ({slot}),
/// <c>scalio.server.cleaner.relocations</c> ({block}), <c>scalio.server.checkpoints</c> ({checkpoint}),
/// <c>scalio.server.corrupt_blocks</c> ({block}), <c>scalio.server.connections</c> ({connection}; event = accepted,
/// refused, disconnected), <c>scalio.ssd.operations</c> ({operation}; device, op = read, write, flush),
/// <c>scalio.ssd.io</c> (By; device, op = read, write), <c>scalio.nic.commands</c> ({command}),
/// <c>scalio.nic.time</c> (s), <c>scalio.fabric.progress.cpu.time</c> (s, libfabric servers), all counters; and the gauge
/// <c>scalio.cache.slots</c> ({slot}).
/// </remarks>
public sealed class ScalioServerMetrics : IDisposable
{
    /// <summary>Name of the meter the instruments are published on.</summary>
    public const string MeterName = "Scalio.Fast.Server";

    private readonly Meter _meter;

    /// <summary>Publishes the instruments of <paramref name="store"/>'s server and devices, and of its NIC.</summary>
    /// <param name="store">The store whose server is measured.</param>
    /// <param name="nic">The NVMe/TCP emulated NIC serving clients of other processes; null: the store's in-process
    /// offload target (embedded clients) is measured instead.</param>
    public ScalioServerMetrics(ScalioStore store, StoreOffloadTarget? nic = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var server = store.Server;
        var devices = server.Devices;
        _meter = new Meter(new MeterOptions(MeterName)
        {
            Version = typeof(ScalioServerMetrics).Assembly.GetName().Version?.ToString(),
            // Two stores in one process publish the same instruments: this tag keeps their series apart.
            Tags = [new("scalio.instance", Interlocked.Increment(ref MeterInstances.Count).ToString(System.Globalization.CultureInfo.InvariantCulture))],
        });

        // Tag sets are built once: a collection then allocates only its measurements.
        KeyValuePair<string, object?>[] put = [new("op", "put")], delete = [new("op", "delete")], get = [new("op", "get")], invalid = [new("op", "invalid")];
        _meter.CreateObservableCounter("scalio.server.requests", () => new Measurement<long>[]
        {
            new(server.RequestsOf(RpcOp.Put), put), new(server.RequestsOf(RpcOp.Delete), delete),
            new(server.RequestsOf(RpcOp.Get), get), new(server.BadRequests, invalid),
        }, "{request}", "Requests handled by the server's worker threads (two-sided), by operation; Scalio GETs are one-sided and never reach them");
        _meter.CreateObservableCounter("scalio.server.cpu.time", () => server.BusyNanoseconds / 1e9, "s",
            "CPU time of the server's worker threads handling requests and committing batches (thread CPU clock)");
        _meter.CreateObservableCounter("scalio.server.batches", () => server.BatchesCommitted, "{batch}", "Write batches committed to the SSDs");
        _meter.CreateObservableCounter("scalio.server.invalidations", () => server.Invalidations, "{slot}", "Cache slots invalidated by writes");
        _meter.CreateObservableCounter("scalio.server.cleaner.relocations", () => server.Relocations, "{block}", "Live blocks moved by the log cleaner");
        _meter.CreateObservableCounter("scalio.server.checkpoints", () => server.Checkpoints, "{checkpoint}", "Location-index checkpoints written");
        _meter.CreateObservableCounter("scalio.server.corrupt_blocks", () => server.CorruptBlocks, "{block}", "Blocks the server found failing their checksum");
        KeyValuePair<string, object?>[] accepted = [new("event", "accepted")], refused = [new("event", "refused")], disconnected = [new("event", "disconnected")];
        _meter.CreateObservableCounter("scalio.server.connections", () => new Measurement<long>[]
        {
            new(server.RemoteClientsAccepted, accepted), new(server.RemoteClientsRefused, refused), new(server.RemoteClientsDisconnected, disconnected),
        }, "{connection}", "Client connections of other processes, by event");

        var opTags = new KeyValuePair<string, object?>[devices.Count][][];
        for (int d = 0; d < devices.Count; d++)
        {
            string id = d.ToString(System.Globalization.CultureInfo.InvariantCulture);
            opTags[d] = [[new("device", id), new("op", "read")], [new("device", id), new("op", "write")], [new("device", id), new("op", "flush")]];
        }
        _meter.CreateObservableCounter("scalio.ssd.operations", () => Each(devices, opTags, static (ns, i) => i switch
        {
            0 => ns.ReadCount,
            1 => ns.WriteCount,
            _ => ns.FlushCount,
        }), "{operation}", "Successful SSD commands per device (server writes and reads, and the reads of clients' misses at the NIC)");
        _meter.CreateObservableCounter("scalio.ssd.io", () => Each(devices, opTags, static (ns, i) => i switch
        {
            0 => ns.BytesRead,
            1 => ns.BytesWritten,
            _ => -1,
        }), "By", "Bytes moved by successful SSD reads and writes per device");

        if (nic is not null)
        {
            _meter.CreateObservableCounter("scalio.nic.commands", () => nic.Commands, "{command}", "NVMe commands the emulated NIC (NVMe/TCP offload target) executed");
            _meter.CreateObservableCounter("scalio.nic.time", () => nic.BusyNanoseconds / 1e9, "s", "CPU time of the emulated NIC (a MODEL of offload hardware; not server CPU)");
        }
        else
        {
            var target = store.OffloadTarget;
            _meter.CreateObservableCounter("scalio.nic.commands", () => target.Commands, "{command}", "NVMe commands the emulated offload target executed for in-process clients");
            _meter.CreateObservableCounter("scalio.nic.time", () => target.BusyNanoseconds / 1e9, "s", "CPU time of the emulated offload target (a MODEL of offload hardware; not server CPU)");
        }
        if (server.Domain.HasProgressThread)
        {
            var fabric = server.Domain;
            _meter.CreateObservableCounter("scalio.fabric.progress.cpu.time", () => Math.Max(0, fabric.ProgressThreadCpuNanoseconds) / 1e9, "s",
                "CPU time of the libfabric progress thread, which serves clients' one-sided READs and atomics");
        }
        _meter.CreateObservableGauge("scalio.cache.slots", () => (long)store.CacheSlots, "{slot}", "Slots of the DRAM cache");
    }

    /// <summary>The meter (named <see cref="MeterName"/>).</summary>
    public Meter Meter => _meter;

    /// <summary>One measurement per device and kind, skipping kinds the reader has no value for (-1).</summary>
    private static List<Measurement<long>> Each(IReadOnlyList<NvmeNamespace> devices, KeyValuePair<string, object?>[][][] tags, Func<NvmeNamespace, int, long> read)
    {
        var list = new List<Measurement<long>>(devices.Count * 3);
        for (int d = 0; d < devices.Count; d++)
        {
            for (int k = 0; k < 3; k++)
            {
                long v = read(devices[d], k);
                if (v >= 0) list.Add(new Measurement<long>(v, tags[d][k]));
            }
        }
        return list;
    }

    /// <summary>Unpublishes the instruments.</summary>
    public void Dispose() => _meter.Dispose();
}
