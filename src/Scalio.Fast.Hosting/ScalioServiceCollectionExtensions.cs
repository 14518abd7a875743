using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Scalio.Fast.Hosting;

/// <summary>Registers Scalio (an embedded store, a connection to a remote one, or a server) with Microsoft.Extensions.DependencyInjection.</summary>
public static class ScalioServiceCollectionExtensions
{
    /// <summary>
    /// Adds a <see cref="ScalioStore"/> (singleton, opened when the host starts and closed when it stops) with settings
    /// bound from <paramref name="configuration"/>, e.g. <c>builder.Configuration.GetSection("Scalio")</c>. Invalid
    /// settings fail the host's start with one line per problem.
    /// </summary>
    public static IServiceCollection AddScalioStore(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddScalioStore(s => configuration.Bind(s));
    }

    /// <summary>Adds a <see cref="ScalioStore"/> whose settings <paramref name="configure"/> sets.</summary>
    public static IServiceCollection AddScalioStore(this IServiceCollection services, Action<ScalioStoreSettings> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ScalioStoreSettings>().Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ScalioStoreSettings>, SettingsValidator>();
        services.AddSingleton<ScalioStoreHost>();
        services.AddHostedService(sp => sp.GetRequiredService<ScalioStoreHost>());
        services.AddSingleton(sp => sp.GetRequiredService<ScalioStoreHost>().Store);
        return services;
    }

    /// <summary>
    /// Adds a <see cref="Remote.RemoteScalioStore"/> (singleton, connected when the host starts and disconnected when it
    /// stops) to the server that <paramref name="configuration"/> names (<see cref="ScalioRemoteStoreSettings"/>).
    /// </summary>
    public static IServiceCollection AddScalioRemoteStore(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddScalioRemoteStore(s => configuration.Bind(s));
    }

    /// <summary>Adds a <see cref="Remote.RemoteScalioStore"/> whose settings <paramref name="configure"/> sets.</summary>
    public static IServiceCollection AddScalioRemoteStore(this IServiceCollection services, Action<ScalioRemoteStoreSettings> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ScalioRemoteStoreSettings>().Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ScalioRemoteStoreSettings>, RemoteSettingsValidator>();
        services.AddSingleton<ScalioRemoteStoreHost>();
        services.AddHostedService(sp => sp.GetRequiredService<ScalioRemoteStoreHost>());
        services.AddSingleton(sp => sp.GetRequiredService<ScalioRemoteStoreHost>().Store);
        return services;
    }

    /// <summary>
    /// Adds a Scalio server for clients of other processes (<see cref="ScalioServerHost"/>, a hosted service: listening
    /// when the host starts, drained and closed when it stops) with settings bound from <paramref name="configuration"/>,
    /// e.g. <c>builder.Configuration.GetSection("ScalioServer")</c> (<see cref="ScalioServerSettings"/>). Invalid settings
    /// fail the host's start with one line per problem. The running <see cref="Remote.ScalioFabricServer"/> is resolvable.
    /// </summary>
    public static IServiceCollection AddScalioServer(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddScalioServer(s => configuration.Bind(s));
    }

    /// <summary>Adds a Scalio server for clients of other processes whose settings <paramref name="configure"/> sets.</summary>
    public static IServiceCollection AddScalioServer(this IServiceCollection services, Action<ScalioServerSettings> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ScalioServerSettings>().Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ScalioServerSettings>, ServerSettingsValidator>();
        services.AddSingleton<ScalioServerHost>();
        services.AddHostedService(sp => sp.GetRequiredService<ScalioServerHost>());
        services.AddSingleton(sp => sp.GetRequiredService<ScalioServerHost>().Server);
        return services;
    }

    private sealed class ServerSettingsValidator : IValidateOptions<ScalioServerSettings>
    {
        public ValidateOptionsResult Validate(string? name, ScalioServerSettings options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }

    private sealed class RemoteSettingsValidator : IValidateOptions<ScalioRemoteStoreSettings>
    {
        public ValidateOptionsResult Validate(string? name, ScalioRemoteStoreSettings options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }

    private sealed class SettingsValidator : IValidateOptions<ScalioStoreSettings>
    {
        public ValidateOptionsResult Validate(string? name, ScalioStoreSettings options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
