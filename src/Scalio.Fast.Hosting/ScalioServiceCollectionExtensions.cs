using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Scalio.Fast.Hosting;

/// <summary>Registers an embedded Scalio store with Microsoft.Extensions.DependencyInjection.</summary>
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

    private sealed class SettingsValidator : IValidateOptions<ScalioStoreSettings>
    {
        public ValidateOptionsResult Validate(string? name, ScalioStoreSettings options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
