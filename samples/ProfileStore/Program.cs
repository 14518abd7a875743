using System.Globalization;
using Scalio.Fast;
using Scalio.Fast.Client;

namespace ProfileStore;

/// <summary>
/// Stores user profiles under Guid keys in an embedded Scalio store and reads them back through the typed client
/// that Scalio.Generators emits for <see cref="ProfileSchema"/>. Exits with 1 on any mismatch, 0 otherwise.
/// </summary>
public static class Program
{
    /// <summary>Runs the sample on the console.</summary>
    /// <returns>0 when every record read back matches, 1 otherwise.</returns>
    public static int Main() => Run(Console.Out);

    /// <summary>Runs the sample, writing its report to <paramref name="output"/>.</summary>
    /// <param name="output">Where the report goes.</param>
    /// <param name="profiles">How many profiles to store (at least 10).</param>
    /// <returns>0 when every record read back matches, 1 otherwise.</returns>
    public static int Run(TextWriter output, int profiles = 400)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfLessThan(profiles, 10);
        output.WriteLine($"schema ProfileSchema: {ProfileSchema.Layout}");
        output.WriteLine($"  slot: header @{ProfileSchema.HeaderOffset}, checksum @{ProfileSchema.ChecksumOffset}, stamp @{ProfileSchema.StampOffset}, "
            + $"key @{ProfileSchema.KeyOffset} ({ProfileSchema.KeyCapacity} B), value @{ProfileSchema.ValueOffset} ({ProfileSchema.ValueCapacity} B); on-SSD record {ProfileSchema.RecordSize} B");

        // A cache with about two slots per profile: the first read of each profile misses and fills, later reads mostly hit.
        using var store = new ScalioStore(new ScalioStoreOptions
        {
            Layout = ProfileSchema.Layout,
            ExpectedRecords = profiles * 2,
            CacheBuckets = Math.Max(1, 2 * profiles / ProfileSchema.SlotsPerBucket),
        });
        using ScalioClient raw = store.OpenClient();
        var client = new ProfileSchema.Client(raw);

        var random = new Random(20251125);
        var ids = new Guid[profiles];
        var expected = new UserProfile[profiles];
        long now = 1_764_000_000_000;
        Span<byte> idBytes = stackalloc byte[16];
        for (int i = 0; i < profiles; i++)
        {
            random.NextBytes(idBytes);
            ids[i] = new Guid(idBytes);
            expected[i] = MakeProfile(i, random, now);
        }

        var errors = new Errors(output);
        for (int i = 0; i < profiles; i++) errors.Expect(client.Put(in ids[i], in expected[i]), OpStatus.Ok, "put", i);
        output.WriteLine($"stored {profiles} profiles");

        for (int pass = 0; pass < 2; pass++)
        {
            for (int i = 0; i < profiles; i++) errors.ExpectValue(client, ids[i], expected[i], i);
        }
        ref readonly ClientCounters counters = ref raw.Counters;
        output.WriteLine($"read {2 * profiles} profiles: {counters.Hits} cache hits, {counters.Fills} misses filled from the SSD");

        int updated = 0;
        for (int i = 0; i < profiles; i += 4)
        {
            expected[i].Score += 100;
            expected[i].LastLoginUnixMs += 86_400_000;
            errors.Expect(client.Put(in ids[i], in expected[i]), OpStatus.Ok, "update", i);
            updated++;
        }
        int deleted = 0;
        for (int i = 1; i < profiles; i += 10)
        {
            errors.Expect(client.Delete(in ids[i]), OpStatus.Ok, "delete", i);
            deleted++;
        }
        for (int i = 0; i < profiles; i++)
        {
            if (i % 10 == 1)
            {
                errors.Expect(client.Get(in ids[i], out UserProfile gone), OpStatus.NotFound, "get deleted", i);
                if (ProfileSchema.ValueBytes(in gone).ContainsAnyExcept((byte)0)) errors.Fail($"get deleted #{i}: the value is not cleared");
            }
            else
            {
                errors.ExpectValue(client, ids[i], expected[i], i);
            }
        }
        errors.Expect(client.Get(Guid.Empty, out _), OpStatus.NotFound, "get never stored", -1);
        output.WriteLine($"updated {updated}, deleted {deleted}, re-read {profiles}");

        errors.Expect(client.Get(in ids[0], out UserProfile first), OpStatus.Ok, "get first", 0);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"profile {ids[0]}: {first.Name}, {first.Age}, {first.CountryCode}, score {first.Score}, last login {DateTimeOffset.FromUnixTimeMilliseconds(first.LastLoginUnixMs):u}"));

        if (errors.Count > 0)
        {
            output.WriteLine($"FAILED: {errors.Count} mismatches");
            return 1;
        }
        output.WriteLine("OK: every record read back through the generated typed client matches");
        return 0;
    }

    private static readonly string[] Names = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov", "Leslie Lamport", "Zoë Ångström", "李小龍"];
    private static readonly string[] Countries = ["GB", "US", "NL", "FR", "CN", "SE", "DE", "JP"];

    private static UserProfile MakeProfile(int i, Random random, long now)
    {
        var profile = new UserProfile
        {
            Name = ProfileName.From($"{Names[i % Names.Length]} {i}"),
            Age = (short)random.Next(18, 100),
            Score = random.Next(-1000, 1000),
            CreatedUnixMs = now - random.NextInt64(1, 1_000_000_000_000),
        };
        profile.LastLoginUnixMs = profile.CreatedUnixMs + random.NextInt64(0, now - profile.CreatedUnixMs);
        profile.SetCountry(Countries[i % Countries.Length]);
        return profile;
    }

    /// <summary>Counts and reports mismatches (the first ten in detail).</summary>
    private sealed class Errors(TextWriter output)
    {
        public int Count { get; private set; }

        public void Fail(string message)
        {
            if (++Count <= 10) output.WriteLine("MISMATCH " + message);
        }

        public void Expect(OpStatus actual, OpStatus expected, string what, int index)
        {
            if (actual != expected) Fail($"{what} #{index}: {actual}, expected {expected}");
        }

        public void ExpectValue(ProfileSchema.Client client, Guid id, in UserProfile expected, int index)
        {
            OpStatus status = client.Get(in id, out UserProfile actual);
            if (status != OpStatus.Ok) Fail($"get #{index}: {status}, expected Ok");
            else if (!ProfileSchema.ValueEquals(in actual, in expected)) Fail($"get #{index}: read '{actual.Name}' score {actual.Score}, expected '{expected.Name}' score {expected.Score}");
        }
    }
}
