using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Scalio.Fast;
using Scalio.Fast.Hosting;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Hosting;

/// <summary>The store in a generic host: options from configuration, opened at start, closed (durably) at stop.</summary>
public class HostingTests
{
    private static IHost Build(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddScalioStore(builder.Configuration.GetSection("Scalio"));
        return builder.Build();
    }

    [Fact(Timeout = 60_000)]
    public async Task Configured_store_serves_clients_and_keeps_acknowledged_writes_across_a_host_restart()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"scalio-hosting-{Environment.ProcessId}");
        var settings = new Dictionary<string, string?>
        {
            ["Scalio:ExpectedRecords"] = "2000", ["Scalio:Devices"] = "2", ["Scalio:DataDirectory"] = dir, ["Scalio:ValueCapacity"] = "128",
        };
        try
        {
            using (var host = Build(settings))
            {
                await host.StartAsync();
                var store = host.Services.GetRequiredService<ScalioStore>();
                Assert.Equal(2, store.Options.Devices);
                Assert.Equal(128, store.Layout.ValueCapacity);
                using (var c = store.OpenClient())
                    for (int i = 0; i < 100; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"h{i}"), Value($"v{i}")));
                await host.StopAsync();
                Assert.Throws<ObjectDisposedException>(() => host.Services.GetRequiredService<ScalioStoreHost>().Store);
            }
            using (var host = Build(settings))
            {
                await host.StartAsync();
                using var c = host.Services.GetRequiredService<ScalioStore>().OpenClient();
                var buf = new byte[128];
                for (int i = 0; i < 100; i++)
                {
                    Assert.Equal(OpStatus.Ok, c.Get(Key($"h{i}"), buf, out _));
                    Assert.Equal($"v{i}", Text(buf));
                }
                await host.StopAsync();
            }
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task Invalid_settings_fail_the_start_naming_each_problem()
    {
        using var host = Build(new() { ["Scalio:Devices"] = "0", ["Scalio:BatchSize"] = "500" });
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains("Scalio:Devices must be 1..64, not 0", e.Failures);
        Assert.Contains("Scalio:BatchSize must be 1..128, not 500", e.Failures);
    }

    [Fact(Timeout = 120_000)]
    public async Task The_hosted_sample_runs_to_a_clean_stop()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "HostedStore.dll");
        Assert.True(File.Exists(dll), $"{dll} was not built with the tests");
        var psi = new ProcessStartInfo("dotnet", [dll]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = AppContext.BaseDirectory };
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(90_000)) { p.Kill(entireProcessTree: true); Assert.Fail("the sample ran over 90 s"); }
        Assert.True(p.ExitCode == 0, stdout + await stderr);
        Assert.Contains("read back 1000 of 1000 reads", stdout);
        Assert.Contains("Scalio store open", stdout);
        Assert.Contains("Scalio store closed", stdout);
        if (Scalio.Verbs.Libfabric.LibfabricFabric.IsInstalled(out _))
        {
            // The hosted server (AddScalioServer) and its remote client; the meters of both stores through OpenTelemetry.
            Assert.Contains("Scalio server listening on 127.0.0.1:", stdout);
            Assert.Contains("read back 100 of 100 records", stdout);
            Assert.Contains("Scalio server stopped cleanly", stdout);
            // 500 PUTs and 1000 GETs embedded, 100 PUTs and 100 GETs remote; one operation in 16 per client timed.
            Assert.Contains("metrics: 1700 client operations, 1100 cache lookups, 600 server requests, 105 timed operations", stdout);
        }
        else
        {
            Assert.Contains("metrics: 1500 client operations, 1000 cache lookups, 500 server requests, 93 timed operations", stdout);
        }
    }
    /// <summary>A resource whose stop waits for the test: the host's part, not the store's, is under test.</summary>
    private sealed class HeldHost(ManualResetEventSlim release) : ScalioResourceHost<MemoryStream>
    {
        public volatile bool Abandoned, Destroyed;

        protected override MemoryStream Create() => new();

        protected override void Destroy(MemoryStream resource)
        {
            release.Wait(TimeSpan.FromSeconds(30));
            resource.Dispose();
            Destroyed = true;
        }

        protected override void StopAbandoned() => Abandoned = true;
    }

    [Fact(Timeout = 60_000)]
    public async Task A_stop_that_outlasts_the_hosts_token_returns_and_finishes_in_the_background()
    {
        using var release = new ManualResetEventSlim();
        var host = new HeldHost(release);
        await host.StartAsync(CancellationToken.None);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var clock = Stopwatch.StartNew();
        await host.StopAsync(timeout.Token);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"StopAsync took {clock.Elapsed}");
        Assert.True(host.Abandoned);
        Assert.False(host.Destroyed);
        host.Dispose(); // the host disposing its services meanwhile does not stop it twice
        release.Set();
        while (!host.Destroyed)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(40), "the stop never finished");
            await Task.Delay(10);
        }

        var quick = new HeldHost(release); // released: its stop finishes within the token, nothing abandoned
        await quick.StartAsync(CancellationToken.None);
        await quick.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        Assert.True(quick.Destroyed);
        Assert.False(quick.Abandoned);
    }
}
