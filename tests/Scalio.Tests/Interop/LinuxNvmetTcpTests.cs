using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Xunit.Abstractions;

namespace Scalio.Tests.Interop;

/// <summary>
/// Interop with the real Linux kernel NVMe/TCP target (nvmet-tcp in a QEMU guest, see tests/interop/nvmet-guest.sh).
/// These tests build the connection-initialization PDUs by hand from the NVMe/TCP transport specification
/// (ICReq/ICResp, 128-byte PDUs), so they check the guest and the wire format independently of the initiator.
/// </summary>
[Collection(LinuxNvmetCollection.Name)]
public sealed class LinuxNvmetTcpTests
{
    private const int IcPduLength = 128;
    private const byte PduTypeICReq = 0x00;
    private const byte PduTypeICResp = 0x01;
    private const byte PduTypeC2HTermReq = 0x03;
    private const byte HeaderDigestEnable = 0x01;
    private const byte DataDigestEnable = 0x02;
    private static readonly TimeSpan SocketTimeout = TimeSpan.FromSeconds(15);

    private readonly NvmetGuest _guest;
    private readonly ITestOutputHelper _output;

    public LinuxNvmetTcpTests(NvmetGuest guest, ITestOutputHelper output)
    {
        _guest = guest;
        _output = output;
    }

    [LinuxNvmetFact]
    public void ICReq_is_answered_with_a_valid_ICResp()
    {
        StartGuest();
        using Socket s = Connect();
        Send(s, ICReq(pfv: 0, digests: 0, maxR2T: 0));
        byte[] r = ReceiveExactly(s, IcPduLength);

        Assert.Equal(PduTypeICResp, r[0]);
        Assert.Equal(0, r[1]);                                        // flags
        Assert.Equal(IcPduLength, r[2]);                              // hlen
        Assert.Equal(0, r[3]);                                        // pdo
        Assert.Equal(IcPduLength, BinaryPrimitives.ReadInt32LittleEndian(r.AsSpan(4)));    // plen
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(r.AsSpan(8)));             // pfv 1.0
        byte cpda = r[10];
        Assert.InRange(cpda, (byte)0, (byte)31);
        Assert.Equal(0, r[11]);                                       // no digest asked, none granted
        uint maxH2CData = BinaryPrimitives.ReadUInt32LittleEndian(r.AsSpan(12));
        Assert.True(maxH2CData >= 4096 && maxH2CData % 4 == 0, $"MAXH2CDATA {maxH2CData}");
        Assert.True(r.AsSpan(16).IndexOfAnyExcept((byte)0) < 0, "ICResp reserved bytes 16..127 must be zero");
        _output.WriteLine($"guest ready in {_guest.StartTime.TotalSeconds:F1} s; ICResp: CPDA {cpda}, MAXH2CDATA {maxH2CData}");
    }

    [LinuxNvmetFact]
    public void ICReq_asking_for_header_and_data_digests_is_granted_both()
    {
        StartGuest();
        using Socket s = Connect();
        Send(s, ICReq(pfv: 0, digests: HeaderDigestEnable | DataDigestEnable, maxR2T: 0));
        byte[] r = ReceiveExactly(s, IcPduLength);
        Assert.Equal(PduTypeICResp, r[0]);
        Assert.Equal(HeaderDigestEnable | DataDigestEnable, r[11]);
    }

    [LinuxNvmetFact]
    public void ICReq_with_an_unknown_PDU_format_version_ends_the_connection()
    {
        StartGuest();
        using Socket s = Connect();
        Send(s, ICReq(pfv: 0x7777, digests: 0, maxR2T: 0));
        // A conforming target answers with a C2HTermReq or closes; it must not answer with an ICResp, nor hang.
        var first = new byte[8];
        int n = ReceiveSome(s, first);
        if (n == 0)
            return; // closed
        Assert.Equal(PduTypeC2HTermReq, first[0]);
    }

    private void StartGuest()
    {
        try
        {
            _guest.EnsureStarted();
        }
        catch (Exception e)
        {
            _output.WriteLine(_guest.ConsoleTail());
            throw new InvalidOperationException("the Linux nvmet guest did not start", e);
        }
    }

    private Socket Connect()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
            ReceiveTimeout = (int)SocketTimeout.TotalMilliseconds,
            SendTimeout = (int)SocketTimeout.TotalMilliseconds,
        };
        s.Connect(new IPEndPoint(IPAddress.Loopback, _guest.Port));
        return s;
    }

    /// <summary>ICReq (NVMe/TCP 1.0): common header type 0, hlen = plen = 128, then PFV, HPDA, DGST, MAXR2T.</summary>
    private static byte[] ICReq(ushort pfv, byte digests, uint maxR2T)
    {
        var pdu = new byte[IcPduLength];
        pdu[0] = PduTypeICReq;
        pdu[2] = IcPduLength;
        BinaryPrimitives.WriteInt32LittleEndian(pdu.AsSpan(4), IcPduLength);
        BinaryPrimitives.WriteUInt16LittleEndian(pdu.AsSpan(8), pfv);
        pdu[10] = 0; // HPDA: no header padding
        pdu[11] = digests;
        BinaryPrimitives.WriteUInt32LittleEndian(pdu.AsSpan(12), maxR2T);
        return pdu;
    }

    private static void Send(Socket s, byte[] data)
    {
        int sent = 0;
        while (sent < data.Length)
            sent += s.Send(data, sent, data.Length - sent, SocketFlags.None);
    }

    private byte[] ReceiveExactly(Socket s, int length)
    {
        var buffer = new byte[length];
        int got = 0;
        while (got < length)
        {
            int n = ReceiveSome(s, buffer.AsSpan(got));
            if (n == 0)
            {
                _output.WriteLine(_guest.ConsoleTail());
                Assert.Fail($"the target closed the connection after {got} of {length} bytes");
            }
            got += n;
        }
        return buffer;
    }

    /// <summary>Receives up to buffer.Length bytes; 0 means closed (a reset counts as closed); a timeout fails.</summary>
    private int ReceiveSome(Socket s, Span<byte> buffer)
    {
        try
        {
            return s.Receive(buffer);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return 0;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
        {
            _output.WriteLine(_guest.ConsoleTail());
            Assert.Fail($"no answer from the target within {SocketTimeout.TotalSeconds} s");
            return 0;
        }
    }
}
