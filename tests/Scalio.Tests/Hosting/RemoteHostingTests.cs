using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Scalio.Fast.Hosting;
using Scalio.Fast.Remote;
using Scalio.Fast;
using Scalio.Tests.Libfabric;
using Scalio.Tests.Remote;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Hosting;

/// <summary>A generic host whose store is a <c>scalio server</c> process, reached through <c>AddScalioRemoteStore</c>.</summary>
public sealed partial class RemoteHostingTests
{
    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();

    private static IHost Build(string server)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ScalioRemote:Server"] = server });
        builder.Services.AddScalioRemoteStore(builder.Configuration.GetSection("ScalioRemote"));
        return builder.Build();
    }

    [LibfabricFact]
    public async Task Configured_remote_store_connects_at_start_serves_clients_and_disconnects_at_stop()
    {
        using var server = new ScalioProcess("server", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--records", "400");
        string ready = await server.WaitForLineAsync(l => l.StartsWith("ready", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        int port = int.Parse(Listening().Match(ready).Groups[1].Value, CultureInfo.InvariantCulture);
        using var host = Build($"127.0.0.1:{port}");
        await host.StartAsync();
        var store = host.Services.GetRequiredService<RemoteScalioStore>();
        var buf = new byte[64];
        await Task.Run(() =>
        {
            using var c = store.OpenClient();
            for (int i = 0; i < 50; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"r{i}"), Value($"v{i}")));
            for (int i = 0; i < 50; i++)
            {
                Assert.Equal(OpStatus.Ok, c.Get(Key($"r{i}"), buf, out _));
                Assert.Equal($"v{i}", Text(buf));
            }
        });
        await host.StopAsync();
        Assert.Throws<ObjectDisposedException>(() => host.Services.GetRequiredService<ScalioRemoteStoreHost>().Store);
        server.Terminate();
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(20)) == 0, server.Output);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_server_that_is_not_an_address_fails_the_start_in_one_line()
    {
        using var host = Build("no-such-host");
        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal("ScalioRemote:Server must be ADDRESS:PORT, not 'no-such-host'", Assert.Single(e.Failures));
    }
}
