using System.Diagnostics;

namespace Scalio.Checking;

/// <summary>
/// Records a history from many client threads at once. Each client records through its own
/// <see cref="ClientRecorder"/> (one thread at a time per client) into pre-sized buffers: no locks,
/// and no allocation per operation while the buffers have room. Keys and values are kept as bytes
/// and turned into strings (<see cref="HistoryText.FromBytes"/>) only by <see cref="ToOperations"/>.
/// </summary>
public sealed class HistoryRecorder
{
    private readonly ClientRecorder[] _clients;
    private readonly long _epoch;

    /// <summary>Creates a recorder for clients 0 .. <paramref name="clientCount"/>-1.</summary>
    /// <param name="clientCount">Number of clients.</param>
    /// <param name="operationsPerClient">Expected operations per client (buffers grow past it).</param>
    /// <param name="bytesPerOperation">Expected key plus value bytes per operation.</param>
    public HistoryRecorder(int clientCount, int operationsPerClient = 4096, int bytesPerOperation = 64)
        : this(clientCount, operationsPerClient, bytesPerOperation, Stopwatch.GetTimestamp())
    {
    }

    /// <summary>
    /// Creates a recorder whose time 0 is the <see cref="Stopwatch"/> timestamp <paramref name="epochTimestamp"/>; with 0,
    /// times are the raw monotonic clock (CLOCK_MONOTONIC on Linux), which every process of one machine shares, so
    /// histories recorded by several processes can be merged.
    /// </summary>
    /// <param name="clientCount">Number of clients.</param>
    /// <param name="operationsPerClient">Expected operations per client (buffers grow past it).</param>
    /// <param name="bytesPerOperation">Expected key plus value bytes per operation.</param>
    /// <param name="epochTimestamp">Stopwatch timestamp that counts as time 0.</param>
    public HistoryRecorder(int clientCount, int operationsPerClient, int bytesPerOperation, long epochTimestamp)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clientCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(operationsPerClient);
        ArgumentOutOfRangeException.ThrowIfNegative(bytesPerOperation);
        _epoch = epochTimestamp;
        _clients = new ClientRecorder[clientCount];
        long arena = Math.Min((long)operationsPerClient * Math.Max(bytesPerOperation, 1), Array.MaxLength);
        for (int i = 0; i < clientCount; i++)
        {
            _clients[i] = new ClientRecorder(this, i, operationsPerClient, (int)arena);
        }
    }

    /// <summary>Number of clients.</summary>
    public int ClientCount => _clients.Length;

    /// <summary>The recorder of client <paramref name="client"/>; use it from one thread at a time.</summary>
    /// <param name="client">Client id, 0 .. <see cref="ClientCount"/>-1.</param>
    /// <returns>The client's recorder.</returns>
    public ClientRecorder Client(int client)
    {
        if ((uint)client >= (uint)_clients.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(client), client, $"client must be in [0, {_clients.Length}).");
        }

        return _clients[client];
    }

    /// <summary>Nanoseconds since the recorder was created, on a monotonic (Stopwatch) clock shared by all clients.</summary>
    /// <returns>The current time in ns.</returns>
    public long NowNanoseconds()
    {
        long ticks = Stopwatch.GetTimestamp() - _epoch;
        if (Stopwatch.Frequency == 1_000_000_000)
        {
            return ticks;
        }

        return (long)((UInt128)(ulong)ticks * 1_000_000_000UL / (ulong)Stopwatch.Frequency);
    }

    /// <summary>
    /// Materialises the history recorded so far, ordered by start time. Safe to call while clients
    /// still record: an operation still in flight appears with a null end.
    /// </summary>
    /// <returns>All recorded operations of all clients.</returns>
    public List<HistoryOperation> ToOperations()
    {
        var result = new List<HistoryOperation>();
        foreach (ClientRecorder client in _clients)
        {
            client.AppendTo(result);
        }

        result.Sort(static (a, b) =>
        {
            int c = a.Start.CompareTo(b.Start);
            return c != 0 ? c : a.Client.CompareTo(b.Client);
        });
        return result;
    }
}
