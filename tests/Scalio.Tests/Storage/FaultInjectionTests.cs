using Scalio.Checking;
using Scalio.Fast;
using Scalio.Nvme;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.Storage;

/// <summary>Device I/O errors (<see cref="FaultyNamespace"/>): a failed batch is never acknowledged, never seen, the
/// server stays up and a later recovery holds exactly the acknowledged values.</summary>
public class FaultInjectionTests
{
    [Fact]
    public void The_namespace_fails_writes_and_reads_as_told_and_reproducibly()
    {
        using var ns = new FaultyNamespace(new RamNamespace(1, 512, 64), seed: 5);
        var data = new byte[4 * 512];
        Array.Fill(data, (byte)7);
        var back = new byte[4 * 512];
        Assert.True(ns.Write(0, 4, data, fua: true).IsSuccess);

        ns.WriteErrorProbability = 1;
        ns.WriteFaultKind = InjectedWriteFault.Refused;
        Assert.Equal(NvmeStatus.WriteFault, ns.Write(8, 4, data, fua: true));
        Assert.True(ns.Inner.Read(8, 4, back).IsSuccess);
        Assert.All(back, b => Assert.Equal(0, b)); // nothing landed
        ns.WriteFaultKind = InjectedWriteFault.Short;
        Assert.Equal(NvmeStatus.WriteFault, ns.Write(8, 4, data, fua: true));
        Assert.True(ns.Inner.Read(8, 4, back).IsSuccess);
        Assert.True(back.AsSpan(0, 1024).SequenceEqual(data.AsSpan(0, 1024)) && back.AsSpan(1024).IndexOfAnyExcept((byte)0) < 0); // half landed
        ns.WriteFaultKind = InjectedWriteFault.UnconfirmedFlush;
        Assert.Equal(NvmeStatus.WriteFault, ns.Write(16, 4, data, fua: true));
        Assert.True(ns.Inner.Read(16, 4, back).IsSuccess);
        Assert.True(back.AsSpan().SequenceEqual(data)); // all landed, yet reported failed
        ns.WriteFaultKind = InjectedWriteFault.NoSpace;
        Assert.Equal(NvmeStatus.CapacityExceeded, ns.Write(24, 4, data, fua: true));
        Assert.True(ns.Inner.Read(24, 4, back).IsSuccess);
        Assert.All(back, b => Assert.Equal(0, b));
        Assert.Equal(4, ns.InjectedWriteErrors);

        ns.WriteErrorProbability = 0;
        ns.ReadErrorProbability = 1;
        Assert.Equal(NvmeStatus.UnrecoveredReadError, ns.Read(0, 4, back));
        Assert.Equal(1, ns.InjectedReadErrors);
        Assert.Throws<ArgumentOutOfRangeException>(() => ns.ReadErrorProbability = 1.5);

        ns.ReadErrorProbability = 0;
        ns.SlowIoProbability = 1;
        ns.SlowIoDelay = TimeSpan.FromMilliseconds(20);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(ns.Read(0, 4, back).IsSuccess);
        Assert.True(clock.ElapsedMilliseconds >= 19, $"a slow read took {clock.ElapsedMilliseconds} ms");
        Assert.Equal(1, ns.InjectedSlowIos);

        // The same seed fails the same I/Os.
        static string Pattern(long seed)
        {
            using var f = new FaultyNamespace(new RamNamespace(1, 512, 64), seed) { ReadErrorProbability = 0.3 };
            var buffer = new byte[512];
            return string.Concat(Enumerable.Range(0, 64).Select(i => f.Read((ulong)i, 1, buffer).IsSuccess ? '.' : 'x'));
        }
        Assert.Equal(Pattern(9), Pattern(9));
        Assert.NotEqual(Pattern(9), Pattern(10));
        Assert.Contains('x', Pattern(9));
    }

    [Fact]
    public void A_discarded_put_whose_value_is_read_is_a_violation()
    {
        var recorder = new HistoryRecorder(2);
        var a = recorder.Client(0);
        int put = a.BeginPut("x"u8, "refused"u8);
        a.Discard(put);
        int ok = a.BeginPut("x"u8, "kept"u8);
        a.Complete(ok);
        var b = recorder.Client(1);
        int get = b.BeginGet("x"u8);
        b.CompleteGet(get, "refused"u8);
        var history = recorder.ToOperations();
        Assert.Equal(2, history.Count);
        Assert.Equal(Verdict.NotLinearizable, LinearizabilityChecker.Check(history).Verdict);
        int another = a.BeginGet("x"u8);
        a.CompleteGetNotFound(another);
        Assert.Throws<ArgumentOutOfRangeException>(() => a.Discard(ok)); // not the last one begun
    }

    /// <summary>A write that failed after every block reached the file (an unconfirmed flush) was answered with an error;
    /// neither a crash right after it nor a clean restart may bring its value back.</summary>
    [Fact]
    public void A_put_refused_after_its_blocks_landed_does_not_come_back_after_a_restart()
    {
        if (!OperatingSystem.IsLinux()) return; // file namespaces are Linux-only
        using var dir = new TempDir();
        using var crash = new TempDir();
        FaultyNamespace? faulty = null;
        ScalioStoreOptions Options(bool faults) => new()
        {
            ExpectedRecords = 1000,
            DataDirectory = dir.Path,
            BatchSize = 1,
            WrapDevice = faults ? (_, ns) => faulty = new FaultyNamespace(ns, seed: 1) : null,
        };
        var buffer = new byte[64];
        using (var store = new ScalioStore(Options(faults: true)))
        using (var c = store.OpenClient())
        {
            Assert.Equal(OpStatus.Ok, c.Put(Key("k"), Value("v1")));
            faulty!.WriteFaultKind = InjectedWriteFault.UnconfirmedFlush;
            faulty.WriteErrorProbability = 1;
            Assert.NotEqual(OpStatus.Ok, c.Put(Key("k"), Value("v2")));
            faulty.WriteErrorProbability = 0;
            Assert.Equal(OpStatus.Ok, c.Get(Key("k"), buffer, out _));
            Assert.Equal("v1", Text(buffer));
            // A crash now: the files as they are, with the refused batch's blocks at the head of the log.
            foreach (var f in Directory.GetFiles(dir.Path, "*.img")) File.Copy(f, Path.Combine(crash.Path, Path.GetFileName(f)));
        }
        using (var store = new ScalioStore(Options(faults: false) is var o ? new ScalioStoreOptions { ExpectedRecords = o.ExpectedRecords, DataDirectory = crash.Path, BatchSize = 1 } : null))
        using (var c = store.OpenClient())
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key("k"), buffer, out _));
            Assert.Equal("v1", Text(buffer));
        }
        using (var store = new ScalioStore(Options(faults: false)))
        using (var c = store.OpenClient())
        {
            Assert.Equal(OpStatus.Ok, c.Get(Key("k"), buffer, out _));
            Assert.Equal("v1", Text(buffer));
        }
    }

    /// <summary>Two writers and a reader on a file-backed store whose SSD fails 5 % of its writes (every kind) and is slow
    /// on 2 % of its I/O: failed
    /// PUTs are answered with an error and left out of the history, which must still be linearizable (no reader saw a
    /// refused value); the server keeps serving, and a restart holds each key's last acknowledged value.</summary>
    [Fact]
    public void Failed_batches_are_never_acknowledged_nor_seen_and_recovery_keeps_the_acknowledged_values()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        FaultyNamespace? faulty = null;
        ScalioStoreOptions Options(bool faults) => new()
        {
            ExpectedRecords = 2000,
            CacheBuckets = 4,
            DataDirectory = dir.Path,
            BatchSize = 4,
            WrapDevice = faults ? (_, ns) => faulty = new FaultyNamespace(ns, seed: 3) : null,
        };
        var recorder = new HistoryRecorder(3);
        var lastAcked = new string?[2, 8];
        long failed = 0, acked = 0;
        using (var store = new ScalioStore(Options(faults: true)))
        {
            faulty!.WriteErrorProbability = 0.05;
            faulty.SlowIoProbability = 0.02;
            using var stop = new ManualResetEventSlim();
            var writers = Enumerable.Range(0, 2).Select(w => new Thread(() =>
            {
                using var c = store.OpenClient();
                var rec = recorder.Client(w);
                for (int i = 0; i < 400; i++)
                {
                    int k = i % 8;
                    string text = $"w{w}-{i}";
                    byte[] key = Key($"w{w}k{k}"), value = Value(text);
                    int op = rec.BeginPut(key, value);
                    var st = c.Put(key, value);
                    if (st == OpStatus.Ok) { rec.Complete(op); lastAcked[w, k] = text; Interlocked.Increment(ref acked); }
                    else { rec.Discard(op); Interlocked.Increment(ref failed); }
                }
            })).ToArray();
            var reader = new Thread(() =>
            {
                using var c = store.OpenClient();
                var rec = recorder.Client(2);
                var buffer = new byte[64];
                for (int i = 0; !stop.IsSet; i++)
                {
                    byte[] key = Key($"w{i % 2}k{i / 2 % 8}");
                    int op = rec.BeginGet(key);
                    var st = c.Get(key, buffer, out int n);
                    if (st == OpStatus.Ok) rec.CompleteGet(op, buffer.AsSpan(0, n));
                    else if (st == OpStatus.NotFound) rec.CompleteGetNotFound(op);
                    else rec.Discard(op);
                }
            });
            foreach (var t in writers) t.Start();
            reader.Start();
            foreach (var t in writers) Assert.True(t.Join(TimeSpan.FromSeconds(60)), "a writer hung");
            stop.Set();
            Assert.True(reader.Join(TimeSpan.FromSeconds(30)), "the reader hung");
            faulty.WriteErrorProbability = 0;
            faulty.SlowIoProbability = 0;
            Assert.True(faulty.InjectedSlowIos > 0, "no I/O was slowed");
            Assert.True(failed > 0 && acked > 100, $"{failed} failed, {acked} acknowledged ({faulty.InjectedWriteErrors} device writes failed)");
            var result = LinearizabilityChecker.Check(recorder.ToOperations());
            Assert.True(result.Verdict == Verdict.Linearizable, result.Format());
            using var probe = store.OpenClient();
            Assert.Equal(OpStatus.Ok, probe.Put(Key("probe"), Value("up")));
        }
        using (var store = new ScalioStore(Options(faults: false)))
        using (var c = store.OpenClient())
        {
            var buffer = new byte[64];
            for (int w = 0; w < 2; w++)
            {
                for (int k = 0; k < 8; k++)
                {
                    if (lastAcked[w, k] is not { } expected) continue;
                    Assert.Equal(OpStatus.Ok, c.Get(Key($"w{w}k{k}"), buffer, out _));
                    Assert.Equal(expected, Text(buffer));
                }
            }
        }
    }
}
