using System.Buffers.Binary;
using System.Net.Sockets;

namespace Scalio.Nvme.Tcp;

// The receive side: the receive thread parses each PDU from the target and finishes, fills or answers its command.
internal sealed partial class NvmeTcpHostQueue
{
    private void ReceiveLoop()
    {
        try
        {
            while (_failure is null)
            {
                if (!ReceivePdu())
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            Fail(new NvmeTcpException("The NVMe/TCP connection broke: " + e.Message, e));
        }
        catch (NvmeTcpException e)
        {
            Fail(e);
        }
    }

    private bool ReceivePdu()
    {
        Span<byte> hdr = _rx;
        if (!NvmeTcpWire.ReceiveExact(_socket, hdr.Slice(0, 8)))
        {
            Fail(new NvmeTcpException("The target closed the connection."));
            return false;
        }

        byte type = hdr[0];
        int hlen = hdr[2];
        bool digested = type is not (NvmeTcpPduType.C2HTermReq or NvmeTcpPduType.ICResp);
        int hd = digested && HeaderDigest ? NvmeTcpWire.DigestSize : 0;
        if (hlen is < 8 or > NvmeTcpWire.MaxHeaderLength)
        {
            throw new NvmeTcpException($"Received a PDU (type 0x{type:X2}) with invalid HLEN {hlen}.");
        }

        if (!NvmeTcpWire.ReceiveExact(_socket, hdr.Slice(8, hlen - 8 + hd)))
        {
            throw new NvmeTcpException("The target closed the connection inside a PDU header.");
        }

        if (hd != 0 && BinaryPrimitives.ReadUInt32LittleEndian(hdr.Slice(hlen)) != Crc32C.Compute(hdr.Slice(0, hlen)))
        {
            throw new NvmeTcpException($"Header digest error on a PDU of type 0x{type:X2}.");
        }

        switch (type)
        {
            case NvmeTcpPduType.CapsuleResp:
                OnCapsuleResp(hdr.Slice(0, hlen));
                return true;
            case NvmeTcpPduType.C2HData:
                OnC2HData(hdr.Slice(0, hlen));
                return true;
            case NvmeTcpPduType.R2T:
                OnR2T(hdr.Slice(0, hlen));
                return true;
            case NvmeTcpPduType.C2HTermReq:
                OnTermReq(hdr.Slice(0, hlen));
                return false;
            default:
                throw new NvmeTcpException($"Received unexpected PDU type 0x{type:X2} from the controller.");
        }
    }

    private static void Check(NvmeTcpHeaderError error, int offset, string what)
    {
        if (error != NvmeTcpHeaderError.None)
        {
            throw new NvmeTcpException($"Invalid {what} header: {error} (byte {offset}).");
        }
    }

    private CommandSlot SlotFor(ushort cid, string what)
    {
        if (cid >= _slots.Length || !_slots[cid].InFlight)
        {
            throw new NvmeTcpException($"{what} for command {cid}, which is not outstanding.");
        }

        return _slots[cid];
    }

    private void OnCapsuleResp(ReadOnlySpan<byte> hdr)
    {
        Check(CapsuleRespPdu.TryReadHeader(hdr, HeaderDigest, DataDigest, out _, out int offset), offset, "CapsuleResp");
        NvmeCompletion cqe = NvmeCompletion.Read(hdr.Slice(8));
        CommandSlot slot = SlotFor(cqe.CommandId, "CapsuleResp");
        if (cqe.Status.IsSuccess && slot.Transferred != Math.Max(slot.ReadDestination.Length, slot.WriteSource.Length) && !slot.InCapsuleWrite)
        {
            throw new NvmeTcpException($"Command {slot.Cid} completed successfully after {slot.Transferred} of {Math.Max(slot.ReadDestination.Length, slot.WriteSource.Length)} data bytes.");
        }

        if (slot.TryFinish())
        {
            slot.SetResult(cqe);
        }
    }

    private void OnC2HData(ReadOnlySpan<byte> hdr)
    {
        Check(C2HDataPdu.TryReadHeader(hdr, HeaderDigest, DataDigest, out C2HDataPdu pdu, out int offset), offset, "C2HData");
        CommandSlot slot = SlotFor(pdu.CommandCid, "C2HData");
        int length = pdu.PayloadLength;
        if (length == 0 || pdu.DataLength != (uint)length)
        {
            throw new NvmeTcpException($"C2HData for command {slot.Cid}: DATAL {pdu.DataLength} does not match PLEN/PDO ({length} bytes).");
        }

        if (pdu.DataOffset != (uint)slot.Transferred || (long)pdu.DataOffset + length > slot.ReadDestination.Length)
        {
            throw new NvmeTcpException($"C2HData for command {slot.Cid}: DATAO {pdu.DataOffset} + DATAL {length} is out of order or beyond the {slot.ReadDestination.Length}-byte buffer.");
        }

        int pad = pdu.PayloadOffset - hdr.Length - (HeaderDigest ? NvmeTcpWire.DigestSize : 0);
        SkipBytes(pad);
        Span<byte> target = slot.ReadDestination.Span.Slice((int)pdu.DataOffset, length);
        if (!NvmeTcpWire.ReceiveExact(_socket, target))
        {
            throw new NvmeTcpException("The target closed the connection inside C2HData.");
        }

        if ((pdu.Flags & NvmeTcpFlags.DataDigest) != 0)
        {
            Span<byte> digest = _scratch.AsSpan(0, 4);
            if (!NvmeTcpWire.ReceiveExact(_socket, digest))
            {
                throw new NvmeTcpException("The target closed the connection inside a data digest.");
            }

            if (BinaryPrimitives.ReadUInt32LittleEndian(digest) != Crc32C.Compute(target))
            {
                throw new NvmeTcpException($"Data digest error in C2HData for command {slot.Cid}.");
            }
        }

        slot.Transferred += length;
        if ((pdu.Flags & NvmeTcpFlags.Success) != 0)
        {
            if ((pdu.Flags & NvmeTcpFlags.LastPdu) == 0 || slot.Transferred != slot.ReadDestination.Length)
            {
                throw new NvmeTcpException($"C2HData for command {slot.Cid} has SUCCESS without LAST_PDU or before all data arrived.");
            }

            if (slot.TryFinish())
            {
                var cqe = new NvmeCompletion { CommandId = slot.Cid, SqId = QueueId };
                slot.SetResult(cqe);
            }
        }
    }

    private void OnR2T(ReadOnlySpan<byte> hdr)
    {
        Check(R2TPdu.TryReadHeader(hdr, HeaderDigest, DataDigest, out R2TPdu r2t, out int offset), offset, "R2T");
        CommandSlot slot = SlotFor(r2t.CommandCid, "R2T");
        ReadOnlyMemory<byte> source = slot.WriteSource;
        if (r2t.R2TLength == 0 || r2t.R2TOffset != (uint)slot.Transferred || (long)r2t.R2TOffset + r2t.R2TLength > source.Length)
        {
            throw new NvmeTcpException($"R2T for command {slot.Cid}: offset {r2t.R2TOffset} length {r2t.R2TLength} is outside the {source.Length}-byte write or out of order.");
        }

        int start = (int)r2t.R2TOffset;
        int end = start + (int)r2t.R2TLength;
        int pdo = NvmeTcpWire.DataOffset(H2CDataPdu.HeaderLength, HeaderDigest, Cpda);
        int hd = HeaderDigest ? NvmeTcpWire.DigestSize : 0;
        Span<byte> header = _txHeader;
        lock (_sendLock)
        {
            for (int at = start; at < end;)
            {
                int chunk = Math.Min(end - at, MaxH2CData);
                ReadOnlySpan<byte> data = source.Span.Slice(at, chunk);
                bool last = at + chunk == end;
                int dd = DataDigest ? NvmeTcpWire.DigestSize : 0;
                new H2CDataPdu
                {
                    Flags = (byte)((HeaderDigest ? NvmeTcpFlags.HeaderDigest : 0) | (DataDigest ? NvmeTcpFlags.DataDigest : 0) | (last ? NvmeTcpFlags.LastPdu : 0)),
                    PduDataOffset = (byte)pdo,
                    PduLength = (uint)(pdo + chunk + dd),
                    CommandCid = slot.Cid,
                    TransferTag = r2t.TransferTag,
                    DataOffset = (uint)at,
                    DataLength = (uint)chunk,
                }.WriteHeader(header);
                if (HeaderDigest)
                {
                    Crc32C.WriteDigest(header.Slice(0, H2CDataPdu.HeaderLength), header.Slice(H2CDataPdu.HeaderLength));
                }

                header.Slice(H2CDataPdu.HeaderLength + hd, pdo - H2CDataPdu.HeaderLength - hd).Clear();
                NvmeTcpWire.SendAll(_socket, header.Slice(0, pdo));
                NvmeTcpWire.SendAll(_socket, data);
                if (dd != 0)
                {
                    Span<byte> digest = _scratch.AsSpan(4, 4);
                    Crc32C.WriteDigest(data, digest);
                    NvmeTcpWire.SendAll(_socket, digest);
                }

                at += chunk;
            }
        }

        slot.Transferred = end;
    }

    private void OnTermReq(ReadOnlySpan<byte> hdr)
    {
        NvmeTcpHeaderError error = C2HTermReqPdu.TryReadHeader(hdr, false, false, out C2HTermReqPdu term, out _);
        string detail = error == NvmeTcpHeaderError.None ? $"FES 0x{term.Fes:X4}, FEI 0x{term.Fei:X8}" : $"malformed ({error})";
        Fail(new NvmeTcpException($"The controller terminated the connection (C2HTermReq, {detail})."));
    }

    private void SkipBytes(int count)
    {
        while (count > 0)
        {
            int n = Math.Min(count, _scratch.Length);
            if (!NvmeTcpWire.ReceiveExact(_socket, _scratch.AsSpan(0, n)))
            {
                throw new NvmeTcpException("The target closed the connection inside PDU padding.");
            }

            count -= n;
        }
    }
}
