using Microsoft.Extensions.Hosting;

namespace Scalio.Fast.Hosting;

/// <summary>
/// A resource the application's host owns: made when the host starts (or when first resolved, whichever comes first)
/// and disposed once when it stops. Resolving it after the stop throws.
/// </summary>
/// <typeparam name="T">The resource: an embedded store or a connection to a remote one.</typeparam>
public abstract class ScalioResourceHost<T> : IHostedService, IDisposable
    where T : class, IDisposable
{
    private readonly Lock _gate = new();
    private T? _resource;
    private bool _stopped;

    /// <summary>The resource, made on first use.</summary>
    /// <exception cref="ObjectDisposedException">The host has stopped.</exception>
    protected T Resource
    {
        get
        {
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_stopped, this);
                return _resource ??= Create();
            }
        }
    }

    /// <summary>Makes the resource (called once, under the lock).</summary>
    protected abstract T Create();

    /// <summary>Disposes the resource (called once, after the stop, outside the lock).</summary>
    protected abstract void Destroy(T resource);

    /// <inheritdoc/>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = Resource;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        Close();
        return Task.CompletedTask;
    }

    /// <summary>Disposes the resource if the host did not stop it.</summary>
    public void Dispose()
    {
        Close();
        GC.SuppressFinalize(this);
    }

    private void Close()
    {
        T? resource;
        lock (_gate)
        {
            if (_stopped) return;
            _stopped = true;
            (resource, _resource) = (_resource, null);
        }
        if (resource is not null) Destroy(resource);
    }
}
