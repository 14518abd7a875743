using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Scalio.Fast;
using Scalio.Fast.Hosting;

namespace HostedStore;

/// <summary>A generic host whose worker writes and reads back records through the store that DI provides.</summary>
public static class Program
{
    /// <summary>Runs the host to completion; exit code 0 when every record read back.</summary>
    public static async Task<int> Main(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(args);
        builder.Services.AddScalioStore(builder.Configuration.GetSection("Scalio"));
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
public sealed partial class Worker(ScalioStore store, Outcome outcome, IHostApplicationLifetime lifetime, ILogger<Worker> logger) : BackgroundService
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
        outcome.Ok = readBack == 2 * records;
        LogDone(readBack, 2 * records, client.Counters.Hits);
        lifetime.StopApplication();
    }, stoppingToken);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "read back {ReadBack} of {Reads} reads ({Hits} cache hits)")]
    private partial void LogDone(int readBack, int reads, long hits);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "PUT of record {Index} failed")]
    private partial void LogFailed(int index);
}
