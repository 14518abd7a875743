using System.Net;

namespace Scalio.Fast.Hosting;

/// <summary>
/// How to reach a <c>scalio server --fabric tcp</c> (libfabric tcp;ofi_rxm), as configuration binds it (e.g. the
/// <c>"ScalioRemote"</c> section): the server's address, and the token file of a server that admits by token.
/// </summary>
public sealed class ScalioRemoteStoreSettings
{
    /// <summary>The server's <c>ADDRESS:PORT</c> (the one it printed as "listening on").</summary>
    public string? Server { get; set; }

    /// <summary>File holding the server's token, for a server started with <c>--auth-token-file</c>; null for none.</summary>
    public string? AuthTokenFile { get; set; }

    /// <summary>Longest wait for the first connection, in seconds.</summary>
    public double ConnectTimeoutSeconds { get; set; } = 5;

    /// <summary>Publish the clients' counters on the meter <see cref="Diagnostics.ScalioClientMetrics.MeterName"/>.</summary>
    public bool Metrics { get; set; } = true;

    /// <summary>The problems with these settings, one line each; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!IPEndPoint.TryParse(Server ?? "", out var endpoint) || endpoint.Port == 0)
            errors.Add($"ScalioRemote:Server must be ADDRESS:PORT, not '{Server}'");
        if (AuthTokenFile is { Length: > 0 } f && !File.Exists(f)) errors.Add($"ScalioRemote:AuthTokenFile '{f}' does not exist");
        if (!(ConnectTimeoutSeconds > 0 && ConnectTimeoutSeconds <= 600)) errors.Add($"ScalioRemote:ConnectTimeoutSeconds must be in (0, 600], not {ConnectTimeoutSeconds}");
        return errors;
    }
}
