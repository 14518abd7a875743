using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;

namespace Scalio.Cli.Fuzz;

/// <summary>NVMe/TCP PDU headers (target and host side): every generated <c>TryReadHeader</c> returns an error code and offset, never throws.</summary>
internal sealed class PduTarget : FuzzTarget
{
    public override string Name => "nvmetcp-pdu";

    public override string Contract => "TryReadHeader returns NvmeTcpHeaderError";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        static byte[] H(int hlen, int total, Action<byte[]> write)
        {
            var b = new byte[total];
            write(b);
            return b;
        }
        return
        [
            H(128, 128, b => new ICReqPdu { PduLength = 128, HeaderDigestEnable = true }.WriteHeader(b)),
            H(128, 128, b => new ICRespPdu { PduLength = 128, MaxH2CData = 131072 }.WriteHeader(b)),
            H(24, 24 + 72, b => new H2CTermReqPdu { PduDataOffset = 24, PduLength = 96, Fes = 1, Fei = 2 }.WriteHeader(b)),
            H(24, 24 + 72, b => new C2HTermReqPdu { PduDataOffset = 24, PduLength = 96, Fes = 2 }.WriteHeader(b)),
            H(72, 72 + 512, b => new CapsuleCmdPdu { PduDataOffset = 72, PduLength = 72 + 512 }.WriteHeader(b)),
            H(72, 76, b => new CapsuleCmdPdu { Flags = NvmeTcpFlags.HeaderDigest, PduLength = 76 }.WriteHeader(b)),
            H(24, 24, b => new CapsuleRespPdu { PduLength = 24 }.WriteHeader(b)),
            H(24, 24 + 512, b => new H2CDataPdu { Flags = NvmeTcpFlags.LastPdu, PduDataOffset = 24, PduLength = 536, CommandCid = 1, TransferTag = 1, DataLength = 512 }.WriteHeader(b)),
            H(24, 24 + 4096, b => new C2HDataPdu { Flags = NvmeTcpFlags.LastPdu | NvmeTcpFlags.Success, PduDataOffset = 24, PduLength = 24 + 4096, CommandCid = 3, DataLength = 4096 }.WriteHeader(b)),
            H(24, 24, b => new R2TPdu { PduLength = 24, CommandCid = 2, TransferTag = 1, R2TLength = 4096 }.WriteHeader(b)),
        ];
    }

    public override bool Decode(byte[] input)
    {
        bool any = false;
        for (int digests = 0; digests < 4; digests++)
        {
            bool hd = (digests & 1) != 0, dd = (digests & 2) != 0;
            int bad = 0;
            any |= Ok(ICReqPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(ICRespPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(H2CTermReqPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(C2HTermReqPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(CapsuleCmdPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(CapsuleRespPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(H2CDataPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(C2HDataPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(R2TPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
        }
        return any;
    }

    /// <summary>True when valid; an error's offset must lie within the header (it becomes the FEI of a termination request).</summary>
    private static bool Ok(NvmeTcpHeaderError error, int offset, byte[] input)
    {
        if (error != NvmeTcpHeaderError.None && (offset < 0 || offset > Math.Max(input.Length, 128)))
            throw new InvalidOperationException($"error offset {offset} outside the header");
        return error == NvmeTcpHeaderError.None;
    }
}

/// <summary>
/// The NVMe/TCP target's connection state machine (the approach of tests/Scalio.Tests/NvmeTcp/FuzzTests.cs): the
/// input is the whole byte stream a host sends on one connection to an in-process target on 127.0.0.1 (ICReq, then
/// Connect, Keep Alive, H2CData ...), after which the host closes its sending side. The target must answer, send a
/// C2HTermReq or close, within 3 s, and never end a connection on an unexpected exception (<see cref="NvmeTcpTarget.ConnectionFaults"/>).
/// </summary>
internal sealed class TargetStreamTarget : FuzzTarget
{
    private const string Nqn = "nqn.2024-01.io.scalio:fuzz";
    private readonly RamNamespace _ns = new(1, 512, 256);
    private readonly NvmeTcpTarget _target;
    private readonly byte[] _buffer = new byte[64 * 1024];

    public TargetStreamTarget()
    {
        _target = new NvmeTcpTarget(new NvmeTcpTargetOptions
        {
            Endpoint = new IPEndPoint(IPAddress.Loopback, 0),
            SubsystemNqn = Nqn,
            PduTimeout = TimeSpan.FromMilliseconds(500),
            IdleTimeout = TimeSpan.FromSeconds(2),
            InCapsuleDataSize = 8192,
            MaxH2CData = 8192,
        }, [_ns]);
        _target.Start();
    }

    public override string Name => "nvmetcp-target";

    public override string Contract => "C2HTermReq or close, never a connection fault or silence";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var icreq = new byte[128];
        new ICReqPdu { PduLength = 128 }.WriteHeader(icreq);
        var icreqDigests = new byte[128];
        new ICReqPdu { PduLength = 128, HeaderDigestEnable = true, DataDigestEnable = true }.WriteHeader(icreqDigests);
        var connect = new byte[72 + 1024];
        new CapsuleCmdPdu { PduDataOffset = 72, PduLength = (uint)connect.Length }.WriteHeader(connect);
        new NvmeConnectCommand { CommandId = 1, Flags = 0x40, SglIdentifier = 0x01, SglLength = 1024, QueueId = 0, SubmissionQueueSize = 31 }.WriteTo(connect.AsSpan(8));
        BinaryPrimitives.WriteUInt16LittleEndian(connect.AsSpan(72 + 16), 0xFFFF);
        System.Text.Encoding.ASCII.GetBytes(Nqn).CopyTo(connect, 72 + 256);
        System.Text.Encoding.ASCII.GetBytes("nqn.2014-08.org.nvmexpress:uuid:fuzz").CopyTo(connect, 72 + 512);
        var keepAlive = new byte[72];
        new CapsuleCmdPdu { PduLength = 72 }.WriteHeader(keepAlive);
        new NvmeKeepAliveCommand { CommandId = 2, Flags = 0x40 }.WriteTo(keepAlive.AsSpan(8));
        var h2c = new byte[24 + 512];
        r.NextBytes(h2c);
        new H2CDataPdu { Flags = NvmeTcpFlags.LastPdu, PduDataOffset = 24, PduLength = (uint)h2c.Length, CommandCid = 1, TransferTag = 1, DataLength = 512 }.WriteHeader(h2c);
        var capsule = new byte[72 + 256];
        r.NextBytes(capsule);
        new CapsuleCmdPdu { PduDataOffset = 72, PduLength = (uint)capsule.Length }.WriteHeader(capsule);
        return
        [
            icreq,
            [.. icreq, .. connect],
            [.. icreq, .. connect, .. keepAlive],
            [.. icreq, .. connect, .. h2c],
            [.. icreq, .. connect, .. capsule],
            [.. icreqDigests],
        ];
    }

    public override bool Decode(byte[] input)
    {
        long faults = _target.ConnectionFaults;
        bool terminated = false;
        int total = 0;
        // Linger 0: the close is a reset, so 10^5 connections leave no TIME_WAIT behind on either side.
        using (var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 3000, LingerState = new LingerOption(true, 0) })
        {
            s.Connect(_target.Endpoint);
            try
            {
                if (input.Length > 0) s.Send(input);
                s.Shutdown(SocketShutdown.Send);
                int n;
                while ((n = s.Receive(_buffer, total, _buffer.Length - total, SocketFlags.None)) > 0)
                {
                    total += n;
                    if (total == _buffer.Length) throw new InvalidOperationException("the target sent over 64 KiB for one connection");
                }
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
                throw new TimeoutException("the target neither answered nor closed within 3 s");
            }
            catch (SocketException)
            {
                // reset by the target: it refused the stream
            }
        }
        if (_target.ConnectionFaults != faults) throw new InvalidOperationException("target connection fault: " + _target.LastConnectionFault);
        // Walk the PDUs the target sent: a C2HTermReq means the stream was refused.
        for (int at = 0; at + 8 <= total;)
        {
            if (_buffer[at] == NvmeTcpPduType.C2HTermReq) terminated = true;
            uint plen = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(at + 4));
            if (plen < 8) break;
            at += (int)Math.Min(plen, int.MaxValue);
        }
        return total > 0 && !terminated;
    }

    public override void Dispose()
    {
        _target.Dispose();
        _ns.Dispose();
        base.Dispose();
    }
}
