using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Scalio.Fast.Client;

namespace Scalio.Fast.Diagnostics;

/// <summary>
/// The client meter's two histograms, recorded by the clients themselves (the counters are observable, in
/// <see cref="ScalioClientMetrics"/>). Both record only while a listener has them enabled; durations are timed on one
/// operation in <see cref="SampleEvery"/> per client, so an unobserved client pays one flag read per operation and an
/// observed one two clock reads per sample. Recording passes tags as structs: no allocation.
/// </summary>
internal static class ClientInstruments
{
    /// <summary>One operation in this many (per client) is timed while the duration histogram is enabled.</summary>
    internal const int SampleEvery = 16;

    private static readonly Meter s_meter = new(ScalioClientMetrics.MeterName, typeof(ClientInstruments).Assembly.GetName().Version?.ToString());

    internal static readonly Histogram<double> Duration = s_meter.CreateHistogram(
        "scalio.client.operation.duration", "s",
        $"Duration of client operations (GET, PUT, DELETE), by operation and status; one operation in {SampleEvery} per client is timed",
        tags: null,
        advice: new InstrumentAdvice<double>
        {
            HistogramBucketBoundaries = [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 5e-2, 0.1, 1],
        });

    internal static readonly Histogram<int> BatchSize = s_meter.CreateHistogram(
        "scalio.client.batch.size", "{get}", "GETs per batch run together (ScalioClient.Get(ScalioGetBatch))",
        tags: null,
        advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128] });

    private static readonly KeyValuePair<string, object?>[] s_ops = [new("op", "get"), new("op", "put"), new("op", "delete")];
    private static readonly KeyValuePair<string, object?>[] s_statuses = BuildStatuses();

    /// <summary>The <c>op</c> tag of <paramref name="op"/> (<c>get</c>, <c>put</c>, <c>delete</c>), shared by the histogram and the operation counter.</summary>
    internal static KeyValuePair<string, object?> OpTag(ClientOperation op) => s_ops[(int)op];

    /// <summary>The <c>status</c> tag: OpStatus names in snake case (<c>ok</c>, <c>not_found</c>, ...).</summary>
    internal static KeyValuePair<string, object?> StatusTag(OpStatus status) => s_statuses[(int)status & 15];

    private static KeyValuePair<string, object?>[] BuildStatuses()
    {
        var tags = new KeyValuePair<string, object?>[16];
        for (int i = 0; i < tags.Length; i++)
        {
            var st = (OpStatus)i;
            string name = Enum.IsDefined(st) ? SnakeCase(st.ToString()) : "status_" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            tags[i] = new("status", name);
        }
        return tags;
    }

    private static string SnakeCase(string pascal)
    {
        var sb = new System.Text.StringBuilder(pascal.Length + 4);
        for (int i = 0; i < pascal.Length; i++)
        {
            char c = pascal[i];
            if (char.IsUpper(c) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>The start timestamp when this operation is to be timed, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static long MaybeStart(ref uint tick)
        => Duration.Enabled && (++tick % SampleEvery) == 0 ? Stopwatch.GetTimestamp() : 0;

    /// <summary>Records a timed operation (<paramref name="start"/> from <see cref="MaybeStart"/>, nonzero).</summary>
    internal static void RecordDuration(long start, ClientOperation op, OpStatus status)
    {
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Duration.Record(seconds, OpTag(op), StatusTag(status));
    }

    /// <summary>Records one batch's size when the histogram is enabled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void RecordBatch(int size)
    {
        if (BatchSize.Enabled) BatchSize.Record(size);
    }
}

/// <summary>Numbers the meters of store instances (the <c>scalio.instance</c> meter tag), process-wide.</summary>
internal static class MeterInstances
{
    internal static int Count;
}
