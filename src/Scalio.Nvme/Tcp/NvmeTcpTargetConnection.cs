using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using Scalio.Verbs;

namespace Scalio.Nvme.Tcp;

/// <summary>
/// One NVMe/TCP connection on the target side (one queue). Runs on its own thread; every PDU header is read
/// with a bounded length and validated before anything else is read, and the rest of a PDU must arrive within
/// <see cref="NvmeTcpTargetOptions.PduTimeout"/>. A malformed PDU ends the connection with a C2HTermReq.
/// </summary>
internal sealed partial class NvmeTcpTargetConnection
{
    private const int AdminInCapsule = 8192;
    private const int MaxQueues = 16;
    private const int C2HChunk = 128 * 1024;
    private const ushort Unconnected = 0xFFFF;
    private const int AerLimit = 4; // AERL 3 (zero-based)
    private const string Revision = "1.0";
    private const uint AsyncEventsSupported = 1u << 8; // OAES: Namespace Attribute Notices (Changed Namespace List)

    private readonly NvmeTcpTarget _target;
    private readonly NvmeTcpTargetOptions _options;
    private readonly Socket _socket;
    private readonly Thread _thread;
    private readonly byte[] _hdr = GC.AllocateArray<byte>(256, pinned: true);
    private readonly byte[] _tx = GC.AllocateArray<byte>(256, pinned: true);
    private readonly byte[] _identify = GC.AllocateArray<byte>(NvmeIdentify.DataSize, pinned: true);
    private readonly byte[] _data;
    private readonly PendingWrite[] _pending;
    private readonly ushort[] _aers = new ushort[AerLimit];
    private int _aerCount;
    private bool _refused;
    private bool _hd;
    private bool _dd;
    private bool _sqFlowDisabled;
    private ushort _qid = Unconnected;
    private int _sqSize = 1;
    private ushort _sqHead;
    private TargetController? _controller;
    private volatile bool _closed;

    public NvmeTcpTargetConnection(NvmeTcpTarget target, Socket socket)
    {
        _target = target;
        _options = target.Options;
        _socket = socket;
        _data = GC.AllocateArray<byte>(Math.Max(AdminInCapsule, _options.InCapsuleDataSize) + NvmeTcpWire.DigestSize + 256, pinned: true);
        _pending = new PendingWrite[_options.MaxQueueDepth];
        _thread = new Thread(Run) { IsBackground = true, Name = "nvme-tcp-target" };
    }

    private bool IsAdmin => _qid == 0;

    public void Start() => _thread.Start();

    public void Close()
    {
        _closed = true;
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _socket.Close();
    }

    public void Join(TimeSpan timeout)
    {
        if (_thread.IsAlive && Thread.CurrentThread != _thread)
        {
            _thread.Join(timeout);
        }
    }

    private void Run()
    {
        try
        {
            int ms = (int)Math.Clamp(_options.PduTimeout.TotalMilliseconds, 1, int.MaxValue);
            _socket.NoDelay = true;
            _socket.ReceiveTimeout = ms;
            _socket.SendTimeout = ms;
            if (!WaitForPdu(_options.PduTimeout) || !Handshake())
            {
                return;
            }

            // Busy time: this thread's CPU time between PDUs. Waiting for a PDU blocks in the kernel (poll/recv) and
            // costs no CPU, so the sum is the CPU the target spends serving, with one clock read per PDU.
            long cpu = ThreadCpuClock.NowNanoseconds();
            while (!_closed)
            {
                TimeSpan idle = IsAdmin && _controller is { KeepAliveMs: > 0 } c
                    ? TimeSpan.FromMilliseconds(c.KeepAliveMs) + TimeSpan.FromSeconds(1)
                    : _options.IdleTimeout;
                if (!WaitForPdu(idle))
                {
                    return;
                }

                bool more = HandlePdu();
                long now = ThreadCpuClock.NowNanoseconds();
                _target.AddBusy(now - cpu);
                cpu = now;
                if (!more)
                {
                    return;
                }
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            // The peer vanished, stalled past PduTimeout, or the target is shutting down.
        }
        catch (Exception e)
        {
            // A bug must cost this connection only, never the process; it is counted, not silent (the fuzzer reads it).
            Debug.WriteLine("nvme-tcp target connection failed: " + e);
            _target.NoteConnectionFault(e);
        }
        finally
        {
            for (int i = 0; i < _pending.Length; i++)
            {
                ReleasePending(i);
            }

            if (IsAdmin && _controller is not null)
            {
                _target.RemoveController(_controller);
            }

            Close();
            _target.Remove(this);
        }
    }

    private bool WaitForPdu(TimeSpan limit)
    {
        long start = Stopwatch.GetTimestamp();
        while (!_closed)
        {
            if (_socket.Poll(200_000, SelectMode.SelectRead))
            {
                return true;
            }

            if (Stopwatch.GetElapsedTime(start) > limit)
            {
                return false;
            }
        }

        return false;
    }

    private bool Handshake()
    {
        Span<byte> hdr = _hdr;
        if (!NvmeTcpWire.ReceiveExact(_socket, hdr.Slice(0, 8)))
        {
            return false;
        }

        if (hdr[0] != NvmeTcpPduType.ICReq)
        {
            return Terminate(NvmeTcpFatalError.PduSequenceError, 0, hdr.Slice(0, 8));
        }

        if (hdr[2] != ICReqPdu.HeaderLength)
        {
            return Terminate(NvmeTcpFatalError.InvalidHeaderField, 2, hdr.Slice(0, 8));
        }

        if (!NvmeTcpWire.ReceiveExact(_socket, hdr.Slice(8, ICReqPdu.HeaderLength - 8)))
        {
            return false;
        }

        NvmeTcpHeaderError error = ICReqPdu.TryReadHeader(hdr, false, false, out ICReqPdu req, out int offset);
        if (error != NvmeTcpHeaderError.None)
        {
            return Terminate(NvmeTcpFatalError.InvalidHeaderField, (uint)offset, hdr.Slice(0, ICReqPdu.HeaderLength));
        }

        if (req.Pfv != 0)
        {
            return Terminate(NvmeTcpFatalError.UnsupportedParameter, 8, hdr.Slice(0, ICReqPdu.HeaderLength));
        }

        if (req.Hpda > 31)
        {
            return Terminate(NvmeTcpFatalError.UnsupportedParameter, 10, hdr.Slice(0, ICReqPdu.HeaderLength));
        }

        _hd = req.HeaderDigestEnable;
        _dd = req.DataDigestEnable;
        Span<byte> tx = _tx;
        new ICRespPdu
        {
            PduLength = ICRespPdu.HeaderLength,
            Pfv = 0,
            Cpda = 0,
            HeaderDigestEnable = _hd,
            DataDigestEnable = _dd,
            MaxH2CData = (uint)_options.MaxH2CData,
        }.WriteHeader(tx);
        NvmeTcpWire.SendAll(_socket, tx.Slice(0, ICRespPdu.HeaderLength));
        return true;
    }

    /// <summary>Reads and handles one PDU; false ends the connection.</summary>
    private bool HandlePdu()
    {
        Span<byte> hdr = _hdr;
        if (!NvmeTcpWire.ReceiveExact(_socket, hdr.Slice(0, 8)))
        {
            return false;
        }

        byte type = hdr[0];
        int hlen;
        switch (type)
        {
            case NvmeTcpPduType.CapsuleCmd: hlen = CapsuleCmdPdu.HeaderLength; break;
            case NvmeTcpPduType.H2CData: hlen = H2CDataPdu.HeaderLength; break;
            case NvmeTcpPduType.H2CTermReq: hlen = H2CTermReqPdu.HeaderLength; break;
            case NvmeTcpPduType.ICReq: return Terminate(NvmeTcpFatalError.PduSequenceError, 0, hdr.Slice(0, 8));
            default: return Terminate(NvmeTcpFatalError.InvalidHeaderField, 0, hdr.Slice(0, 8));
        }

        if (hdr[2] != hlen)
        {
            return Terminate(NvmeTcpFatalError.InvalidHeaderField, 2, hdr.Slice(0, 8));
        }

        int hd = type != NvmeTcpPduType.H2CTermReq && _hd ? NvmeTcpWire.DigestSize : 0;
        if (!NvmeTcpWire.ReceiveExact(_socket, hdr.Slice(8, hlen - 8 + hd)))
        {
            return false;
        }

        if (hd != 0 && BinaryPrimitives.ReadUInt32LittleEndian(hdr.Slice(hlen)) != Crc32C.Compute(hdr.Slice(0, hlen)))
        {
            return Terminate(NvmeTcpFatalError.HeaderDigestError, 0, hdr.Slice(0, hlen));
        }

        switch (type)
        {
            case NvmeTcpPduType.CapsuleCmd:
                return OnCapsule(hdr.Slice(0, hlen));
            case NvmeTcpPduType.H2CData:
                return OnH2CData(hdr.Slice(0, hlen));
            default:
                H2CTermReqPdu.TryReadHeader(hdr.Slice(0, hlen), _hd, _dd, out _, out _);
                return false; // the host terminates: close
        }
    }

    private bool OnCapsule(ReadOnlySpan<byte> hdr)
    {
        NvmeTcpHeaderError error = CapsuleCmdPdu.TryReadHeader(hdr, _hd, _dd, out CapsuleCmdPdu pdu, out int offset);
        if (error != NvmeTcpHeaderError.None)
        {
            return Terminate(NvmeTcpFatalError.InvalidHeaderField, (uint)offset, hdr);
        }

        int limit = _qid is 0 or Unconnected ? AdminInCapsule : _options.InCapsuleDataSize;
        int length = pdu.PayloadLength;
        if (length > limit)
        {
            return Terminate(NvmeTcpFatalError.DataLimitExceeded, 4, hdr);
        }

        bool digestOk = true;
        if (length > 0)
        {
            SkipBytes(pdu.PayloadOffset - hdr.Length - (_hd ? NvmeTcpWire.DigestSize : 0));
            if (!ReceiveData(_data.AsSpan(0, length), out digestOk))
            {
                return false;
            }
        }

        ReadOnlySpan<byte> sqe = hdr.Slice(8, SubmissionQueueEntry.WireSize);
        SubmissionQueueEntry entry = SubmissionQueueEntry.Read(sqe);
        if (!digestOk)
        {
            return Respond(entry.CommandId, TransientTransportError, 0, 0);
        }

        return HandleCommand(in entry, sqe, _data.AsSpan(0, length));
    }

    private static NvmeStatus TransientTransportError => new(NvmeStatusCodeType.Generic, 0x22);

    private static NvmeStatus SglTypeInvalid => new(NvmeStatusCodeType.Generic, 0x11, doNotRetry: true);

    private bool ReceiveData(Span<byte> destination, out bool digestOk)
    {
        digestOk = true;
        if (!NvmeTcpWire.ReceiveExact(_socket, destination))
        {
            return false;
        }

        if (_dd)
        {
            Span<byte> digest = _tx.AsSpan(200, 4);
            if (!NvmeTcpWire.ReceiveExact(_socket, digest))
            {
                return false;
            }

            digestOk = BinaryPrimitives.ReadUInt32LittleEndian(digest) == Crc32C.Compute(destination);
        }

        return true;
    }

    private bool HandleCommand(in SubmissionQueueEntry entry, ReadOnlySpan<byte> sqe, ReadOnlySpan<byte> data)
    {
        byte opcode = entry.Opcode;
        ushort cid = entry.CommandId;
        _sqHead = (ushort)((_sqHead + 1) % _sqSize);
        bool fabrics = opcode == AdminOpcode.Fabrics;
        byte fabricsType = fabrics ? NvmeFabricsCommand.Read(sqe).FabricsType : (byte)0;
        if (_qid == Unconnected)
        {
            // A refused host gets nothing on this connection, not even another Connect attempt.
            return fabrics && fabricsType == FabricsCommandType.Connect && !_refused
                ? OnConnect(sqe, data)
                : Respond(cid, NvmeStatus.CommandSequenceError, 0, 0);
        }

        if (entry.Psdt != DataPointerKind.SglMetadataBuffer || entry.Fuse != FusedOperation.Normal)
        {
            return Respond(cid, NvmeStatus.InvalidField, 0, 0); // fabrics commands use SGLs (PSDT 01b), no fused operations
        }

        if (fabrics)
        {
            return fabricsType switch
            {
                FabricsCommandType.Connect => Respond(cid, NvmeStatus.CommandSequenceError, 0, 0),
                FabricsCommandType.PropertyGet when IsAdmin => OnPropertyGet(sqe),
                FabricsCommandType.PropertySet when IsAdmin => OnPropertySet(sqe),
                FabricsCommandType.Disconnect when !IsAdmin => Respond(cid, NvmeStatus.Success, 0, 0) && false, // the queue is deleted: close after the response
                FabricsCommandType.Disconnect => Respond(cid, NvmeStatus.InvalidField, 0, 0), // the admin queue goes away with the association, not by Disconnect
                _ => Respond(cid, NvmeStatus.InvalidOpcode, 0, 0),
            };
        }

        if (IsAdmin)
        {
            _target.CountAdmin(opcode);
            switch (opcode)
            {
                case AdminOpcode.KeepAlive:
                    return Respond(cid, NvmeStatus.Success, 0, 0);
                case AdminOpcode.Identify:
                    return OnIdentify(sqe, data.Length);
                case AdminOpcode.SetFeatures:
                    return OnSetFeatures(sqe);
                case AdminOpcode.GetFeatures:
                    return OnGetFeatures(sqe);
                case AdminOpcode.GetLogPage:
                    return OnGetLogPage(sqe, data.Length);
                case AdminOpcode.AsyncEventRequest:
                    return OnAsyncEventRequest(cid);
                case AdminOpcode.Abort:
                    return OnAbort(sqe);
                default:
                    return Respond(cid, NvmeStatus.InvalidOpcode, 0, 0);
            }
        }

        if (_controller is null || !_controller.Ready)
        {
            return Respond(cid, NvmeStatus.CommandSequenceError, 0, 0);
        }

        return opcode switch
        {
            NvmOpcode.Read => OnRead(in entry, data.Length),
            NvmOpcode.Write => OnWrite(in entry, data),
            NvmOpcode.Flush => OnFlush(in entry),
            _ => Respond(cid, NvmeStatus.InvalidOpcode, 0, 0),
        };
    }

    private bool Respond(ushort cid, NvmeStatus status, uint dw0, uint dw1)
    {
        int length = WriteResponse(_tx, cid, status, dw0, dw1);
        NvmeTcpWire.SendAll(_socket, _tx.AsSpan(0, length));
        return true;
    }

    /// <summary>Writes a CapsuleResp PDU (with header digest if negotiated) at the start of <paramref name="tx"/>; returns its length.</summary>
    private int WriteResponse(Span<byte> tx, ushort cid, NvmeStatus status, uint dw0, uint dw1)
    {
        int hd = _hd ? NvmeTcpWire.DigestSize : 0;
        new CapsuleRespPdu { Flags = _hd ? NvmeTcpFlags.HeaderDigest : (byte)0, PduLength = (uint)(CapsuleRespPdu.HeaderLength + hd) }.WriteHeader(tx);
        new NvmeCompletion
        {
            Dw0 = dw0,
            Dw1 = dw1,
            SqHead = _sqFlowDisabled ? (ushort)0 : _sqHead,
            SqId = _qid == Unconnected ? (ushort)0 : _qid,
            CommandId = cid,
            Status = status,
        }.WriteTo(tx.Slice(8));
        if (_hd)
        {
            Crc32C.WriteDigest(tx.Slice(0, CapsuleRespPdu.HeaderLength), tx.Slice(CapsuleRespPdu.HeaderLength));
        }

        return CapsuleRespPdu.HeaderLength + hd;
    }

    /// <summary>Sends a C2HTermReq (FES, FEI, the header in error) and ends the connection.</summary>
    private bool Terminate(ushort fes, uint fei, ReadOnlySpan<byte> headerInError)
    {
        _target.CountTermination();
        int extra = Math.Min(headerInError.Length, 128);
        Span<byte> tx = stackalloc byte[C2HTermReqPdu.HeaderLength + 128];
        new C2HTermReqPdu { PduLength = (uint)(C2HTermReqPdu.HeaderLength + extra), Fes = fes, Fei = fei }.WriteHeader(tx);
        headerInError.Slice(0, extra).CopyTo(tx.Slice(C2HTermReqPdu.HeaderLength));
        try
        {
            NvmeTcpWire.SendAll(_socket, tx.Slice(0, C2HTermReqPdu.HeaderLength + extra));
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
        }

        return false;
    }

    private void SkipBytes(int count)
    {
        Span<byte> scratch = _tx.AsSpan(0, 128);
        while (count > 0)
        {
            int n = Math.Min(count, scratch.Length);
            if (!NvmeTcpWire.ReceiveExact(_socket, scratch.Slice(0, n)))
            {
                throw new IOException("The host closed the connection inside PDU padding.");
            }

            count -= n;
        }
    }

    private struct PendingWrite
    {
        public byte[]? Buffer;
        public SubmissionQueueEntry Entry;
        public ushort Cid;
        public int Length;
        public int Received;
        public bool DigestFailed;
    }
}
