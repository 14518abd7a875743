using OpenTelemetry.Metrics;
using Scalio.Fast.Diagnostics;

namespace Scalio.Fast.Hosting;

/// <summary>OpenTelemetry wiring: the Scalio meters on a <see cref="MeterProviderBuilder"/>.</summary>
public static class ScalioMeterProviderBuilderExtensions
{
    /// <summary>The names of every Scalio meter: the server's (<see cref="ScalioServerMetrics.MeterName"/>) and the clients'
    /// (<see cref="ScalioClientMetrics.MeterName"/>).</summary>
    public static IReadOnlyList<string> MeterNames { get; } = [ScalioServerMetrics.MeterName, ScalioClientMetrics.MeterName];

    /// <summary>
    /// Collects the Scalio server and client meters, e.g.
    /// <c>services.AddOpenTelemetry().WithMetrics(m => m.AddScalioInstrumentation().AddOtlpExporter())</c>. The meters are
    /// published by the stores and servers that <c>AddScalioStore</c>, <c>AddScalioRemoteStore</c> and
    /// <c>AddScalioServer</c> register (unless their <c>Metrics</c> setting is false).
    /// </summary>
    public static MeterProviderBuilder AddScalioInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(ScalioServerMetrics.MeterName, ScalioClientMetrics.MeterName);
    }
}
