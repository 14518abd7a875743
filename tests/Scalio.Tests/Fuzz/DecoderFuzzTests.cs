using System.Buffers.Binary;
using System.IO.Hashing;
using Scalio.Cli.Fuzz;
using Scalio.Fast.Cache;
using Scalio.Fast.Server;
using Scalio.Fast.Storage;

namespace Scalio.Tests.Fuzz;

/// <summary>
/// Issue 16, must-show 4, in the default suite: the saved corpus (tests/Scalio.Tests/Fuzz/corpus, one directory per
/// decoder) replays without a crash or hang, a short seeded run (2,000 inputs per decoder) finds none, the inputs that
/// found real bugs stay fixed, and the harness itself does report a crash. The on-demand campaign is
/// <c>scalio fuzz --inputs 100000</c> (docs/faults.md).
/// </summary>
public sealed class DecoderFuzzTests
{
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(1);

    private static string CorpusDirectory()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string c = Path.Combine(d.FullName, "tests", "Scalio.Tests", "Fuzz", "corpus");
            if (Directory.Exists(c)) return c;
        }
        throw new DirectoryNotFoundException("tests/Scalio.Tests/Fuzz/corpus not found above " + AppContext.BaseDirectory);
    }

    public static TheoryData<string> Targets() => new(FuzzTargets.Names);

    [Theory]
    [MemberData(nameof(Targets))]
    public void The_corpus_of_each_decoder_replays_without_a_crash_or_hang(string name)
    {
        string dir = Path.Combine(CorpusDirectory(), name);
        string[] files = Directory.Exists(dir) ? Directory.GetFiles(dir, "*.bin") : [];
        Assert.True(files.Length >= 3, $"the corpus of {name} has {files.Length} inputs (regenerate: scalio fuzz --target {name} --save-corpus tests/Scalio.Tests/Fuzz/corpus)");
        using var target = FuzzTargets.Create(name);
        var stats = new FuzzStats(name);
        foreach (string f in files) DecoderFuzz.One(target, File.ReadAllBytes(f), HangBound, stats);
        Assert.True(stats.Clean, $"{name}: {string.Join("; ", stats.Failures.Select(x => x.What))}");
        Assert.Equal(files.Length, stats.Inputs);
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void A_short_seeded_run_of_each_decoder_finds_no_crash_or_hang(string name)
    {
        using var target = FuzzTargets.Create(name);
        var stats = DecoderFuzz.Run(target, 2_000, seed: 16, HangBound);
        Assert.True(stats.Clean, $"{name}: {string.Join("; ", stats.Failures.Select(x => x.What))}");
        Assert.Equal(2_000, stats.Inputs);
        // Both paths are exercised: mutations that still decode and mutations that are refused.
        Assert.True(stats.Accepted > 0 && stats.Rejected > 0, $"{name}: accepted {stats.Accepted}, rejected {stats.Rejected}");
    }

    [Fact]
    public void The_harness_reports_an_undocumented_exception_as_a_crash_and_a_slow_input_as_a_hang()
    {
        using var target = new Broken();
        var stats = new FuzzStats("broken");
        DecoderFuzz.One(target, [1, 2, 3], HangBound, stats);               // IndexOutOfRange: a crash
        DecoderFuzz.One(target, [9], HangBound, stats);                     // InvalidDataException: documented refusal
        DecoderFuzz.One(target, [], TimeSpan.FromMilliseconds(1), stats);   // sleeps 20 ms: a hang at a 1 ms bound
        Assert.Equal((3, 1, 1, 1L), (stats.Inputs, stats.Crashes, stats.Hangs, stats.Rejected));
        Assert.False(stats.Clean);
    }

    /// <summary>Found by the fuzzer: a verified block filled to its last byte whose record count is one too high made
    /// <see cref="BucketBlock.Rewrite"/> (the server's read-modify-write) read past the page: ArgumentOutOfRangeException.</summary>
    [Fact]
    public void Regression_a_full_block_with_one_record_too_many_is_refused_as_invalid_data()
    {
        var block = new byte[4096];
        var next = new byte[4096];
        for (int i = 0; i < 19; i++)
        {
            Assert.True(BucketBlock.Rewrite(i == 0 ? [] : block, next, 5, (ulong)(200 + i), System.Text.Encoding.ASCII.GetBytes($"full{i:D12}"), new byte[i < 18 ? 200 : 84], remove: false));
            (block, next) = (next, block);
        }
        Assert.Equal(4096u, BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(24))); // filled to the last byte
        BinaryPrimitives.WriteUInt16LittleEndian(block.AsSpan(12), 20);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(4), (uint)XxHash3.HashToUInt64(block.AsSpan(8)));
        Assert.True(BucketBlock.Verify(block));
        Assert.Equal(BlockLookup.Corrupt, BucketBlock.Find(block, 5, BucketBlock.SequenceOf(block), "absent-key-00000"u8, out _));
        var e = Assert.Throws<InvalidDataException>(() => BucketBlock.Rewrite(block, next, 5, 300, "other-key-000000"u8, new byte[64], remove: false));
        Assert.Contains("malformed at record 19", e.Message);
    }

    /// <summary>Found by the fuzzer: a descriptor whose clock reading does not fit this process's Stopwatch (frequency 1 Hz,
    /// a huge reading) was accepted with a wrapped-around clock base instead of being refused.</summary>
    [Fact]
    public void Regression_a_descriptor_clock_reading_out_of_range_is_refused()
    {
        var d = new ServerDescriptor(new SlotLayout(16, 64), 7, 64, 1024, 9, 4096, 4096, [4096], 0, 100);
        byte[] b = d.Encode(1_000);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(48), 1);              // server Stopwatch frequency: 1 Hz
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(56), long.MaxValue / 2); // its clock reading
        var e = Assert.Throws<InvalidDataException>(() => ServerDescriptor.Decode(b, 1_000, 2_000));
        Assert.Contains("out of range", e.Message);
        Assert.Equal(d.CacheBuckets, ServerDescriptor.Decode(d.Encode(1_000), 1_000, 2_000).CacheBuckets); // a sane one still decodes
    }

    private sealed class Broken : FuzzTarget
    {
        public override string Name => "broken";

        public override string Contract => "InvalidDataException";

        public override IReadOnlyList<byte[]> Seeds(Random random) => [[0]];

        public override bool Decode(byte[] input)
        {
            if (input.Length == 0) Thread.Sleep(20);
            else if (input[0] == 9) throw new InvalidDataException("refused");
            else _ = input[input.Length + 1];
            return true;
        }

        public override bool IsRejection(Exception e) => e is InvalidDataException;
    }
}
