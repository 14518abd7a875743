using System.Buffers;

namespace Scalio.Nvme.Tcp;

/// <summary>The I/O queue's commands: reads sent as C2HData, writes received in-capsule or through R2T/H2CData, flush.</summary>
internal sealed partial class NvmeTcpTargetConnection
{
    private bool CheckTransfer(in SubmissionQueueEntry entry, out int length, out NvmeStatus status)
    {
        status = _target.Executor.GetDataTransfer(in entry, out _, out length);
        if (!status.IsSuccess)
        {
            return false;
        }

        if (length > _options.MaxTransferBytes)
        {
            status = NvmeStatus.InvalidField;
            return false;
        }

        if (entry.Sgl.Length != (uint)length)
        {
            status = NvmeStatus.DataSglLengthInvalid;
            return false;
        }

        return true;
    }

    private bool OnRead(in SubmissionQueueEntry entry, int inCapsule)
    {
        ushort cid = entry.CommandId;
        if (entry.Sgl.Identifier != NvmeTcpWire.SglTransport || inCapsule != 0)
        {
            return Respond(cid, SglTypeInvalid, 0, 0);
        }

        if (!CheckTransfer(in entry, out int length, out NvmeStatus status))
        {
            return Respond(cid, status, 0, 0);
        }

        // Room in front of the data for the C2HData header and behind it for the data digest and the response capsule,
        // so that a read of up to one chunk leaves in ONE send (one syscall, one segment) instead of two or three.
        int hd = _hd ? NvmeTcpWire.DigestSize : 0;
        int pdo = C2HDataPdu.HeaderLength + hd;
        int tail = NvmeTcpWire.DigestSize + CapsuleRespPdu.HeaderLength + NvmeTcpWire.DigestSize;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(pdo + length + tail);
        try
        {
            status = _target.Execute(in entry, buffer.AsSpan(pdo, length), _qid, _sqHead, out _);
            if (!status.IsSuccess)
            {
                return Respond(cid, status, 0, 0);
            }

            if (length <= C2HChunk)
            {
                return SendC2HDataFramed(cid, buffer, pdo, length);
            }

            return SendC2HData(cid, buffer.AsSpan(pdo, length), _sqFlowDisabled) && (_sqFlowDisabled || Respond(cid, NvmeStatus.Success, 0, 0));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Sends a read of one chunk whose data sits at <paramref name="pdo"/> in <paramref name="frame"/>: the C2HData
    /// header goes in front, the data digest and (with SQ flow control) the response capsule behind, and all of it in
    /// one send. The bytes on the wire are those of <see cref="SendC2HData"/> followed by <see cref="Respond"/>.
    /// </summary>
    private bool SendC2HDataFramed(ushort cid, byte[] frame, int pdo, int length)
    {
        Span<byte> buf = frame;
        int hd = _hd ? NvmeTcpWire.DigestSize : 0;
        int dd = _dd ? NvmeTcpWire.DigestSize : 0;
        new C2HDataPdu
        {
            Flags = (byte)((_hd ? NvmeTcpFlags.HeaderDigest : 0) | (_dd ? NvmeTcpFlags.DataDigest : 0) | NvmeTcpFlags.LastPdu
                | (_sqFlowDisabled ? NvmeTcpFlags.Success : 0)),
            PduDataOffset = (byte)pdo,
            PduLength = (uint)(pdo + length + dd),
            CommandCid = cid,
            DataOffset = 0,
            DataLength = (uint)length,
        }.WriteHeader(buf);
        if (_hd)
        {
            Crc32C.WriteDigest(buf.Slice(0, C2HDataPdu.HeaderLength), buf.Slice(C2HDataPdu.HeaderLength));
        }

        int end = pdo + length;
        if (_dd)
        {
            Crc32C.WriteDigest(buf.Slice(pdo, length), buf.Slice(end));
            end += dd;
        }

        if (!_sqFlowDisabled)
        {
            end += WriteResponse(buf.Slice(end), cid, NvmeStatus.Success, 0, 0);
        }

        NvmeTcpWire.SendAll(_socket, buf.Slice(0, end));
        return true;
    }

    private bool OnWrite(in SubmissionQueueEntry entry, ReadOnlySpan<byte> data)
    {
        ushort cid = entry.CommandId;
        if (!CheckTransfer(in entry, out int length, out NvmeStatus status))
        {
            return Respond(cid, status, 0, 0);
        }

        byte sgl = entry.Sgl.Identifier;
        if (sgl == NvmeTcpWire.SglInCapsule)
        {
            if (data.Length != length || entry.Sgl.Address != 0)
            {
                return Respond(cid, NvmeStatus.DataSglLengthInvalid, 0, 0);
            }

            status = _target.Execute(in entry, MemoryMarshal_AsWritable(data), _qid, _sqHead, out _);
            return Respond(cid, status, 0, 0);
        }

        if (sgl != NvmeTcpWire.SglTransport || data.Length != 0)
        {
            return Respond(cid, SglTypeInvalid, 0, 0);
        }

        int tag = -1;
        for (int i = 0; i < _pending.Length; i++)
        {
            if (_pending[i].Buffer is null)
            {
                tag = i;
                break;
            }
        }

        if (tag < 0)
        {
            return Terminate(NvmeTcpFatalError.DataLimitExceeded, 0, default); // more outstanding R2Ts than the queue depth allows
        }

        _pending[tag] = new PendingWrite { Buffer = ArrayPool<byte>.Shared.Rent(length), Entry = entry, Cid = cid, Length = length };
        int hd = _hd ? NvmeTcpWire.DigestSize : 0;
        Span<byte> tx = _tx;
        new R2TPdu
        {
            Flags = _hd ? NvmeTcpFlags.HeaderDigest : (byte)0,
            PduLength = (uint)(R2TPdu.HeaderLength + hd),
            CommandCid = cid,
            TransferTag = (ushort)tag,
            R2TOffset = 0,
            R2TLength = (uint)length,
        }.WriteHeader(tx);
        if (_hd)
        {
            Crc32C.WriteDigest(tx.Slice(0, R2TPdu.HeaderLength), tx.Slice(R2TPdu.HeaderLength));
        }

        NvmeTcpWire.SendAll(_socket, tx.Slice(0, R2TPdu.HeaderLength + hd));
        return true;
    }

    private static Span<byte> MemoryMarshal_AsWritable(ReadOnlySpan<byte> data) =>
        System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(data), data.Length);

    private bool OnH2CData(ReadOnlySpan<byte> hdr)
    {
        NvmeTcpHeaderError error = H2CDataPdu.TryReadHeader(hdr, _hd, _dd, out H2CDataPdu pdu, out int offset);
        if (error != NvmeTcpHeaderError.None)
        {
            return Terminate(NvmeTcpFatalError.InvalidHeaderField, (uint)offset, hdr);
        }

        int tag = pdu.TransferTag;
        if (tag >= _pending.Length || _pending[tag].Buffer is null)
        {
            return Terminate(NvmeTcpFatalError.InvalidHeaderField, 10, hdr);
        }

        ref PendingWrite w = ref _pending[tag];
        int length = pdu.PayloadLength;
        if (pdu.CommandCid != w.Cid)
        {
            return Terminate(NvmeTcpFatalError.InvalidHeaderField, 8, hdr);
        }

        if (pdu.DataLength != (uint)length || length == 0)
        {
            return Terminate(NvmeTcpFatalError.InvalidHeaderField, 16, hdr);
        }

        if (length > _options.MaxH2CData)
        {
            return Terminate(NvmeTcpFatalError.DataLimitExceeded, 16, hdr);
        }

        if (pdu.DataOffset != (uint)w.Received || (long)pdu.DataOffset + length > w.Length)
        {
            return Terminate(NvmeTcpFatalError.DataOutOfRange, 12, hdr);
        }

        bool completes = w.Received + length == w.Length;
        if (((pdu.Flags & NvmeTcpFlags.LastPdu) != 0) != completes)
        {
            return Terminate(NvmeTcpFatalError.InvalidHeaderField, 1, hdr);
        }

        SkipBytes(pdu.PayloadOffset - hdr.Length - (_hd ? NvmeTcpWire.DigestSize : 0));
        if (!ReceiveData(w.Buffer.AsSpan(w.Received, length), out bool digestOk))
        {
            return false;
        }

        w.Received += length;
        w.DigestFailed |= !digestOk;
        if (!completes)
        {
            return true;
        }

        ushort cid = w.Cid;
        NvmeStatus status = w.DigestFailed
            ? TransientTransportError
            : _target.Execute(in w.Entry, w.Buffer.AsSpan(0, w.Length), _qid, _sqHead, out _);
        ReleasePending(tag);
        return Respond(cid, status, 0, 0);
    }

    private bool OnFlush(in SubmissionQueueEntry entry)
    {
        NvmeStatus status = _target.Execute(in entry, default, _qid, _sqHead, out _);
        return Respond(entry.CommandId, status, 0, 0);
    }

    private void ReleasePending(int tag)
    {
        byte[]? buffer = _pending[tag].Buffer;
        _pending[tag] = default;
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private bool SendC2HData(ushort cid, ReadOnlySpan<byte> data, bool success)
    {
        int hd = _hd ? NvmeTcpWire.DigestSize : 0;
        int dd = _dd ? NvmeTcpWire.DigestSize : 0;
        int pdo = C2HDataPdu.HeaderLength + hd;
        Span<byte> tx = _tx;
        for (int at = 0; at < data.Length;)
        {
            int chunk = Math.Min(C2HChunk, data.Length - at);
            bool last = at + chunk == data.Length;
            byte flags = (byte)((_hd ? NvmeTcpFlags.HeaderDigest : 0) | (_dd ? NvmeTcpFlags.DataDigest : 0)
                | (last ? NvmeTcpFlags.LastPdu : 0) | (last && success ? NvmeTcpFlags.Success : 0));
            new C2HDataPdu
            {
                Flags = flags,
                PduDataOffset = (byte)pdo,
                PduLength = (uint)(pdo + chunk + dd),
                CommandCid = cid,
                DataOffset = (uint)at,
                DataLength = (uint)chunk,
            }.WriteHeader(tx);
            if (_hd)
            {
                Crc32C.WriteDigest(tx.Slice(0, C2HDataPdu.HeaderLength), tx.Slice(C2HDataPdu.HeaderLength));
            }

            ReadOnlySpan<byte> part = data.Slice(at, chunk);
            NvmeTcpWire.SendAll(_socket, tx.Slice(0, pdo));
            NvmeTcpWire.SendAll(_socket, part);
            if (_dd)
            {
                Span<byte> digest = tx.Slice(pdo, NvmeTcpWire.DigestSize);
                Crc32C.WriteDigest(part, digest);
                NvmeTcpWire.SendAll(_socket, digest);
            }

            at += chunk;
        }

        return true;
    }
}
