using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Scalio.Fast.Diagnostics;

namespace Scalio.Fast.Hosting;

/// <summary>
/// Owns the application's embedded <see cref="ScalioStore"/>: opens it when the host starts (or when first resolved,
/// whichever comes first), publishes its server and client meters, and at stop closes it (every batch committed, files flushed) after the
/// services registered after it have stopped. Clients (<see cref="ScalioStore.OpenClient"/>) belong to one thread each.
/// </summary>
public sealed partial class ScalioStoreHost : ScalioResourceHost<ScalioStore>
{
    private readonly ScalioStoreSettings _settings;
    private readonly ILogger<ScalioStoreHost> _logger;
    private ScalioServerMetrics? _metrics;
    private ScalioClientMetrics? _clientMetrics;

    /// <summary>Creates the host of a store described by <paramref name="settings"/> (opened later).</summary>
    public ScalioStoreHost(IOptions<ScalioStoreSettings> settings, ILogger<ScalioStoreHost> logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings.Value;
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>The store, opened on first use.</summary>
    /// <exception cref="ObjectDisposedException">The host has stopped.</exception>
    public ScalioStore Store => Resource;

    /// <summary>The server's meter (null until opened, or when <see cref="ScalioStoreSettings.Metrics"/> is false).</summary>
    public ScalioServerMetrics? ServerMetrics => _metrics;

    /// <summary>The clients' meter (null until opened, or when <see cref="ScalioStoreSettings.Metrics"/> is false).</summary>
    public ScalioClientMetrics? ClientMetrics => _clientMetrics;

    /// <inheritdoc/>
    protected override ScalioStore Create()
    {
        var options = _settings.ToOptions();
        if (options.DataDirectory is { } dir) Directory.CreateDirectory(dir);
        var store = new ScalioStore(options);
        if (_settings.Metrics)
        {
            _metrics = new ScalioServerMetrics(store);
            _clientMetrics = new ScalioClientMetrics(store);
        }
        LogOpened(store.CacheSlots, options.Devices, options.DataDirectory ?? "RAM", options.BatchSize);
        return store;
    }

    /// <inheritdoc/>
    protected override void Destroy(ScalioStore store)
    {
        var counters = store.ReadCounters();
        _metrics?.Dispose();
        _clientMetrics?.Dispose();
        store.Dispose(); // commits open batches and closes the namespaces
        LogClosed(counters.ServerRequests, counters.DeviceWrites);
    }

    /// <inheritdoc/>
    protected override void StopAbandoned() => LogStopAbandoned();

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Scalio store did not finish closing before the host's shutdown timeout; it goes on closing in the background (unacknowledged writes are lost if the process exits first; the logs recover the rest)")]
    private partial void LogStopAbandoned();

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Scalio store open: {CacheSlots} cache slots, {Devices} SSD namespace(s) in {Location}, batch size {BatchSize}")]
    private partial void LogOpened(int cacheSlots, int devices, string location, int batchSize);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Scalio store closed after {Requests} server requests and {SsdWrites} SSD writes")]
    private partial void LogClosed(long requests, long ssdWrites);
}
