using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Scalio.Fast;
using Scalio.Fast.Hosting;
using Scalio.Fast.Remote;
using Scalio.Verbs.Libfabric;

namespace HostedStore;

/// <summary>A generic host whose worker writes and reads back records through the store that DI provides, and through
/// a remote store connected to the server the same host runs (AddScalioServer), with the Scalio meters in OpenTelemetry.</summary>
public static class Program
{
    /// <summary>Runs the host to completion; exit code 0 when every record read back.</summary>
    public static async Task<int> Main(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.Services.AddScalioStore(builder.Configuration.GetSection("Scalio"));
        if (LibfabricFabric.IsInstalled(out _))
        {
            // A server for other processes (libfabric tcp), and a remote store that connects to it: in one host here, for
            // the sample; an application would run the one or the other.
            builder.Services.AddScalioServer(builder.Configuration.GetSection("ScalioServer"));
            builder.Services.AddScalioRemoteStore(builder.Configuration.GetSection("ScalioRemote"));
            builder.Services.AddOptions<ScalioRemoteStoreSettings>().PostConfigure<ScalioFabricServer>((s, server) => s.Server ??= server.EndPoint.ToString());
        }
        // The Scalio meters through OpenTelemetry; an application would add AddOtlpExporter() (or Prometheus) instead.
        var exported = new List<MetricSnapshot>();
        builder.Services.AddSingleton(exported);
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddScalioInstrumentation().AddInMemoryExporter(exported));
        builder.Services.AddSingleton<Outcome>();
        builder.Services.AddHostedService<Worker>();
        using var host = builder.Build();
        var outcome = host.Services.GetRequiredService<Outcome>(); // RunAsync disposes the host's services
        try
        {
            await host.RunAsync();
        }
        catch (Microsoft.Extensions.Options.OptionsValidationException e)
        {
            await Console.Error.WriteLineAsync("error: " + string.Join("; ", e.Failures));
            return 2;
        }
        return outcome.Ok ? 0 : 1;
    }
}

/// <summary>Whether the worker's records all read back.</summary>
public sealed class Outcome
{
    /// <summary>True once every record read back with its value.</summary>
    public bool Ok { get; set; }
}

/// <summary>Writes a few hundred records, reads them back on a client of its own, then stops the application.</summary>
public sealed partial class Worker(ScalioStore store, Outcome outcome, IHostApplicationLifetime lifetime, ILogger<Worker> logger,
    IServiceProvider services, MeterProvider meters, List<MetricSnapshot> exported) : BackgroundService
{
    /// <inheritdoc/>
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() =>
    {
        // A client belongs to one thread: this one, for the worker's whole run.
        using var client = store.OpenClient();
        const int records = 500;
        var value = new byte[64];
        for (int i = 0; i < records && !stoppingToken.IsCancellationRequested; i++)
        {
            int n = Encoding.UTF8.GetBytes($"order-{i}:shipped", value);
            if (client.Put(Encoding.UTF8.GetBytes($"order{i}"), value.AsSpan(0, n)) != OpStatus.Ok) { LogFailed(i); lifetime.StopApplication(); return; }
        }
        int readBack = 0;
        // Twice: the first read of a key fills the cache from the SSD, the second is served by one RDMA READ.
        for (int i = 0; i < 2 * records; i++)
        {
            int k = i % records;
            if (client.Get(Encoding.UTF8.GetBytes($"order{k}"), value, out int length) == OpStatus.Ok
                && Encoding.UTF8.GetString(value, 0, length) == $"order-{k}:shipped") readBack++;
        }
        bool ok = readBack == 2 * records;
        LogDone(readBack, 2 * records, client.Counters.Hits);
        if (services.GetService<RemoteScalioStore>() is { } remote) ok &= RunRemote(remote);
        else LogNoLibfabric();
        meters.ForceFlush(5000);
        long operations = Latest("scalio.client.operations"), lookups = Latest("scalio.client.cache.lookups");
        long serverRequests = Latest("scalio.server.requests"), timed = Latest("scalio.client.operation.duration");
        LogMetrics(operations, lookups, serverRequests, timed);
        outcome.Ok = ok;
        lifetime.StopApplication();
    }, stoppingToken);

    /// <summary>A client of the hosted server, over libfabric: writes and reads back a hundred records.</summary>
    private bool RunRemote(RemoteScalioStore remote)
    {
        using var client = remote.OpenClient();
        var value = new byte[remote.Descriptor.Layout.ValueCapacity];
        int readBack = 0;
        for (int i = 0; i < 100; i++)
        {
            if (client.Put(Encoding.UTF8.GetBytes($"remote{i}"), Encoding.UTF8.GetBytes($"r{i}")) != OpStatus.Ok) return false;
            if (client.Get(Encoding.UTF8.GetBytes($"remote{i}"), value, out int length) == OpStatus.Ok && Encoding.UTF8.GetString(value, 0, length) == $"r{i}") readBack++;
        }
        LogRemote(remote.Server, readBack);
        return readBack == 100;
    }

    /// <summary>The sum of a metric's series (every store's, told apart by the scalio.instance meter tag) in the one
    /// export so far (ForceFlush, before the periodic export's first minute).</summary>
    private long Latest(string name)
    {
        long total = 0;
        foreach (var m in exported)
        {
            if (m.Name != name) continue;
            foreach (var p in m.MetricPoints)
                total += m.MetricType == MetricType.Histogram ? p.GetHistogramCount() : m.MetricType == MetricType.LongSum ? p.GetSumLong() : 0;
        }
        return total;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "read back {ReadBack} of {Reads} reads ({Hits} cache hits)")]
    private partial void LogDone(int readBack, int reads, long hits);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "PUT of record {Index} failed")]
    private partial void LogFailed(int index);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "remote client of the hosted server {Server}: read back {ReadBack} of 100 records")]
    private partial void LogRemote(System.Net.IPEndPoint server, int readBack);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "libfabric is not installed: the hosted server part is skipped")]
    private partial void LogNoLibfabric();

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "metrics: {Operations} client operations, {Lookups} cache lookups, {ServerRequests} server requests, {Timed} timed operations")]
    private partial void LogMetrics(long operations, long lookups, long serverRequests, long timed);
}
