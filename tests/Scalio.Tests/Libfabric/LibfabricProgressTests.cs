using Scalio.Verbs;
using Scalio.Verbs.Libfabric;

namespace Scalio.Tests.Libfabric;

/// <summary>The progress strategies (<see cref="LibfabricProgressMode"/>, caller-driven progress) give the same results.</summary>
public sealed class LibfabricProgressTests
{
    public static TheoryData<LibfabricProgressMode, bool, int> Modes => new()
    {
        { LibfabricProgressMode.Backoff, false, 0 },
        { LibfabricProgressMode.Adaptive, false, 0 },
        { LibfabricProgressMode.Adaptive, true, 0 },
        { LibfabricProgressMode.Backoff, true, 0 },
        { LibfabricProgressMode.Adaptive, true, 1000 }, // the remote client's setting: the progress thread steps back
    };

    [LibfabricTheory]
    [MemberData(nameof(Modes))]
    public void Read_cas_and_send_work_under_every_strategy(LibfabricProgressMode mode, bool callerDrives, int stepBack)
    {
        // Short idle windows, so the domains go idle between the steps and wake up again.
        using var fabric = LibfabricFabric.Open(new LibfabricOptions
        {
            ProgressMode = mode, CallerDrivesProgress = callerDrives, BusyPollMicroseconds = 20, DeepIdleMilliseconds = 5, CallerPollMicroseconds = 10,
            CallerStepBackMicroseconds = stepBack,
        });
        using var a = fabric.CreateDomain();
        using var b = fabric.CreateDomain();
        using var qa = a.CreateQueuePair(a.CreateCompletionQueue(), a.CreateCompletionQueue());
        using var qb = b.CreateQueuePair(b.CreateCompletionQueue(), b.CreateCompletionQueue());
        LibfabricFabric.Connect(qa, qb);
        using var ma = a.Allocate(4096, MemoryAccess.All);
        using var mb = b.Allocate(4096, MemoryAccess.All);
        for (int i = 0; i < 64; i++) mb.Span[i] = (byte)(i + 3);

        for (int round = 0; round < 3; round++)
        {
            qa.PostSend(WorkRequest.Read((ulong)(10 + round), ma.AddressOf(0), 64, ma.LocalKey, 0, mb.RemoteKey));
            Assert.Equal(CompletionStatus.Success, LibfabricProviderTests.Wait(qa.SendQueue).Status);
            Assert.True(ma.Span[..64].SequenceEqual(mb.Span[..64]));

            qa.PostSend(WorkRequest.CompareSwap((ulong)(20 + round), ma.AddressOf(64), ma.LocalKey, 512, mb.RemoteKey, (ulong)round, (ulong)round + 1));
            Assert.Equal(CompletionStatus.Success, LibfabricProviderTests.Wait(qa.SendQueue).Status);
            Assert.Equal((ulong)round, BitConverter.ToUInt64(ma.Span.Slice(64, 8)));

            qb.PostReceive(new ReceiveRequest((ulong)(30 + round), mb.AddressOf(1024), 16, mb.LocalKey));
            ma.Span[2048] = (byte)(0xA0 + round);
            qa.PostSend(WorkRequest.Send((ulong)(40 + round), ma.AddressOf(2048), 1, ma.LocalKey));
            Assert.Equal(CompletionStatus.Success, LibfabricProviderTests.Wait(qa.SendQueue).Status);
            var rc = LibfabricProviderTests.Wait(qb.ReceiveQueue);
            Assert.Equal(CompletionStatus.Success, rc.Status);
            Assert.Equal((byte)(0xA0 + round), mb.Span[1024]);
            Thread.Sleep(15); // past the busy window and the deep-idle threshold: the next request meets idle domains
        }
        Assert.Equal((ulong)3, BitConverter.ToUInt64(mb.Span.Slice(512, 8)));
    }

    [LibfabricFact]
    public void Progress_options_out_of_range_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LibfabricFabric.Open(new LibfabricOptions { BusyPollMicroseconds = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LibfabricFabric.Open(new LibfabricOptions { IdlePollMicroseconds = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LibfabricFabric.Open(new LibfabricOptions { CallerPollMicroseconds = -5 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LibfabricFabric.Open(new LibfabricOptions { CallerStepBackMicroseconds = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LibfabricFabric.Open(new LibfabricOptions { CallerStepBackMicroseconds = 100_001 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LibfabricFabric.Open(new LibfabricOptions { ProgressMode = (LibfabricProgressMode)7 }));
    }
}

/// <summary>A theory that needs libfabric; skipped, with the reason, only where libfabric cannot be loaded.</summary>
public sealed class LibfabricTheoryAttribute : TheoryAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when libfabric is not installed.</summary>
    public LibfabricTheoryAttribute()
    {
        if (!LibfabricFabric.IsInstalled(out string reason))
            Skip = "libfabric is not installed (apt-get install libfabric1): " + reason;
    }
}
