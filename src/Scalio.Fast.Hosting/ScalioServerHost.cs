using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Scalio.Fast.Diagnostics;
using Scalio.Fast.Remote;
using Scalio.Fast.Server;
using Scalio.Verbs.Libfabric;

namespace Scalio.Fast.Hosting;

/// <summary>
/// Runs a Scalio server for clients of other processes (<see cref="ScalioFabricServer"/>: libfabric tcp;ofi_rxm, the
/// store, the emulated NIC) as a hosted service: it starts listening when the host starts (or when first resolved)
/// and at stop stops accepting, commits the queued write batches (their writers get their replies), checkpoints and
/// closes the devices. Start, stop, refused clients and failures are logged.
/// </summary>
public sealed partial class ScalioServerHost : ScalioResourceHost<ScalioFabricServer>
{
    private readonly ScalioServerSettings _settings;
    private readonly ILogger<ScalioServerHost> _logger;
    private ScalioServerMetrics? _metrics;

    /// <summary>Creates the host of a server described by <paramref name="settings"/> (started later).</summary>
    public ScalioServerHost(IOptions<ScalioServerSettings> settings, ILogger<ScalioServerHost> logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings.Value;
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>The running server, started on first use.</summary>
    /// <exception cref="ObjectDisposedException">The host has stopped.</exception>
    public ScalioFabricServer Server => Resource;

    /// <summary>The server's meter (null until started, or when <see cref="ScalioStoreSettings.Metrics"/> is false).</summary>
    public ScalioServerMetrics? Metrics => _metrics;

    /// <inheritdoc/>
    protected override ScalioFabricServer Create()
    {
        var s = _settings;
        var listen = IPEndPoint.Parse(s.Listen);
        try
        {
            var token = string.IsNullOrEmpty(s.AuthTokenFile) ? null : AuthToken.FromFile(s.AuthTokenFile);
            var readerToken = string.IsNullOrEmpty(s.ReaderTokenFile) ? null : AuthToken.FromFile(s.ReaderTokenFile);
            if (readerToken is not null && readerToken.SameSecretAs(token!))
                throw new ArgumentException("ScalioServer:ReaderTokenFile holds the same token as ScalioServer:AuthTokenFile; readers need their own");
            var storeOptions = s.Store.ToOptions();
            if (storeOptions.DataDirectory is { } dir) Directory.CreateDirectory(dir);
            var opened = Stopwatch.StartNew();
            var server = ScalioFabricServer.Start(new ScalioFabricServerOptions
            {
                Listen = listen,
                Store = storeOptions,
                NicListen = string.IsNullOrEmpty(s.NicListen) ? null : IPEndPoint.Parse(s.NicListen),
                ExternalOffloadTarget = string.IsNullOrEmpty(s.OffloadTarget) ? null : OffloadTargetEndpoint.Parse(s.OffloadTarget, s.SubsystemNqn),
                SubsystemNqn = s.SubsystemNqn,
                ListenOptions = new ServerListenOptions { Token = token, ReaderToken = readerToken, MaxConnections = s.MaxConnections },
                ClientRefused = (peer, reason) => LogRefused(peer?.ToString() ?? "(unknown address)", reason),
            });
            if (s.Store.Metrics) _metrics = new ScalioServerMetrics(server.Store, server.Nic);
            var recovery = server.Store.Server.Recovery;
            for (int d = 0; d < recovery.Count; d++)
            {
                var r = recovery[d];
                if (!r.Formatted) LogRecovered(d, r.Epoch, r.CheckpointBuckets, r.ScannedPages, r.TornPagesAtEnd);
            }
            LogListening(server.EndPoint, server.Store.Options.Devices, storeOptions.DataDirectory ?? "RAM", server.Store.CacheSlots,
                server.Nic is null ? server.OffloadTarget + " (external)" : server.OffloadTarget + " (emulated NIC, a MODEL of DPU target offload)",
                token is null ? "none" : readerToken is null ? "writers' token" : "writers' and readers' tokens", opened.ElapsedMilliseconds);
            if (token is null) LogNoToken(server.EndPoint);
            return server;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or InvalidOperationException or LibfabricException or AuthTokenFileException)
        {
            LogStartFailed(e, listen, e.Message);
            throw;
        }
    }

    /// <inheritdoc/>
    protected override void Destroy(ScalioFabricServer server)
    {
        var store = server.Store;
        var srv = store.Server;
        LogStopping(server.EndPoint, srv.RemoteClientsConnected);
        var stopwatch = Stopwatch.StartNew();
        var counters = store.ReadCounters();
        long accepted = srv.RemoteClientsAccepted, refused = srv.RemoteClientsRefused;
        try
        {
            server.Dispose(); // stops accepting, commits the queued batches, checkpoints, closes the devices
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or LibfabricException)
        {
            LogStopFailed(e, e.Message);
            throw;
        }
        finally
        {
            _metrics?.Dispose();
        }
        LogStopped(stopwatch.ElapsedMilliseconds, accepted, refused, counters.ServerRequests, srv.BatchesCommitted, counters.DeviceWrites);
    }

    /// <inheritdoc/>
    protected override void StopAbandoned() => LogStopAbandoned();

    [LoggerMessage(EventId = 29, Level = LogLevel.Warning, Message = "Scalio server did not finish stopping before the host's shutdown timeout; its drain goes on in the background (unacknowledged writes are lost if the process exits first; the logs recover the rest)")]
    private partial void LogStopAbandoned();

    [LoggerMessage(EventId = 21, Level = LogLevel.Information, Message = "Scalio server listening on {EndPoint} (tcp;ofi_rxm): {Devices} SSD namespace(s) in {Location}, {CacheSlots} cache slots, offload target {OffloadTarget}, admission {Admission}, started in {Milliseconds} ms")]
    private partial void LogListening(IPEndPoint endPoint, int devices, string location, int cacheSlots, string offloadTarget, string admission, long milliseconds);

    [LoggerMessage(EventId = 22, Level = LogLevel.Information, Message = "Scalio server SSD {Device} recovered epoch {Epoch}: {CheckpointBuckets} buckets from the checkpoint, {ScannedPages} log pages replayed, {TornPages} torn page(s) at the end")]
    private partial void LogRecovered(int device, ulong epoch, int checkpointBuckets, int scannedPages, int tornPages);

    [LoggerMessage(EventId = 23, Level = LogLevel.Warning, Message = "Scalio server on {EndPoint} has no ScalioServer:AuthTokenFile: any process that reaches it gets the region keys and may PUT and DELETE")]
    private partial void LogNoToken(IPEndPoint endPoint);

    [LoggerMessage(EventId = 24, Level = LogLevel.Warning, Message = "Scalio server refused client {Peer}: {Reason}")]
    private partial void LogRefused(string peer, string reason);

    [LoggerMessage(EventId = 25, Level = LogLevel.Information, Message = "Scalio server on {EndPoint} stopping: no new clients; draining queued writes ({Connected} client(s) connected)")]
    private partial void LogStopping(IPEndPoint endPoint, int connected);

    [LoggerMessage(EventId = 26, Level = LogLevel.Information, Message = "Scalio server stopped cleanly in {Milliseconds} ms (checkpoint written): {Accepted} client connection(s) accepted, {Refused} refused, {Requests} requests, {Batches} batches, {SsdWrites} SSD writes")]
    private partial void LogStopped(long milliseconds, long accepted, long refused, long requests, long batches, long ssdWrites);

    [LoggerMessage(EventId = 27, Level = LogLevel.Error, Message = "Scalio server on {EndPoint} failed to start: {Reason}")]
    private partial void LogStartFailed(Exception exception, IPEndPoint endPoint, string reason);

    [LoggerMessage(EventId = 28, Level = LogLevel.Error, Message = "Scalio server failed to stop cleanly: {Reason}")]
    private partial void LogStopFailed(Exception exception, string reason);
}
