namespace Scalio.Checking;

/// <summary>
/// Whether a store still holds its acknowledged writes after a history ended: for each key with an acknowledged write,
/// the value read from the store afterwards must be one that a write which can still be last left. A write can be last
/// when no acknowledged write of the key started after it ended (an incomplete write can be last at any time); a put
/// leaves its value, a delete leaves "not found". A key whose final value is none of these lost an acknowledged write.
/// </summary>
public static class LostWrites
{
    /// <summary>
    /// The keys of <paramref name="history"/> whose value in <paramref name="finalValues"/> (null: not found) no write
    /// that can be last left, sorted. Keys without an acknowledged write are not judged; a judged key missing from
    /// <paramref name="finalValues"/> throws <see cref="ArgumentException"/> (it was not read back).
    /// </summary>
    public static IReadOnlyList<string> Find(IEnumerable<HistoryOperation> history, IReadOnlyDictionary<string, string?> finalValues)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(finalValues);
        var lost = new List<string>();
        foreach (var key in history.Where(o => o.Kind != OperationKind.Get).GroupBy(o => o.Key, StringComparer.Ordinal))
        {
            var writes = key.ToList();
            if (!writes.Any(w => w.IsComplete)) continue;
            if (!finalValues.TryGetValue(key.Key, out string? final)) throw new ArgumentException($"key '{key.Key}' has acknowledged writes but was not read back", nameof(finalValues));
            long lastAckStart = writes.Where(w => w.IsComplete).Max(w => w.Start);
            bool ok = writes.Any(w => CanBeLast(w, lastAckStart) && (w.Kind == OperationKind.Put ? w.Value == final : final is null));
            if (!ok) lost.Add(key.Key);
        }
        lost.Sort(StringComparer.Ordinal);
        return lost;
    }

    /// <summary>True when no acknowledged write of the key started after <paramref name="w"/> returned (the last one
    /// started at <paramref name="lastAckStart"/>).</summary>
    private static bool CanBeLast(HistoryOperation w, long lastAckStart) => w.End is not { } end || lastAckStart <= end;

    /// <summary>Keys of <paramref name="history"/> that have at least one acknowledged (complete) put or delete.</summary>
    public static IReadOnlyList<string> AcknowledgedKeys(IEnumerable<HistoryOperation> history)
    {
        ArgumentNullException.ThrowIfNull(history);
        return [.. history.Where(o => o.Kind != OperationKind.Get && o.IsComplete).Select(o => o.Key).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
    }
}
