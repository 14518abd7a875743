using System.Diagnostics;

namespace Scalio.Tests.Generators;

/// <summary>Runs samples/ProfileStore (a Guid-keyed user-profile store on the generated typed client) in CI.</summary>
public class ProfileStoreSampleTests
{
    [Fact]
    public async Task Sample_stores_and_reads_profiles_end_to_end()
    {
        var output = new StringWriter();
        var clock = Stopwatch.StartNew();
        int exitCode = await Task.Run(() => ProfileStore.Program.Run(output, profiles: 200)).WaitAsync(TimeSpan.FromSeconds(60));
        string text = output.ToString();

        Assert.True(exitCode == 0, "the sample reported a failure:\n" + text);
        Assert.Contains("schema ProfileSchema: key 16 B, value 56 B, slot 96 B, 8 slots, bucket 768 B", text);
        Assert.Contains("stored 200 profiles", text);
        Assert.Contains("updated 50, deleted 20, re-read 200", text);
        Assert.Contains("OK: every record read back through the generated typed client matches", text);
        Assert.DoesNotContain("MISMATCH", text);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60));
    }

    [Fact]
    public void Sample_schema_is_generated_with_the_profile_layout()
    {
        Assert.Equal(16, ProfileStore.ProfileSchema.KeyCapacity);
        Assert.Equal(56, ProfileStore.ProfileSchema.ValueCapacity);
        Assert.Equal(ProfileStore.ProfileSchema.ValueCapacity, System.Runtime.CompilerServices.Unsafe.SizeOf<ProfileStore.UserProfile>());
        Assert.Equal("Zoë Ångström 6", ProfileStore.ProfileName.From("Zoë Ångström 6").ToString());
        Assert.Throws<ArgumentException>(() => ProfileStore.ProfileName.From(new string('x', 33)));
    }
}
