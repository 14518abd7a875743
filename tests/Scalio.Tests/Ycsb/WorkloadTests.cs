using Scalio.Ycsb;

namespace Scalio.Tests.Ycsb;

public class WorkloadTests
{
    // Proportions from YCSB's workloads/workloada..f files.
    [Theory]
    [InlineData(YcsbWorkload.A, 0.5, 0.5, 0.0, 0.0)]
    [InlineData(YcsbWorkload.B, 0.95, 0.05, 0.0, 0.0)]
    [InlineData(YcsbWorkload.C, 1.0, 0.0, 0.0, 0.0)]
    [InlineData(YcsbWorkload.D, 0.95, 0.0, 0.05, 0.0)]
    [InlineData(YcsbWorkload.F, 0.5, 0.0, 0.0, 0.5)]
    public void Operation_mix_matches_the_workload(YcsbWorkload workload, double read, double update, double insert, double rmw)
    {
        foreach (YcsbVariant variant in new[] { YcsbVariant.YcsbC, YcsbVariant.Official })
        {
            var plan = new YcsbWorkloadPlan(WorkloadSpec.For(workload), variant, 10_000, 100_000);
            var gen = plan.CreateGenerator(42);
            var counts = new int[4];
            const int n = 100_000;
            for (int i = 0; i < n; i++)
            {
                YcsbOperation op = gen.Next();
                counts[(int)op.Kind]++;
                if (op.Kind == OperationKind.Insert)
                {
                    gen.CompleteInsert(op.KeyNumber);
                }
            }
            Assert.Equal(read, (double)counts[(int)OperationKind.Read] / n, 2);
            Assert.Equal(update, (double)counts[(int)OperationKind.Update] / n, 2);
            Assert.Equal(insert, (double)counts[(int)OperationKind.Insert] / n, 2);
            Assert.Equal(rmw, (double)counts[(int)OperationKind.ReadModifyWrite] / n, 2);
        }
    }

    [Fact]
    public void Workload_e_is_refused_with_a_reason()
    {
        var ex = Assert.Throws<NotSupportedException>(() => WorkloadSpec.ParseWorkload("E"));
        Assert.Contains("scan", ex.Message);
        Assert.Contains("hash", ex.Message);
        Assert.Throws<NotSupportedException>(() => WorkloadSpec.ParseWorkload("workloade"));
    }

    [Fact]
    public void Workload_letters_parse()
    {
        Assert.Equal(YcsbWorkload.A, WorkloadSpec.ParseWorkload("a"));
        Assert.Equal(YcsbWorkload.B, WorkloadSpec.ParseWorkload("workloadb"));
        Assert.Equal(YcsbWorkload.F, WorkloadSpec.ParseWorkload(" F "));
        var ex = Assert.Throws<ArgumentException>(() => WorkloadSpec.ParseWorkload("g"));
        Assert.Contains("A, B, C, D, F", ex.Message);
    }

    [Theory]
    [InlineData(YcsbVariant.YcsbC)]
    [InlineData(YcsbVariant.Official)]
    public void Transaction_keys_stay_within_loaded_records(YcsbVariant variant)
    {
        var plan = new YcsbWorkloadPlan(WorkloadSpec.For(YcsbWorkload.C), variant, 1000, 100_000);
        var gen = plan.CreateGenerator(3);
        for (int i = 0; i < 50_000; i++)
        {
            Assert.InRange(gen.Next().KeyNumber, 0, 999);
        }
    }

    [Fact]
    public void Key_space_sizes_follow_each_variant()
    {
        var d = WorkloadSpec.For(YcsbWorkload.D);
        // new_keys = (int)(op_count * insert_proportion * 2) = 100
        var ycsbC = new YcsbWorkloadPlan(d, YcsbVariant.YcsbC, 1000, 1000);
        Assert.Equal(100, ycsbC.ExpectedNewKeys);
        Assert.Equal(1099, ycsbC.ZipfianMax); // ScrambledZipfianGenerator(record_count + new_keys): [0, n - 1]
        var official = new YcsbWorkloadPlan(d, YcsbVariant.Official, 1000, 1000);
        Assert.Equal(1100, official.ZipfianMax); // ScrambledZipfianGenerator(0, recordcount + expectednewkeys): inclusive
    }

    [Fact]
    public void Official_inserts_take_new_keys_that_become_readable_after_acknowledgement()
    {
        var plan = new YcsbWorkloadPlan(WorkloadSpec.For(YcsbWorkload.D), YcsbVariant.Official, 1000, 10_000);
        var gen = plan.CreateGenerator(8);
        long expectedNext = 1000;
        int inserts = 0;
        for (int i = 0; i < 20_000; i++)
        {
            YcsbOperation op = gen.Next();
            if (op.Kind == OperationKind.Insert)
            {
                Assert.Equal(expectedNext++, op.KeyNumber);
                Assert.Equal(op.KeyNumber - 1, plan.LastInsertedKey);
                gen.CompleteInsert(op.KeyNumber);
                Assert.Equal(op.KeyNumber, plan.LastInsertedKey);
                inserts++;
            }
            else
            {
                Assert.InRange(op.KeyNumber, 0, plan.LastInsertedKey);
            }
        }
        Assert.True(inserts > 500);
    }

    // The Scalio artifact's kv_ycsb_next takes every transaction key from NextTransactionKey, so YCSB-C inserts
    // overwrite loaded records and the latest distribution's basis never moves.
    [Fact]
    public void YcsbC_inserts_overwrite_existing_records()
    {
        var plan = new YcsbWorkloadPlan(WorkloadSpec.For(YcsbWorkload.D), YcsbVariant.YcsbC, 1000, 10_000);
        var gen = plan.CreateGenerator(8);
        int inserts = 0;
        for (int i = 0; i < 20_000; i++)
        {
            YcsbOperation op = gen.Next();
            Assert.InRange(op.KeyNumber, 1, 999);
            if (op.Kind == OperationKind.Insert)
            {
                gen.CompleteInsert(op.KeyNumber);
                inserts++;
            }
        }
        Assert.True(inserts > 500);
        Assert.Equal(999, plan.LastInsertedKey);
    }

    [Fact]
    public void Same_seed_gives_the_same_stream()
    {
        var plan = new YcsbWorkloadPlan(WorkloadSpec.For(YcsbWorkload.A), YcsbVariant.YcsbC, 10_000, 1000);
        var a = plan.CreateGenerator(77);
        var b = plan.CreateGenerator(77);
        var c = plan.CreateGenerator(78);
        bool anyDifferent = false;
        for (int i = 0; i < 1000; i++)
        {
            YcsbOperation x = a.Next();
            Assert.Equal(x, b.Next());
            anyDifferent |= x != c.Next();
        }
        Assert.True(anyDifferent);
    }
}
