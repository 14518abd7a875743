namespace Scalio.Cluster;

/// <summary>
/// The newest version a replica admitted per key (by key hash), in memory: the replica's half of "apply only newer
/// versions". It only ever grows, so a write admitted here is never undone by an older one that arrives later.
/// Striped locks; presized, so admitting allocates nothing until the table outgrows its size.
/// </summary>
internal sealed class VersionTable
{
    private const int Stripes = 64;
    private readonly Dictionary<ulong, ulong>[] _stripes = new Dictionary<ulong, ulong>[Stripes];

    public VersionTable(int expectedKeys)
    {
        int each = Math.Max(16, expectedKeys / Stripes + expectedKeys / Stripes / 4); // room for an uneven spread
        for (int i = 0; i < Stripes; i++) _stripes[i] = new Dictionary<ulong, ulong>(each);
    }

    /// <summary>Records <paramref name="version"/> for the key and returns true when it is newer than the key's
    /// recorded one (or the key has none); false, recording nothing, otherwise.</summary>
    public bool TryAdvance(ulong keyHash, ulong version)
    {
        var d = _stripes[(int)(keyHash >> 58)]; // the top bits: the server's own stripes use the bottom ones
        lock (d)
        {
            if (d.TryGetValue(keyHash, out ulong current) && version <= current) return false;
            d[keyHash] = version;
            return true;
        }
    }
}
