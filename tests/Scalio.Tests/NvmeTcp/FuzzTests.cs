using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;

namespace Scalio.Tests.NvmeTcp;

/// <summary>
/// Malformed PDUs sent to the target end in a C2HTermReq or a closed connection, never a crash or a hang
/// (NVMe/TCP 1.0 §3.6.2.5 C2HTermReq: FES/FEI). A seeded fuzzer mutates valid PDUs; a few cases are checked exactly.
/// </summary>
public sealed class FuzzTests
{
    private static readonly TimeSpan PduTimeout = TimeSpan.FromMilliseconds(300);

    private enum Outcome { Terminated, Closed, Answered, Hung }

    private sealed record Result(Outcome Outcome, ushort Fes, uint Fei);

    private static Socket Open(int port)
    {
        var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 3000 };
        s.Connect(new IPEndPoint(IPAddress.Loopback, port));
        return s;
    }

    private static byte[] ICReq(bool hd = false)
    {
        var b = new byte[128];
        new ICReqPdu { PduLength = 128, HeaderDigestEnable = hd }.WriteHeader(b);
        return b;
    }

    private static void Handshake(Socket s, bool hd = false)
    {
        s.Send(ICReq(hd));
        var resp = new byte[128];
        int got = 0;
        while (got < 128)
        {
            int n = s.Receive(resp, got, 128 - got, SocketFlags.None);
            Assert.True(n > 0, "target closed the connection during ICResp");
            got += n;
        }

        Assert.Equal(NvmeTcpPduType.ICResp, resp[0]);
    }

    private static byte[] ConnectCapsule(ushort cid = 1)
    {
        var pdu = new byte[72 + 1024];
        new CapsuleCmdPdu { PduDataOffset = 72, PduLength = (uint)pdu.Length }.WriteHeader(pdu);
        new NvmeConnectCommand { CommandId = cid, Flags = 0x40, SglIdentifier = 0x01, SglLength = 1024, QueueId = 0, SubmissionQueueSize = 31 }.WriteTo(pdu.AsSpan(8));
        BinaryPrimitives.WriteUInt16LittleEndian(pdu.AsSpan(72 + 16), 0xFFFF);
        System.Text.Encoding.ASCII.GetBytes(TargetFixture.Nqn).CopyTo(pdu, 72 + 256);
        System.Text.Encoding.ASCII.GetBytes("nqn.2014-08.org.nvmexpress:uuid:fuzz").CopyTo(pdu, 72 + 512);
        return pdu;
    }

    /// <summary>Reads until a termination request, a close, or (for a well-formed command) a response; Hung when none comes in 3 s.</summary>
    private static Result Observe(Socket s)
    {
        var hdr = new byte[24];
        var watch = Stopwatch.StartNew();
        try
        {
            int got = 0;
            while (got < 8)
            {
                int n = s.Receive(hdr, got, 8 - got, SocketFlags.None);
                if (n == 0) return new Result(Outcome.Closed, 0, 0);
                got += n;
            }

            if (hdr[0] == NvmeTcpPduType.C2HTermReq)
            {
                while (got < 24)
                {
                    int n = s.Receive(hdr, got, 24 - got, SocketFlags.None);
                    if (n == 0) return new Result(Outcome.Terminated, 0, 0);
                    got += n;
                }

                return new Result(Outcome.Terminated, BinaryPrimitives.ReadUInt16LittleEndian(hdr.AsSpan(8)), BinaryPrimitives.ReadUInt32LittleEndian(hdr.AsSpan(10)));
            }

            return new Result(Outcome.Answered, 0, 0);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
        {
            return new Result(Outcome.Hung, 0, 0);
        }
        catch (SocketException)
        {
            return new Result(Outcome.Closed, 0, 0); // reset by the target
        }
    }

    private static Result Exchange(int port, byte[] afterHandshake, bool connectFirst = false, bool hd = false)
    {
        using Socket s = Open(port);
        Handshake(s, hd);
        if (connectFirst)
        {
            s.Send(ConnectCapsule());
            Assert.Equal(Outcome.Answered, Observe(s).Outcome);
            var rest = new byte[16];
            Assert.Equal(16, s.Receive(rest)); // rest of the CapsuleResp
        }

        try
        {
            s.Send(afterHandshake);
        }
        catch (SocketException)
        {
            return new Result(Outcome.Closed, 0, 0);
        }

        return Observe(s);
    }

    [Fact]
    public void Specific_malformed_pdus_get_the_right_fatal_error_status()
    {
        using var fx = new TargetFixture(pduTimeout: PduTimeout);

        // Not ICReq first: PDU Sequence Error
        using (Socket s = Open(fx.Port))
        {
            byte[] capsule = ConnectCapsule();
            s.Send(capsule);
            Result r = Observe(s);
            Assert.Equal(Outcome.Terminated, r.Outcome);
            Assert.Equal(NvmeTcpFatalError.PduSequenceError, r.Fes);
        }

        // HLEN wrong for CapsuleCmd: Invalid PDU Header Field at byte 2
        byte[] bad = ConnectCapsule();
        bad[2] = 40;
        Result hlen = Exchange(fx.Port, bad);
        Assert.Equal((Outcome.Terminated, NvmeTcpFatalError.InvalidHeaderField, 2u), (hlen.Outcome, hlen.Fes, hlen.Fei));

        // PLEN claims more in-capsule data than the queue allows: Data Transfer Limit Exceeded at PLEN
        bad = ConnectCapsule();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(4), 0x7000_0000);
        Result limit = Exchange(fx.Port, bad);
        Assert.Equal((Outcome.Terminated, NvmeTcpFatalError.DataLimitExceeded, 4u), (limit.Outcome, limit.Fes, limit.Fei));

        // H2CData for a transfer tag that was never issued: Invalid PDU Header Field at TTAG
        var h2c = new byte[24 + 512];
        new H2CDataPdu { Flags = NvmeTcpFlags.LastPdu, PduDataOffset = 24, PduLength = (uint)h2c.Length, CommandCid = 1, TransferTag = 5, DataLength = 512 }.WriteHeader(h2c);
        Result ttag = Exchange(fx.Port, h2c, connectFirst: true);
        Assert.Equal((Outcome.Terminated, NvmeTcpFatalError.InvalidHeaderField, 10u), (ttag.Outcome, ttag.Fes, ttag.Fei));

        // Header digest negotiated but wrong: Header Digest Error
        var withDigest = new byte[72 + 4];
        new CapsuleCmdPdu { Flags = NvmeTcpFlags.HeaderDigest, PduLength = 76 }.WriteHeader(withDigest);
        new NvmeKeepAliveCommand { CommandId = 3, Flags = 0x40 }.WriteTo(withDigest.AsSpan(8));
        BinaryPrimitives.WriteUInt32LittleEndian(withDigest.AsSpan(72), Crc32C.Compute(withDigest.AsSpan(0, 72)) ^ 1);
        Result digest = Exchange(fx.Port, withDigest, hd: true);
        Assert.Equal((Outcome.Terminated, NvmeTcpFatalError.HeaderDigestError), (digest.Outcome, digest.Fes));

        // A truncated header followed by silence: the target gives up after PduTimeout and closes
        using (Socket s = Open(fx.Port))
        {
            Handshake(s);
            s.Send(ConnectCapsule().AsSpan(0, 30));
            Assert.Equal(Outcome.Closed, Observe(s).Outcome);
        }

        Assert.True(fx.Target.TerminationsSent >= 5);
    }

    [Fact]
    public async Task Seeded_fuzzing_never_crashes_or_hangs_the_target()
    {
        using var fx = new TargetFixture(pduTimeout: PduTimeout);
        const int Cases = 240;
        var outcomes = new Result[Cases];
        var watch = Stopwatch.StartNew();
        await Parallel.ForAsync(0, Cases, new ParallelOptions { MaxDegreeOfParallelism = 8 }, (i, _) =>
        {
            outcomes[i] = FuzzOne(fx.Port, new Random(1000 + i));
            return ValueTask.CompletedTask;
        });

        int hung = outcomes.Count(o => o.Outcome == Outcome.Hung);
        Assert.True(hung == 0, $"{hung} of {Cases} fuzzed connections got neither a response, a C2HTermReq nor a close within 3 s");
        Assert.True(outcomes.Count(o => o.Outcome == Outcome.Terminated) > Cases / 4, "most mutations should be caught by header validation");
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(40), $"fuzzing took {watch.Elapsed}");

        // The target is still healthy: a real host can use it.
        await using NvmeTcpInitiator nvme = await fx.ConnectAsync();
        byte[] data = new byte[4096];
        new Random(5).NextBytes(data);
        await nvme.WriteAsync(1, 0, 8, data);
        byte[] back = new byte[4096];
        await nvme.ReadAsync(1, 0, 8, back);
        Assert.Equal(data, back);
    }

    private static Result FuzzOne(int port, Random r)
    {
        using Socket s = Open(port);
        int mode = r.Next(10);
        byte[] pdu;
        if (mode == 0)
        {
            // garbage or a mutated ICReq instead of ICReq
            pdu = ICReq();
            if (r.Next(2) == 0) r.NextBytes(pdu);
            else Mutate(pdu, r, 128);
            return SendAndObserve(s, pdu, r);
        }

        Handshake(s);
        if (r.Next(3) == 0)
        {
            s.Send(ConnectCapsule());
            if (Observe(s).Outcome != Outcome.Answered) return new Result(Outcome.Hung, 0, 0);
            var rest = new byte[16];
            if (s.Receive(rest) != 16) return new Result(Outcome.Hung, 0, 0);
        }

        switch (r.Next(5))
        {
            case 0: // a capsule with a random SQE and some in-capsule data
                pdu = new byte[72 + r.Next(0, 600)];
                r.NextBytes(pdu);
                new CapsuleCmdPdu { PduDataOffset = pdu.Length > 72 ? (byte)72 : (byte)0, PduLength = (uint)pdu.Length }.WriteHeader(pdu);
                r.NextBytes(pdu.AsSpan(8, 64));
                break;
            case 1: // H2CData with random fields
                pdu = new byte[24 + r.Next(0, 600)];
                r.NextBytes(pdu);
                new H2CDataPdu { PduDataOffset = 24, PduLength = (uint)pdu.Length, Flags = (byte)r.Next(8), CommandCid = (ushort)r.Next(4), TransferTag = (ushort)r.Next(4), DataOffset = (uint)r.Next(0, 1024), DataLength = (uint)(pdu.Length - 24) }.WriteHeader(pdu);
                break;
            case 2: // a controller-to-host PDU type or an unknown type
                pdu = new byte[24];
                r.NextBytes(pdu);
                pdu[0] = (byte)(r.Next(2) == 0 ? r.Next(0, 16) : r.Next(256));
                break;
            default: // a valid Connect, then mutated
                pdu = ConnectCapsule();
                break;
        }

        Mutate(pdu, r, Math.Min(pdu.Length, 80));
        return SendAndObserve(s, pdu, r);
    }

    private static void Mutate(byte[] pdu, Random r, int span)
    {
        int edits = r.Next(1, 4);
        for (int e = 0; e < edits; e++)
        {
            switch (r.Next(6))
            {
                case 0: pdu[0] = (byte)r.Next(256); break;                       // type
                case 1: pdu[1] = (byte)r.Next(256); break;                       // flags
                case 2: pdu[2] = (byte)r.Next(256); break;                       // hlen
                case 3: pdu[3] = (byte)r.Next(256); break;                       // pdo
                case 4: BinaryPrimitives.WriteUInt32LittleEndian(pdu.AsSpan(4), r.Next(3) switch { 0 => (uint)r.Next(0, 200), 1 => (uint)r.Next(), _ => 0xFFFF_FFFF }); break; // plen
                default: pdu[r.Next(span)] ^= (byte)(1 << r.Next(8)); break;    // a bit anywhere in the header
            }
        }
    }

    private static Result SendAndObserve(Socket s, byte[] pdu, Random r)
    {
        int length = r.Next(4) == 0 ? r.Next(1, pdu.Length) : pdu.Length; // sometimes truncated (never empty: an idle connection is not malformed)
        try
        {
            s.Send(pdu, 0, length, SocketFlags.None);
            if (r.Next(3) == 0) s.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            return new Result(Outcome.Closed, 0, 0);
        }

        return Observe(s);
    }
}
