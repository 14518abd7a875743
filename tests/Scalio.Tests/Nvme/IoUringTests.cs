using System.Runtime.InteropServices;
using Scalio.Nvme;
using Xunit.Abstractions;

namespace Scalio.Tests.Nvme;

public sealed unsafe class IoUringTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("scalio-io-uring-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>False (test passes vacuously, says why) only where the kernel refuses io_uring outright.</summary>
    internal static bool Available(ITestOutputHelper output)
    {
        int errno = IoUring.ProbeSetupErrno();
        if (errno is 38 or 1) // ENOSYS, EPERM (seccomp, kernel.io_uring_disabled)
        {
            output.WriteLine($"io_uring unavailable here (errno {errno}): nothing to test");
            return false;
        }
        Assert.Equal(0, errno);
        return true;
    }

    [Fact]
    public void Many_o_direct_reads_and_writes_in_flight_complete_with_their_own_data()
    {
        if (!Available(output)) return;
        const int Blocks = 64, Bs = 4096, Depth = 16;
        using var ns = FileNamespace.Open(Path.Combine(_dir, "ns.img"), 1, Bs, Blocks);
        output.WriteLine(ns.ToString());
        using var ring = IoUring.TryCreate(Depth, out string? error);
        Assert.True(ring is not null, error);
        Assert.True(ring.Entries >= Depth);
        byte* buffers = (byte*)NativeMemory.AlignedAlloc(Depth * Bs, 4096);
        try
        {
            // Write block b (b < Depth) with pattern b+1 through the ring, all in flight at once.
            for (int i = 0; i < Depth; i++)
            {
                new Span<byte>(buffers + i * Bs, Bs).Fill((byte)(i + 1));
                Assert.True(ring.TryPrepare(IoUring.OpWrite, ns.FileDescriptor, (long)(i * 3 % Blocks) * Bs, buffers + i * Bs, Bs, 1000 + (ulong)i));
            }
            Assert.False(ring.TryPrepare(IoUring.OpWrite, ns.FileDescriptor, 0, buffers, Bs, 0)); // full: Depth in flight
            Assert.Equal(Depth, ring.Unsubmitted);
            Assert.Equal(Depth, ring.Submit());
            var seen = new HashSet<ulong>();
            while (seen.Count < Depth)
            {
                if (!ring.TryReap(out ulong id, out int res)) { ring.SubmitAndWait(1); continue; }
                Assert.Equal(Bs, res);
                Assert.True(seen.Add(id));
            }
            Assert.Equal(0, ring.InFlight);

            // Read them back in reverse buffer order, again all in flight.
            NativeMemory.Clear(buffers, Depth * Bs);
            for (int i = 0; i < Depth; i++)
                Assert.True(ring.TryPrepare(IoUring.OpRead, ns.FileDescriptor, (long)(i * 3 % Blocks) * Bs, buffers + (Depth - 1 - i) * Bs, Bs, (ulong)i));
            ring.Submit();
            int done = 0, maxSeenInFlight = ring.InFlight;
            while (done < Depth)
            {
                if (!ring.TryReap(out ulong id, out int res)) { ring.SubmitAndWait(1); continue; }
                Assert.Equal(Bs, res);
                var data = new ReadOnlySpan<byte>(buffers + (Depth - 1 - (int)id) * Bs, Bs);
                Assert.True(data.IndexOfAnyExcept((byte)(id + 1)) < 0, $"read {id} got someone else's block");
                done++;
            }
            Assert.Equal(Depth, maxSeenInFlight);

            // A read past the end of the file completes short (0 bytes), an unaligned O_DIRECT read fails with EINVAL.
            Assert.True(ring.TryPrepare(IoUring.OpRead, ns.FileDescriptor, (long)Blocks * Bs, buffers, Bs, 7));
            ring.SubmitAndWait(1);
            Assert.True(ring.TryReap(out ulong eofId, out int eof));
            Assert.Equal(7ul, eofId);
            Assert.Equal(0, eof);
            if (ns.IsDirectIo)
            {
                Assert.True(ring.TryPrepare(IoUring.OpRead, ns.FileDescriptor, 0, buffers + 1, Bs, 8));
                ring.SubmitAndWait(1);
                Assert.True(ring.TryReap(out _, out int unaligned));
                Assert.Equal(-22, unaligned);
            }
        }
        finally
        {
            NativeMemory.AlignedFree(buffers);
        }
    }
}
