namespace Scalio.Fast.Client;

/// <summary>
/// Told of each GET of a <see cref="ScalioGetBatch"/> as soon as its answer is final, while the rest of the batch is
/// still in flight (<see cref="ScalioClient.Get(ScalioGetBatch, IGetBatchObserver)"/>).
/// </summary>
public interface IGetBatchObserver
{
    /// <summary>
    /// GET <paramref name="index"/> of <paramref name="batch"/> is answered: its <see cref="ScalioGetBatch.StatusAt"/>,
    /// <see cref="ScalioGetBatch.ValueAt"/> and <see cref="ScalioGetBatch.HitAt"/> hold and will not change during the
    /// call that runs the batch. Called on that call's thread, once per GET; it must not run operations on the client nor
    /// change the batch, and should return quickly (the batch waits for it).
    /// </summary>
    void Answered(ScalioGetBatch batch, int index);
}
