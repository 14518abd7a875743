using Scalio.Ycsb;

namespace Scalio.Tests.Ycsb;

public class AllocationTests
{
    [Theory]
    [InlineData(YcsbVariant.YcsbC, YcsbWorkload.A)]
    [InlineData(YcsbVariant.Official, YcsbWorkload.D)]
    public void Choosing_and_encoding_operations_does_not_allocate(YcsbVariant variant, YcsbWorkload workload)
    {
        var plan = new YcsbWorkloadPlan(WorkloadSpec.For(workload), variant, 10_000, 10_000);
        var gen = plan.CreateGenerator(1);
        byte[] key = new byte[16];
        byte[] value = new byte[64];
        Run(gen, key, value, 1_000); // warm up JIT tiers
        long before = GC.GetAllocatedBytesForCurrentThread();
        Run(gen, key, value, 10_000);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static void Run(YcsbOperationGenerator gen, byte[] key, byte[] value, int count)
    {
        for (int i = 0; i < count; i++)
        {
            YcsbOperation op = gen.Next();
            KeyCodec.Encode(YcsbVariant.YcsbC, op.KeyNumber, key);
            YcsbValues.Fill(op.KeyNumber, 1, value);
            if (op.Kind == OperationKind.Insert)
            {
                gen.CompleteInsert(op.KeyNumber);
            }
        }
    }
}
