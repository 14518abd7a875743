using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Scalio.Fast;
using Scalio.Fast.Hosting;
using Scalio.Fast.Remote;
using Scalio.Tests.Libfabric;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Hosting;

/// <summary>
/// <c>AddScalioServer</c> in a generic host with OpenTelemetry: the server listens at start, a remote store in the same
/// host reaches it, the Scalio client and server meters arrive at the InMemory exporter with the operations' counts,
/// and the stop drains the writes durably (a second host reads them back from the data directory).
/// </summary>
public sealed class ServerHostingTests
{
    private static IHost BuildServer(Dictionary<string, string?> settings, List<Metric> exported)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddScalioServer(builder.Configuration.GetSection("ScalioServer"));
        // The remote store of the same host connects to the address the server bound (port 0 in the settings).
        builder.Services.AddScalioRemoteStore(builder.Configuration.GetSection("ScalioRemote"));
        builder.Services.AddOptions<ScalioRemoteStoreSettings>().PostConfigure<ScalioFabricServer>((s, server) => s.Server ??= server.EndPoint.ToString());
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddScalioInstrumentation().AddInMemoryExporter(exported));
        return builder.Build();
    }

    /// <summary>The meter instance tag of a store's meter: the other tests of the process have stores (and meters) too.</summary>
    private static string? Instance(System.Diagnostics.Metrics.Meter? meter)
    {
        foreach (var t in meter?.Tags ?? []) if (t.Key == "scalio.instance") return t.Value as string;
        return null;
    }

    private static long Sum(List<Metric> exported, string? instance, string name, params (string Key, string Value)[] tags)
    {
        long total = 0;
        foreach (var m in exported)
        {
            if (m.Name != name) continue;
            if (instance is not null && !HasInstance(m, instance)) continue;
            long sum = 0; // over the matching series of one export; exports are cumulative, so the latest is the largest
            foreach (ref readonly var p in m.GetMetricPoints())
            {
                if (!Matches(p, tags)) continue;
                sum += m.MetricType == MetricType.Histogram ? p.GetHistogramCount() : m.MetricType == MetricType.LongSum ? p.GetSumLong() : (long)p.GetSumDouble();
            }
            total = Math.Max(total, sum);
        }
        return total;
    }

    private static bool HasInstance(Metric m, string instance)
    {
        foreach (var t in m.MeterTags ?? []) if (t.Key == "scalio.instance" && (t.Value as string) == instance) return true;
        return false;
    }

    private static bool Matches(in MetricPoint p, (string Key, string Value)[] tags)
    {
        int found = 0;
        foreach (var t in p.Tags)
            foreach (var want in tags)
                if (t.Key == want.Key && (t.Value as string) == want.Value) found++;
        return found == tags.Length;
    }

    [LibfabricFact]
    public async Task Hosted_server_serves_a_remote_store_exports_client_and_server_metrics_and_drains_at_stop()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"scalio-hosted-server-{Environment.ProcessId}");
        var settings = new Dictionary<string, string?>
        {
            ["ScalioServer:Listen"] = "127.0.0.1:0", ["ScalioServer:Store:ExpectedRecords"] = "2000", ["ScalioServer:Store:DataDirectory"] = dir,
            ["ScalioServer:Store:BatchSize"] = "4",
        };
        const int keys = 64;
        try
        {
            var exported = new List<Metric>();
            using (var host = BuildServer(settings, exported))
            {
                await host.StartAsync();
                // The running server holds its data directory: nothing else opens the files under it.
                Assert.Throws<DataDirectoryInUseException>(() => new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 2000, DataDirectory = dir }));
                var store = host.Services.GetRequiredService<RemoteScalioStore>();
                var buf = new byte[store.Descriptor.Layout.ValueCapacity];
                await Task.Run(() =>
                {
                    using var c = store.OpenClient();
                    for (int i = 0; i < keys; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"s{i}"), Value($"v{i}")));
                    for (int round = 0; round < 2; round++)
                        for (int i = 0; i < keys; i++) Assert.Equal(OpStatus.Ok, c.Get(Key($"s{i}"), buf, out _));
                    Assert.Equal(OpStatus.NotFound, c.Get(Key("absent"), buf, out _));
                    var batch = c.BeginBatch()!;
                    for (int i = 0; i < 8; i++) batch.Add(Key($"s{i}"));
                    Assert.Equal(OpStatus.Ok, c.Get(batch));
                });
                Assert.True(host.Services.GetRequiredService<MeterProvider>().ForceFlush(10_000));
                string? client = Instance(host.Services.GetRequiredService<ScalioRemoteStoreHost>().Metrics?.Meter);
                string? server = Instance(host.Services.GetRequiredService<ScalioServerHost>().Metrics?.Meter);
                Assert.NotNull(client);
                Assert.NotNull(server);

                Assert.Equal(keys, Sum(exported, client, "scalio.client.operations", ("op", "put"), ("status", "ok")));
                Assert.Equal(2 * keys + 8, Sum(exported, client, "scalio.client.operations", ("op", "get"), ("status", "ok")));
                Assert.Equal(1, Sum(exported, client, "scalio.client.operations", ("op", "get"), ("status", "not_found")));
                Assert.True(Sum(exported, client, "scalio.client.cache.lookups", ("result", "hit")) >= keys, "second-round GETs should hit");
                Assert.True(Sum(exported, client, "scalio.client.cache.lookups", ("result", "miss")) > 0);
                Assert.True(Sum(exported, client, "scalio.client.round_trips") > 3 * keys);
                Assert.Equal(1, Sum(exported, client, "scalio.client.batches"));
                // The histograms are process-wide (every client of the test process records into them, other tests' too).
                Assert.True(Sum(exported, null, "scalio.client.batch.size") >= 1, "the batch's size was not recorded");
                // One operation in 16 per client is timed: 64 PUTs + 129 single GETs give 12 samples.
                Assert.True(Sum(exported, null, "scalio.client.operation.duration") >= (keys + 2 * keys + 1) / 16, "too few operations timed");
                Assert.Equal(keys, Sum(exported, server, "scalio.server.requests", ("op", "put")));
                Assert.True(Sum(exported, server, "scalio.server.batches") > 0);
                Assert.True(Sum(exported, server, "scalio.nic.commands") > 0, "misses read the SSDs through the emulated NIC");
                Assert.Equal(1 + 1, Sum(exported, server, "scalio.server.connections", ("event", "accepted"))); // Connect's probe and the client

                await host.StopAsync();
                Assert.Throws<ObjectDisposedException>(() => host.Services.GetRequiredService<ScalioServerHost>().Server);
            }
            using (var host = BuildServer(settings, []))
            {
                await host.StartAsync();
                var store = host.Services.GetRequiredService<RemoteScalioStore>();
                var buf = new byte[store.Descriptor.Layout.ValueCapacity];
                await Task.Run(() =>
                {
                    using var c = store.OpenClient();
                    for (int i = 0; i < keys; i++)
                    {
                        Assert.Equal(OpStatus.Ok, c.Get(Key($"s{i}"), buf, out _));
                        Assert.Equal($"v{i}", Text(buf));
                    }
                });
                await host.StopAsync();
            }
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task Invalid_server_settings_fail_the_start_naming_each_problem()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ScalioServer:Listen"] = "0.0.0.0:7000", ["ScalioServer:ReaderTokenFile"] = "/nonexistent/reader", ["ScalioServer:Store:BatchSize"] = "0",
        });
        builder.Services.AddScalioServer(builder.Configuration.GetSection("ScalioServer"));
        using var host = builder.Build();
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("ScalioServer:Listen is a wildcard ('0.0.0.0:7000'): set ScalioServer:NicListen to an address clients can reach for the emulated NIC", e.Failures);
        Assert.Contains("ScalioServer:ReaderTokenFile needs ScalioServer:AuthTokenFile (the writers' token)", e.Failures);
        Assert.Contains("ScalioServer:ReaderTokenFile '/nonexistent/reader' does not exist", e.Failures);
        Assert.Contains("ScalioServer:Store:BatchSize must be 1..128, not 0", e.Failures);
        Assert.Equal(4, e.Failures.Count());
    }

    [Fact(Timeout = 60_000)]
    public async Task Embedded_store_exports_its_client_metrics_through_opentelemetry()
    {
        var exported = new List<Metric>();
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Scalio:ExpectedRecords"] = "1000" });
        builder.Services.AddScalioStore(builder.Configuration.GetSection("Scalio"));
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddScalioInstrumentation().AddInMemoryExporter(exported));
        using var host = builder.Build();
        await host.StartAsync();
        var store = host.Services.GetRequiredService<ScalioStore>();
        await Task.Run(() =>
        {
            using var c = store.OpenClient();
            var buf = new byte[store.Layout.ValueCapacity];
            for (int i = 0; i < 20; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"e{i}"), Value($"v{i}")));
            for (int i = 0; i < 20; i++) Assert.Equal(OpStatus.Ok, c.Delete(Key($"e{i}")));
            for (int i = 0; i < 20; i++) Assert.Equal(OpStatus.NotFound, c.Get(Key($"e{i}"), buf, out _));
        });
        Assert.True(host.Services.GetRequiredService<MeterProvider>().ForceFlush(10_000));
        var storeHost = host.Services.GetRequiredService<ScalioStoreHost>();
        string? client = Instance(storeHost.ClientMetrics?.Meter), server = Instance(storeHost.ServerMetrics?.Meter);
        Assert.NotNull(client);
        Assert.NotNull(server);
        Assert.Equal(20, Sum(exported, client, "scalio.client.operations", ("op", "put"), ("status", "ok")));
        Assert.Equal(20, Sum(exported, client, "scalio.client.operations", ("op", "delete"), ("status", "ok")));
        Assert.Equal(20, Sum(exported, client, "scalio.client.operations", ("op", "get"), ("status", "not_found")));
        Assert.Equal(20, Sum(exported, server, "scalio.server.requests", ("op", "delete")));
        Assert.Equal(20, Sum(exported, client, "scalio.client.cache.lookups", ("result", "miss")));
        await host.StopAsync();
    }
}
