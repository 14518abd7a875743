using Scalio.Checking;

namespace Scalio.Tests.Checking;

/// <summary>Short helpers to write hand-made histories in tests (times in ns).</summary>
internal static class H
{
    public static HistoryOperation Put(int client, string key, string value, long start, long? end)
        => HistoryOperation.Put(client, key, value, start, end);

    public static HistoryOperation Get(int client, string key, string? value, long start, long? end)
        => HistoryOperation.Get(client, key, value, start, end);

    public static HistoryOperation Del(int client, string key, long start, long? end)
        => HistoryOperation.Delete(client, key, start, end);

    public static CheckResult Check(params HistoryOperation[] ops) => LinearizabilityChecker.Check(ops);

    public static CheckResult CheckUnknown(params HistoryOperation[] ops)
        => LinearizabilityChecker.Check(ops, new CheckOptions { InitialState = InitialState.Unknown });
}
