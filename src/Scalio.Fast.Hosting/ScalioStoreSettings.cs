using Scalio.Fast.Cache;

namespace Scalio.Fast.Hosting;

/// <summary>
/// The embedded store's settings as configuration binds them (e.g. the <c>"Scalio"</c> section of appsettings.json).
/// Every property has the library's default; <see cref="ToOptions"/> turns them into <see cref="ScalioStoreOptions"/>.
/// </summary>
public sealed class ScalioStoreSettings
{
    /// <summary>Records the SSD store is sized for.</summary>
    public long ExpectedRecords { get; set; } = 100_000;

    /// <summary>Cache slots as a fraction of <see cref="ExpectedRecords"/>.</summary>
    public double CacheFraction { get; set; } = 0.10;

    /// <summary>SSD namespaces.</summary>
    public int Devices { get; set; } = 1;

    /// <summary>Directory of file namespaces (recovered when present); null or empty keeps them in RAM.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>Largest key in bytes (the slot layout's key capacity).</summary>
    public int KeyCapacity { get; set; } = SlotLayout.Default.KeyCapacity;

    /// <summary>Largest value in bytes (the slot layout's value capacity).</summary>
    public int ValueCapacity { get; set; } = SlotLayout.Default.ValueCapacity;

    /// <summary>Slots per cache bucket.</summary>
    public int SlotsPerBucket { get; set; } = SlotLayout.Default.SlotsPerBucket;

    /// <summary>Server worker threads.</summary>
    public int ServerWorkers { get; set; } = 1;

    /// <summary>Writes gathered per SSD into one batched write (1 = unbatched).</summary>
    public int BatchSize { get; set; } = 8;

    /// <summary>Longest a write waits for its batch to fill, in microseconds.</summary>
    public int BatchIdleTimeoutMicroseconds { get; set; } = 1000;

    /// <summary>Requests each client may have in flight at the server.</summary>
    public int MaxRequestsInFlightPerClient { get; set; } = 2;

    /// <summary>Publish the server's counters on the meter <see cref="Diagnostics.ScalioServerMetrics.MeterName"/> (and, for
    /// an embedded store, its clients' on <see cref="Diagnostics.ScalioClientMetrics.MeterName"/>).</summary>
    public bool Metrics { get; set; } = true;

    /// <summary>The problems with these settings, one line each; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate() => Validate("Scalio");

    /// <summary>The problems with these settings, each naming its key under configuration section <paramref name="section"/>.</summary>
    internal List<string> Validate(string section)
    {
        var errors = new List<string>();
        if (ExpectedRecords < 1) errors.Add($"{section}:ExpectedRecords must be at least 1, not {ExpectedRecords}");
        if (!(CacheFraction > 0 && CacheFraction <= 16)) errors.Add($"{section}:CacheFraction must be in (0, 16], not {CacheFraction}");
        if (Devices is < 1 or > 64) errors.Add($"{section}:Devices must be 1..64, not {Devices}");
        if (KeyCapacity < 1 || ValueCapacity < 0 || SlotsPerBucket < 1)
            errors.Add($"{section}:KeyCapacity/ValueCapacity/SlotsPerBucket must be positive, not {KeyCapacity}/{ValueCapacity}/{SlotsPerBucket}");
        if (ServerWorkers is < 1 or > 64) errors.Add($"{section}:ServerWorkers must be 1..64, not {ServerWorkers}");
        if (BatchSize is < 1 or > 128) errors.Add($"{section}:BatchSize must be 1..128, not {BatchSize}");
        if (BatchIdleTimeoutMicroseconds is < 1 or > 1_000_000) errors.Add($"{section}:BatchIdleTimeoutMicroseconds must be 1..1000000, not {BatchIdleTimeoutMicroseconds}");
        if (MaxRequestsInFlightPerClient < 1) errors.Add($"{section}:MaxRequestsInFlightPerClient must be at least 1, not {MaxRequestsInFlightPerClient}");
        return errors;
    }

    /// <summary>The store options these settings describe.</summary>
    /// <exception cref="ArgumentException">The layout is not one the store supports.</exception>
    public ScalioStoreOptions ToOptions() => new()
    {
        ExpectedRecords = ExpectedRecords,
        CacheFraction = CacheFraction,
        Devices = Devices,
        DataDirectory = string.IsNullOrEmpty(DataDirectory) ? null : DataDirectory,
        Layout = new SlotLayout(KeyCapacity, ValueCapacity, SlotsPerBucket),
        ServerWorkers = ServerWorkers,
        BatchSize = BatchSize,
        BatchIdleTimeout = TimeSpan.FromMicroseconds(BatchIdleTimeoutMicroseconds),
        MaxRequestsInFlightPerClient = MaxRequestsInFlightPerClient,
    };
}
