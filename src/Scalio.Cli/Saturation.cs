using System.Diagnostics;
using Scalio.Fast;
using Scalio.Fast.Rpc;
using Scalio.Verbs;
using Scalio.Ycsb;

namespace Scalio.Cli;

/// <summary>What a server costs per request when it never waits for work (DESIGN.md "Reproducing the figures").</summary>
/// <param name="Kind">"put" (updates of loaded records) or "get" (reads of uniformly chosen loaded records: with a
/// cache of a tenth of the records most of them miss).</param>
/// <param name="Operations">Operations the clients completed in the phase.</param>
/// <param name="ServerRequests">Requests the server handled in the phase.</param>
/// <param name="ServerCpuNanoseconds">Serving CPU time the server charged in the phase.</param>
/// <param name="SsdWrites">SSD writes in the phase.</param>
/// <param name="Seconds">Length of the phase.</param>
/// <param name="Threads">Requests kept in flight (one per connection).</param>
internal readonly record struct SaturationResult(string Kind, long Operations, long ServerRequests, long ServerCpuNanoseconds,
    long SsdWrites, double Seconds, int Threads)
{
    /// <summary>Serving CPU µs per client operation (a GET hit costs the server nothing and is counted too).</summary>
    public double ServerMicrosPerOp => Operations > 0 ? ServerCpuNanoseconds / 1000.0 / Operations : double.NaN;

    /// <summary>Serving CPU µs per request the server handled (NaN when it handled none).</summary>
    public double ServerMicrosPerRequest => ServerRequests > 0 ? ServerCpuNanoseconds / 1000.0 / ServerRequests : double.NaN;

    /// <summary>SSD writes per client operation.</summary>
    public double SsdWritesPerOp => Operations > 0 ? (double)SsdWrites / Operations : double.NaN;

    /// <summary>Server requests handled per second.</summary>
    public double RequestsPerSecond => Seconds > 0 ? ServerRequests / Seconds : 0;
}

/// <summary>
/// Saturation phases: one driver thread keeps <see cref="Outstanding"/> requests in flight over as many connections,
/// posting the next request of a connection as soon as its reply arrives, so the server's receive queue is never empty
/// while the phase lasts and the server never waits for work. The server's charged serving CPU (thread CPU of its
/// serving steps, device waits and the emulated NIC's and SSDs' own work excluded, idle polling never counted) divided
/// by the requests it answered is its cost per request at saturation. PUTs update uniformly chosen loaded records with
/// their own deterministic values; GETs (for systems whose server serves GETs: LEED reads, LEED+Ditto miss-fills) read
/// uniformly chosen records, which mostly miss a cache of a tenth of the records.
/// </summary>
internal static class Saturation
{
    /// <summary>Requests kept in flight (one per connection; enough writers that batches of 8 fill on every device).</summary>
    public const int Outstanding = 64;

    /// <summary>Runs PUTs for <paramref name="duration"/>.</summary>
    public static SaturationResult Puts(ScalioStore store, YcsbOptions options, TimeSpan duration)
        => Run("put", store, options, Outstanding, duration, RpcOp.Put);

    /// <summary>Runs server GETs for <paramref name="duration"/> (a LEED+Ditto server fills its cache on each).</summary>
    public static SaturationResult Gets(ScalioStore store, YcsbOptions options, TimeSpan duration)
        => Run("get", store, options, Outstanding, duration, RpcOp.Get);

    private static unsafe SaturationResult Run(string kind, ScalioStore store, YcsbOptions options, int connections, TimeSpan duration, RpcOp op)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        var layout = store.Layout;
        int messageSize = (RpcFormat.RequestHeaderSize + layout.KeyCapacity + layout.ValueCapacity + 63) & ~63;
        using var domain = store.Fabric.CreateDomain();
        var sendCq = domain.CreateCompletionQueue(4 * connections);
        var recvCq = domain.CreateCompletionQueue(4 * connections);
        // [request per connection][reply per connection]
        using var buffers = domain.Allocate((nuint)(2 * connections * messageSize), MemoryAccess.LocalWrite, 64);
        var qps = new QueuePair[connections];
        var requestIds = new ulong[connections];
        Span<byte> key = stackalloc byte[options.KeySize];
        var value = new byte[options.ValueSize];
        ulong x = (ulong)options.Seed * 0x9E3779B97F4A7C15UL | 1;
        long ops = 0, failures = 0;
        try
        {
            for (int c = 0; c < connections; c++)
            {
                qps[c] = domain.CreateQueuePair(sendCq, recvCq, new QueuePairOptions { MaxReceives = 2 });
                store.Server.Accept(qps[c]);
            }
            void Post(int c, Span<byte> k)
            {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                long record = (long)(x % (ulong)options.RecordCount);
                KeyCodec.Encode(options.Variant, record, k);
                if (op == RpcOp.Put) YcsbValues.Fill(record, options.Seed, value);
                qps[c].PostReceive(new ReceiveRequest((ulong)c, buffers.AddressOf((connections + c) * messageSize), (uint)messageSize, buffers.LocalKey));
                int n = RpcFormat.WriteRequest(buffers.Slice(c * messageSize, messageSize), op, ++requestIds[c], k, op == RpcOp.Put ? value : default);
                qps[c].PostSend(WorkRequest.Send((ulong)c, buffers.AddressOf(c * messageSize), (uint)n, buffers.LocalKey, WorkFlags.None));
            }
            var before = store.ReadCounters();
            long t0 = Stopwatch.GetTimestamp(), end = t0 + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            for (int c = 0; c < connections; c++) Post(c, key);
            int inFlight = connections;
            var waiter = new Waiter();
            while (inFlight > 0)
            {
                while (sendCq.TryPoll(out var sc)) if (!sc.IsSuccess) throw new InvalidOperationException($"saturation phase ({kind}): send failed: {sc.Status}");
                if (!recvCq.TryPoll(out var wc))
                {
                    if (waiter.ElapsedTicks > 10 * Stopwatch.Frequency) throw new TimeoutException($"saturation phase ({kind}): no reply for 10 s");
                    waiter.Pause();
                    continue;
                }
                waiter.Reset();
                int ci = (int)wc.Id;
                if (!wc.IsSuccess || !RpcFormat.TryReadReply(buffers.Slice((connections + ci) * messageSize, (int)wc.ByteLength), out var status, out ulong id, out _)
                    || id != requestIds[ci])
                    throw new InvalidOperationException($"saturation phase ({kind}): malformed reply ({wc.Status})");
                if (status is OpStatus.Ok or OpStatus.NotFound) ops++; else failures++;
                if (Stopwatch.GetTimestamp() < end) Post(ci, key);
                else inFlight--;
            }
            long t1 = Stopwatch.GetTimestamp();
            var after = store.ReadCounters();
            if (failures > 0) throw new InvalidOperationException($"saturation phase ({kind}): {failures} requests failed");
            return new SaturationResult(kind, ops, after.ServerRequests - before.ServerRequests,
                after.ServerBusyNanoseconds - before.ServerBusyNanoseconds, after.DeviceWrites - before.DeviceWrites,
                (double)(t1 - t0) / Stopwatch.Frequency, connections);
        }
        finally
        {
            foreach (var q in qps) q?.Dispose();
        }
    }
}
