namespace Scalio.Fast.Server;

/// <summary>
/// Commits a batch of writes in place of the real order (durable write and location, invalidation, reply): the seam
/// through which the checker harness injects deliberately wrong write paths (<c>scalio check --broken</c>) to show the
/// checker catches them. Never set by the store.
/// </summary>
internal interface IBatchCommitPath
{
    /// <summary>Commits <paramref name="batch"/> of <paramref name="device"/> and answers every writer in it.</summary>
    void Commit(ScalioServer server, int device, ScalioServer.PendingBatch batch);
}

public sealed unsafe partial class ScalioServer
{
    private volatile IBatchCommitPath? _commitPath;

    /// <summary>How batches are committed (set before clients connect); null: the real order.</summary>
    internal IBatchCommitPath? CommitPath
    {
        get => _commitPath;
        set => _commitPath = value;
    }
}
