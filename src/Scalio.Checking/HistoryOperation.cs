namespace Scalio.Checking;

/// <summary>The kind of a key-value operation in a history.</summary>
public enum OperationKind
{
    /// <summary>Read a key; the operation's value is what the read returned (null = not found).</summary>
    Get,

    /// <summary>Write a value to a key; the operation's value is the value written.</summary>
    Put,

    /// <summary>Remove a key; the operation has no value.</summary>
    Delete,
}

/// <summary>
/// One operation of a key-value history: who issued it, what it did, and when it was invoked and
/// when it returned. Times are nanoseconds on one monotonic clock shared by all clients.
/// </summary>
/// <param name="Client">The id of the client (process) that issued the operation.</param>
/// <param name="Kind">Get, Put or Delete.</param>
/// <param name="Key">The key.</param>
/// <param name="Value">
/// For a Get: the value returned, or null when the key was not found (or the get never completed).
/// For a Put: the value written (never null). For a Delete: null.
/// </param>
/// <param name="Start">Invocation time in nanoseconds.</param>
/// <param name="End">
/// Return time in nanoseconds, or null when the operation never completed (the client crashed or
/// timed out): its effect may or may not have happened, at any time after <paramref name="Start"/>.
/// </param>
public readonly record struct HistoryOperation(int Client, OperationKind Kind, string Key, string? Value, long Start, long? End)
{
    /// <summary>True when the operation returned (<see cref="End"/> has a value).</summary>
    public bool IsComplete => End.HasValue;

    /// <summary>A get that returned <paramref name="value"/> (null = not found).</summary>
    /// <param name="client">Client id.</param>
    /// <param name="key">Key read.</param>
    /// <param name="value">Value returned, null when not found.</param>
    /// <param name="start">Invocation time (ns).</param>
    /// <param name="end">Return time (ns), null when it never returned.</param>
    /// <returns>The operation.</returns>
    public static HistoryOperation Get(int client, string key, string? value, long start, long? end)
        => new(client, OperationKind.Get, key, value, start, end);

    /// <summary>A put of <paramref name="value"/>.</summary>
    /// <param name="client">Client id.</param>
    /// <param name="key">Key written.</param>
    /// <param name="value">Value written.</param>
    /// <param name="start">Invocation time (ns).</param>
    /// <param name="end">Return time (ns), null when it never returned.</param>
    /// <returns>The operation.</returns>
    public static HistoryOperation Put(int client, string key, string value, long start, long? end)
        => new(client, OperationKind.Put, key, value, start, end);

    /// <summary>A delete of <paramref name="key"/>.</summary>
    /// <param name="client">Client id.</param>
    /// <param name="key">Key removed.</param>
    /// <param name="start">Invocation time (ns).</param>
    /// <param name="end">Return time (ns), null when it never returned.</param>
    /// <returns>The operation.</returns>
    public static HistoryOperation Delete(int client, string key, long start, long? end)
        => new(client, OperationKind.Delete, key, null, start, end);

    /// <summary>Throws <see cref="ArgumentException"/> when the operation is not well formed.</summary>
    internal void Validate(int index)
    {
        if (Key is null)
        {
            throw new ArgumentException($"Operation {index}: key is null.");
        }

        if (Start < 0)
        {
            throw new ArgumentException($"Operation {index}: start {Start} is negative.");
        }

        if (End is long end && end < Start)
        {
            throw new ArgumentException($"Operation {index}: end {end} is before start {Start}.");
        }

        switch (Kind)
        {
            case OperationKind.Get:
                break;
            case OperationKind.Put when Value is null:
                throw new ArgumentException($"Operation {index}: a put needs a value.");
            case OperationKind.Put:
                break;
            case OperationKind.Delete when Value is not null:
                throw new ArgumentException($"Operation {index}: a delete has no value.");
            case OperationKind.Delete:
                break;
            default:
                throw new ArgumentException($"Operation {index}: unknown kind {(int)Kind}.");
        }
    }
}
