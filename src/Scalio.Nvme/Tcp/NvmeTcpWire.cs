using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Scalio.Nvme.Tcp;

/// <summary>Wire helpers shared by the initiator and the target.</summary>
internal static class NvmeTcpWire
{
    /// <summary>Encodes a Read whose data comes back in C2HData PDUs (SGL Transport Data Block) into <paramref name="sqe"/>.</summary>
    public static void WriteTransportRead(Span<byte> sqe, ushort cid, uint nsid, ulong slba, int blocks, int length)
        => new NvmeReadCommand
        {
            CommandId = cid,
            Flags = PsdtSgl,
            Nsid = nsid,
            SglIdentifier = SglTransport,
            SglLength = (uint)length,
            StartingLba = slba,
            BlockCountZeroBased = (ushort)(blocks - 1),
        }.WriteTo(sqe);

    /// <summary>SGL Identifier of an SGL Data Block with subtype Offset (01h): data in the capsule.</summary>
    public const byte SglInCapsule = 0x01;

    /// <summary>SGL Identifier of a Transport SGL Data Block, subtype Transport specific (5Ah): data moved by C2HData/R2T+H2CData.</summary>
    public const byte SglTransport = 0x5A;

    /// <summary>CDW0 byte 1 with PSDT = 01b (SGLs), as NVMe over Fabrics requires.</summary>
    public const byte PsdtSgl = 0x40;

    /// <summary>Size of the Fabrics Connect data.</summary>
    public const int ConnectDataSize = 1024;

    /// <summary>Largest header we ever accept (ICReq/ICResp are 128 bytes).</summary>
    public const int MaxHeaderLength = 128;

    /// <summary>Bytes of a digest.</summary>
    public const int DigestSize = 4;

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes; false when the peer closed the connection first.</summary>
    public static bool ReceiveExact(Socket socket, Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int n = socket.Receive(buffer, SocketFlags.None);
            if (n <= 0)
            {
                return false;
            }

            buffer = buffer.Slice(n);
        }

        return true;
    }

    /// <summary>Sends all of <paramref name="data"/>.</summary>
    public static void SendAll(Socket socket, ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            int n = socket.Send(data, SocketFlags.None);
            data = data.Slice(n);
        }
    }

    /// <summary>Encodes Fabrics Connect data (NVMe Base 2.0 §6.3, Figure "Connect Command – Data": HOSTID 15:0, CNTLID 17:16, SUBNQN 511:256, HOSTNQN 767:512).</summary>
    public static void WriteConnectData(Span<byte> destination, Guid hostId, ushort controllerId, string subsystemNqn, string hostNqn)
    {
        Span<byte> d = destination.Slice(0, ConnectDataSize);
        d.Clear();
        if (!hostId.TryWriteBytes(d.Slice(0, 16), bigEndian: true, out _))
        {
            throw new InvalidOperationException("host identifier did not fit");
        }

        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(16), controllerId);
        WriteNqn(d.Slice(256, 256), subsystemNqn, nameof(subsystemNqn));
        WriteNqn(d.Slice(512, 256), hostNqn, nameof(hostNqn));
    }

    /// <summary>Checks an NQN: 1..223 bytes of UTF-8.</summary>
    public static void ValidateNqn(string nqn, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(nqn, name);
        int count = Encoding.UTF8.GetByteCount(nqn);
        if (count > 223)
        {
            throw new ArgumentException($"An NQN is at most 223 bytes of UTF-8; '{nqn}' has {count}.", name);
        }
    }

    private static void WriteNqn(Span<byte> field, string nqn, string name)
    {
        ValidateNqn(nqn, name);
        Encoding.UTF8.GetBytes(nqn, field);
    }

    /// <summary>Reads a NUL-terminated NQN field (at most 256 bytes).</summary>
    public static string ReadNqn(ReadOnlySpan<byte> field)
    {
        int end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field.Slice(0, end));
    }

    /// <summary>Reads a space-padded ASCII field.</summary>
    public static string ReadAscii(ReadOnlySpan<byte> field) => Encoding.ASCII.GetString(field).TrimEnd(' ', '\0');

    /// <summary>PDO for a PDU with data: header (and digest) rounded up to the peer's data alignment ((alignment+1) dwords).</summary>
    public static int DataOffset(int headerLength, bool headerDigest, int alignmentDwordsZeroBased)
    {
        int end = headerLength + (headerDigest ? DigestSize : 0);
        int align = (alignmentDwordsZeroBased + 1) * 4;
        return alignmentDwordsZeroBased == 0 ? end : (end + align - 1) / align * align;
    }
}
