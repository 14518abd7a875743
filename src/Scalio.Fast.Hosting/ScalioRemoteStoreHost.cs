using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Scalio.Fast.Diagnostics;
using Scalio.Fast.Remote;
using Scalio.Verbs.Libfabric;

namespace Scalio.Fast.Hosting;

/// <summary>
/// Owns the application's connection to a remote Scalio server: connects when the host starts (or when first
/// resolved), publishes its clients' meter, disconnects at stop. Clients (<see cref="RemoteScalioStore.OpenClient"/>) belong to one thread each.
/// </summary>
public sealed partial class ScalioRemoteStoreHost : ScalioResourceHost<RemoteScalioStore>
{
    private readonly ScalioRemoteStoreSettings _settings;
    private readonly ILogger<ScalioRemoteStoreHost> _logger;
    private ScalioClientMetrics? _metrics;

    /// <summary>Creates the host of a connection described by <paramref name="settings"/> (made later).</summary>
    public ScalioRemoteStoreHost(IOptions<ScalioRemoteStoreSettings> settings, ILogger<ScalioRemoteStoreHost> logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings.Value;
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>The connected store, connected on first use.</summary>
    /// <exception cref="ObjectDisposedException">The host has stopped.</exception>
    public RemoteScalioStore Store => Resource;

    /// <summary>The clients' meter (null until connected, or when <see cref="ScalioRemoteStoreSettings.Metrics"/> is false).</summary>
    public ScalioClientMetrics? Metrics => _metrics;

    /// <inheritdoc/>
    protected override RemoteScalioStore Create()
    {
        var server = IPEndPoint.Parse(_settings.Server!);
        var store = RemoteScalioStore.Connect(server, new RemoteStoreOptions
        {
            ConnectTimeout = TimeSpan.FromSeconds(_settings.ConnectTimeoutSeconds),
            AuthToken = string.IsNullOrEmpty(_settings.AuthTokenFile) ? null : AuthToken.FromFile(_settings.AuthTokenFile),
        });
        if (_settings.Metrics) _metrics = new ScalioClientMetrics(store);
        LogConnected(server, store.Role);
        return store;
    }

    /// <inheritdoc/>
    protected override void Destroy(RemoteScalioStore store)
    {
        long reconnects = store.Reconnects;
        _metrics?.Dispose();
        store.Dispose();
        LogClosed(reconnects);
    }

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "Scalio server {Server} connected as {Role}")]
    private partial void LogConnected(IPEndPoint server, BootstrapRole role);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "Scalio server connection closed after {Reconnects} reconnect(s)")]
    private partial void LogClosed(long reconnects);
}
