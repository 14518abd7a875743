using System.Diagnostics.Metrics;
using Scalio.Fast.Client;
using Scalio.Fast.Remote;

namespace Scalio.Fast.Diagnostics;

/// <summary>
/// The clients of one store (embedded or remote) as <see cref="System.Diagnostics.Metrics"/> instruments on the meter
/// <see cref="MeterName"/>, for OpenTelemetry (<c>AddMeter("Scalio.Fast.Client")</c>) or <c>dotnet-counters</c>.
/// The counters are observable: a collection sums the counters every client already keeps (closed clients included),
/// so an operation pays nothing for them. Two histograms are recorded by the clients themselves, only while a
/// listener enables them, without allocating: the duration of one operation in 16 per client, and each batch's size.
/// </summary>
/// <remarks>
/// Instruments (name, unit, tags): <c>scalio.client.operations</c> ({operation}; op = get, put, delete; status = ok,
/// not_found, timeout, unavailable, ...), <c>scalio.client.cache.lookups</c> ({get}; result = hit, miss),
/// <c>scalio.client.round_trips</c> ({round_trip}), <c>scalio.client.io</c> (By), <c>scalio.client.offloaded_reads</c>
/// ({read}), <c>scalio.client.contention</c> ({event}; kind = torn_retry, lock_conflict, fill_wait, reclaim),
/// <c>scalio.client.batches</c> ({batch}), <c>scalio.client.batched_gets</c> ({get}), <c>scalio.client.reconnects</c>
/// ({reconnect}; remote stores only), all counters; the histograms <c>scalio.client.operation.duration</c> (s; op,
/// status) and <c>scalio.client.batch.size</c> ({get}).
/// </remarks>
public sealed class ScalioClientMetrics : IDisposable
{
    /// <summary>Name of the meter the instruments are published on.</summary>
    public const string MeterName = "Scalio.Fast.Client";

    private static readonly ClientOperation[] s_ops = [ClientOperation.Get, ClientOperation.Put, ClientOperation.Delete];
    private readonly Meter _meter;
    private readonly Func<ClientCounters> _read;

    /// <summary>Publishes the instruments of the clients of the embedded <paramref name="store"/>.</summary>
    public ScalioClientMetrics(ScalioStore store)
        : this(ReaderOf(store), reconnects: null)
    {
    }

    /// <summary>Publishes the instruments of the sessions of the remote <paramref name="store"/>, and its reconnections.</summary>
    public ScalioClientMetrics(RemoteScalioStore store)
        : this(ReaderOf(store), ReconnectsOf(store))
    {
    }

    private static Func<ClientCounters> ReaderOf(ScalioStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return () => store.ReadCounters().Clients;
    }

    private static Func<ClientCounters> ReaderOf(RemoteScalioStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.ReadCounters;
    }

    private static Func<long> ReconnectsOf(RemoteScalioStore store) => () => store.Reconnects;

    private ScalioClientMetrics(Func<ClientCounters> read, Func<long>? reconnects)
    {
        _read = read;
        _meter = new Meter(new MeterOptions(MeterName)
        {
            Version = typeof(ScalioClientMetrics).Assembly.GetName().Version?.ToString(),
            // Two stores in one process publish the same instruments: this tag keeps their series apart.
            Tags = [new("scalio.instance", Interlocked.Increment(ref MeterInstances.Count).ToString(System.Globalization.CultureInfo.InvariantCulture))],
        });

        // Tag sets are built once: a collection then allocates only its measurements.
        var outcomeTags = new KeyValuePair<string, object?>[3][][];
        for (int o = 0; o < 3; o++)
        {
            outcomeTags[o] = new KeyValuePair<string, object?>[16][];
            for (int st = 0; st < 16; st++)
                outcomeTags[o][st] = [ClientInstruments.OpTag(s_ops[o]), ClientInstruments.StatusTag((OpStatus)st)];
        }
        _meter.CreateObservableCounter("scalio.client.operations", () =>
        {
            var c = _read();
            var list = new List<Measurement<long>>(8);
            for (int o = 0; o < 3; o++)
            {
                for (int st = 0; st < 16; st++)
                {
                    long v = c.Completed(s_ops[o], (OpStatus)st);
                    // A series appears with its first operation (counts never fall back to zero); ok always reports.
                    if (v > 0 || st == (int)OpStatus.Ok) list.Add(new Measurement<long>(v, outcomeTags[o][st]));
                }
            }
            return list;
        }, "{operation}", "Client operations completed, by operation and returned status");

        KeyValuePair<string, object?>[] hit = [new("result", "hit")], miss = [new("result", "miss")];
        _meter.CreateObservableCounter("scalio.client.cache.lookups", () =>
        {
            var c = _read();
            return new Measurement<long>[] { new(c.Hits, hit), new(c.Gets - c.Hits, miss) };
        }, "{get}", "GETs by cache result: hit (one READ of the bucket) or miss (location index and SSD through the offload target)");
        _meter.CreateObservableCounter("scalio.client.round_trips", () => _read().RoundTrips, "{round_trip}",
            "Network round trips of the clients (a chain posted with one doorbell counts once per request)");
        _meter.CreateObservableCounter("scalio.client.io", () => _read().BytesMoved, "By", "Bytes the clients moved over the fabric");
        _meter.CreateObservableCounter("scalio.client.offloaded_reads", () => _read().OffloadedReads, "{read}",
            "NVMe-oF reads of the SSDs through the offload target (misses)");
        KeyValuePair<string, object?>[] torn = [new("kind", "torn_retry")], conflict = [new("kind", "lock_conflict")],
            wait = [new("kind", "fill_wait")], reclaim = [new("kind", "reclaim")];
        _meter.CreateObservableCounter("scalio.client.contention", () =>
        {
            var c = _read();
            return new Measurement<long>[] { new(c.TornRetries, torn), new(c.LockConflicts, conflict), new(c.FillWaits, wait), new(c.Reclaims, reclaim) };
        }, "{event}", "Contention between clients: torn bucket reads retried, slot locks lost, waits on another client's fill, expired slots reclaimed");
        _meter.CreateObservableCounter("scalio.client.batches", () => _read().Batches, "{batch}", "GET batches run");
        _meter.CreateObservableCounter("scalio.client.batched_gets", () => _read().BatchedGets, "{get}", "GETs run in batches");
        if (reconnects is not null)
            _meter.CreateObservableCounter("scalio.client.reconnects", reconnects, "{reconnect}", "Client sessions re-established after their server connection was lost");
    }

    /// <summary>The meter (named <see cref="MeterName"/>) of the observable instruments; the histograms are on another
    /// meter of the same name, shared by every client of the process.</summary>
    public Meter Meter => _meter;

    /// <summary>Unpublishes the observable instruments.</summary>
    public void Dispose() => _meter.Dispose();
}
