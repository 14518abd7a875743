using System.Net;
using Scalio.Fast.Server;
using Scalio.Offload;

namespace Scalio.Fast.Hosting;

/// <summary>
/// A Scalio server for clients of other processes, as configuration binds it (e.g. the <c>"ScalioServer"</c> section
/// of appsettings.json): where it listens, who it admits, where clients read the SSDs on a miss, and the store in the
/// <see cref="Store"/> subsection. The same settings as <c>scalio server --fabric tcp</c>.
/// </summary>
public sealed class ScalioServerSettings
{
    /// <summary>Side-channel address <c>ADDRESS:PORT</c> clients connect to (port 0 picks a free one; the host logs it).</summary>
    public string Listen { get; set; } = "127.0.0.1:0";

    /// <summary><c>ADDRESS:PORT</c> of the in-process emulated NIC (the NVMe/TCP offload target on the store's own
    /// devices); null or empty: the <see cref="Listen"/> address on a free port.</summary>
    public string? NicListen { get; set; }

    /// <summary><c>HOST:PORT</c> of an external offload target (<c>scalio target</c>) serving the store's data
    /// directory, instead of the emulated NIC; null or empty: the emulated NIC.</summary>
    public string? OffloadTarget { get; set; }

    /// <summary>Subsystem NQN of the offload target.</summary>
    public string SubsystemNqn { get; set; } = NvmeTcpOffloadReadPath.DefaultSubsystemNqn;

    /// <summary>File holding the token clients must prove (at least 16 bytes); null or empty: any client that reaches
    /// <see cref="Listen"/> is admitted (the host logs a warning).</summary>
    public string? AuthTokenFile { get; set; }

    /// <summary>With <see cref="AuthTokenFile"/>: file of the readers' token (GET only); null or empty: no readers.</summary>
    public string? ReaderTokenFile { get; set; }

    /// <summary>Most clients connected plus handshaking at once.</summary>
    public int MaxConnections { get; set; } = 256;

    /// <summary>The store the server serves (its <see cref="ScalioStoreSettings.Metrics"/> publishes the server meter).</summary>
    public ScalioStoreSettings Store { get; set; } = new();

    /// <summary>The problems with these settings, one line each (naming keys under <c>ScalioServer</c>); empty when usable.</summary>
    public IReadOnlyList<string> Validate() => Validate("ScalioServer");

    /// <summary>The problems with these settings, each naming its key under configuration section <paramref name="section"/>.</summary>
    internal List<string> Validate(string section)
    {
        var errors = new List<string>();
        if (!IPEndPoint.TryParse(Listen ?? "", out var listen)) errors.Add($"{section}:Listen must be ADDRESS:PORT, not '{Listen}'");
        bool external = !string.IsNullOrEmpty(OffloadTarget);
        if (external && !string.IsNullOrEmpty(NicListen))
            errors.Add($"{section}:NicListen places the in-process emulated NIC and {section}:OffloadTarget replaces it: give one of them");
        if (external)
        {
            try
            {
                OffloadTargetEndpoint.Parse(OffloadTarget!, string.IsNullOrEmpty(SubsystemNqn) ? "nqn" : SubsystemNqn);
            }
            catch (FormatException e)
            {
                errors.Add($"{section}:OffloadTarget {e.Message}");
            }
        }
        else if (!string.IsNullOrEmpty(NicListen))
        {
            if (!IPEndPoint.TryParse(NicListen, out var nic)) errors.Add($"{section}:NicListen must be ADDRESS:PORT, not '{NicListen}'");
            else if (IsWildcard(nic.Address)) errors.Add($"{section}:NicListen must be an address clients can reach, not the wildcard '{NicListen}'");
        }
        else if (listen is not null && IsWildcard(listen.Address))
        {
            errors.Add($"{section}:Listen is a wildcard ('{Listen}'): set {section}:NicListen to an address clients can reach for the emulated NIC");
        }
        if (string.IsNullOrEmpty(SubsystemNqn)) errors.Add($"{section}:SubsystemNqn must not be empty");
        if (AuthTokenFile is { Length: > 0 } a && !File.Exists(a)) errors.Add($"{section}:AuthTokenFile '{a}' does not exist");
        if (ReaderTokenFile is { Length: > 0 } r)
        {
            if (string.IsNullOrEmpty(AuthTokenFile)) errors.Add($"{section}:ReaderTokenFile needs {section}:AuthTokenFile (the writers' token)");
            if (!File.Exists(r)) errors.Add($"{section}:ReaderTokenFile '{r}' does not exist");
        }
        if (MaxConnections is < 1 or > 65_536) errors.Add($"{section}:MaxConnections must be 1..65536, not {MaxConnections}");
        if (Store is null) errors.Add($"{section}:Store is missing");
        else
        {
            errors.AddRange(Store.Validate(section + ":Store"));
            if (Store.MaxRequestsInFlightPerClient > 1024) errors.Add($"{section}:Store:MaxRequestsInFlightPerClient must be 1..1024, not {Store.MaxRequestsInFlightPerClient}");
        }
        return errors;
    }

    private static bool IsWildcard(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);
}
