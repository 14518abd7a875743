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

    /// <summary>
    /// Stops the resource (a server stops accepting, commits its queued writes and checkpoints). If
    /// <paramref name="cancellationToken"/> fires first (the host's shutdown timeout), it returns and the stop goes on in
    /// the background: a process that then exits loses what a crash would (unacknowledged writes), and the logs recover
    /// the rest at the next start.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var closing = Task.Run(Close, CancellationToken.None);
        try
        {
            await closing.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            if (closing.IsCompleted)
            {
                await closing.ConfigureAwait(false); // it finished as the token fired: its own outcome, not "canceled"
                return;
            }
            // Observed, so a late failure is not an unobserved task exception (Destroy logs it).
            _ = closing.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            StopAbandoned();
        }
    }

    /// <summary>Called when the host's stop token fired before the resource finished stopping (which goes on).</summary>
    protected virtual void StopAbandoned()
    {
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
