using System.Collections.Concurrent;
using System.Text;
using Scalio.Checking;

namespace Scalio.Tests.Checking;

public class HistoryRecorderTests
{
    [Fact]
    public void Records_begin_and_complete_with_monotonic_times()
    {
        var rec = new HistoryRecorder(clientCount: 2, operationsPerClient: 4);
        ClientRecorder c0 = rec.Client(0);
        ClientRecorder c1 = rec.Client(1);

        int put = c0.BeginPut("k"u8, "v1"u8);
        c0.Complete(put);
        int get = c1.BeginGet("k"u8);
        c1.CompleteGet(get, "v1"u8);
        int miss = c1.BeginGet([0xFF]);
        c1.CompleteGetNotFound(miss);
        int del = c0.BeginDelete("k"u8);
        c0.Complete(del);
        int lost = c0.BeginPut("k"u8, [0x00, 0x01]);
        int lostGet = c1.BeginGet("k"u8);

        List<HistoryOperation> ops = rec.ToOperations();
        Assert.Equal(6, ops.Count);
        for (int i = 1; i < ops.Count; i++)
        {
            Assert.True(ops[i - 1].Start <= ops[i].Start);
        }

        Assert.All(ops, op => Assert.True(op.End is null || op.End >= op.Start));
        Assert.Equal(new HistoryOperation(0, OperationKind.Put, "k", "v1", ops[0].Start, ops[0].End), ops[0]);
        Assert.Equal("v1", ops[1].Value);
        Assert.Equal("0xff", ops[2].Key);
        Assert.Null(ops[2].Value);
        Assert.Equal(OperationKind.Delete, ops[3].Kind);
        Assert.Equal("0x0001", ops[4].Value);
        Assert.Null(ops[4].End);
        Assert.Null(ops[5].End);
        Assert.Null(ops[5].Value);
        Assert.True(ops[0].End <= ops[1].Start);

        Assert.Equal(Verdict.Linearizable, LinearizabilityChecker.Check(ops).Verdict);

        // Completing later is visible in a new snapshot; misuse is rejected.
        c0.Complete(lost);
        Assert.NotNull(rec.ToOperations()[4].End);
        Assert.Throws<InvalidOperationException>(() => c0.Complete(lost));
        Assert.Throws<InvalidOperationException>(() => c1.Complete(lostGet));
        Assert.Throws<InvalidOperationException>(() => c0.CompleteGet(del, "x"u8));
        Assert.Throws<ArgumentOutOfRangeException>(() => c0.Complete(99));
        Assert.Throws<ArgumentOutOfRangeException>(() => rec.Client(2));
    }

    [Fact]
    public void Buffers_grow_past_the_expected_size()
    {
        var rec = new HistoryRecorder(1, operationsPerClient: 2, bytesPerOperation: 1);
        ClientRecorder c = rec.Client(0);
        for (int i = 0; i < 100; i++)
        {
            c.Complete(c.BeginPut(Encoding.ASCII.GetBytes("key" + i), Encoding.ASCII.GetBytes("value" + i)));
        }

        List<HistoryOperation> ops = rec.ToOperations();
        Assert.Equal(100, ops.Count);
        Assert.Equal("key99", ops[99].Key);
        Assert.Equal("value99", ops[99].Value);
    }

    [Fact]
    public void Hot_path_does_not_allocate_when_presized()
    {
        var rec = new HistoryRecorder(1, operationsPerClient: 3000, bytesPerOperation: 32);
        ClientRecorder c = rec.Client(0);
        c.Complete(c.BeginPut("warm"u8, "up"u8)); // JIT
        c.CompleteGet(c.BeginGet("warm"u8), "up"u8);
        c.CompleteGetNotFound(c.BeginGet("warm"u8));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 900; i++)
        {
            c.Complete(c.BeginPut("key-0001"u8, "value-0001"u8));
            c.CompleteGet(c.BeginGet("key-0001"u8), "value-0001"u8);
            c.CompleteGetNotFound(c.BeginGet("key-0002"u8));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Concurrent_clients_on_an_atomic_map_record_a_linearizable_history()
    {
        const int clients = 4;
        const int opsPerClient = 1500;
        var rec = new HistoryRecorder(clients, opsPerClient);
        var map = new ConcurrentDictionary<string, string>();
        var threads = new Thread[clients];
        for (int t = 0; t < clients; t++)
        {
            int id = t;
            threads[t] = new Thread(() =>
            {
                ClientRecorder c = rec.Client(id);
                var rng = new Random(id);
                for (int i = 0; i < opsPerClient; i++)
                {
                    string key = "k" + rng.Next(4);
                    byte[] keyBytes = Encoding.ASCII.GetBytes(key);
                    int roll = rng.Next(10);
                    if (roll < 5)
                    {
                        int g = c.BeginGet(keyBytes);
                        if (map.TryGetValue(key, out string? v))
                        {
                            c.CompleteGet(g, Encoding.ASCII.GetBytes(v));
                        }
                        else
                        {
                            c.CompleteGetNotFound(g);
                        }
                    }
                    else if (roll < 9)
                    {
                        string v = id + "-" + i;
                        int p = c.BeginPut(keyBytes, Encoding.ASCII.GetBytes(v));
                        map[key] = v;
                        c.Complete(p);
                    }
                    else
                    {
                        int d = c.BeginDelete(keyBytes);
                        map.TryRemove(key, out _);
                        c.Complete(d);
                    }
                }
            });
            threads[t].Start();
        }

        // A snapshot taken while the clients run must be consistent too.
        List<HistoryOperation> midway = rec.ToOperations();
        foreach (Thread t in threads)
        {
            t.Join();
        }

        Assert.Equal(Verdict.Linearizable, LinearizabilityChecker.Check(midway).Verdict);
        List<HistoryOperation> ops = rec.ToOperations();
        Assert.Equal(clients * opsPerClient, ops.Count);
        CheckResult r = LinearizabilityChecker.Check(ops);
        Assert.True(r.Verdict == Verdict.Linearizable, r.Format());
        Assert.Equal(4, r.KeyCount);
    }
}
