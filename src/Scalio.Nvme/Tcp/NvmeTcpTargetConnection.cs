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
internal sealed class NvmeTcpTargetConnection
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

    private bool OnConnect(ReadOnlySpan<byte> sqe, ReadOnlySpan<byte> data)
    {
        NvmeConnectCommand cmd = NvmeConnectCommand.Read(sqe);
        ushort cid = cmd.CommandId;
        if (cmd.SglIdentifier != NvmeTcpWire.SglInCapsule || cmd.SglLength != NvmeTcpWire.ConnectDataSize || data.Length != NvmeTcpWire.ConnectDataSize)
        {
            return Respond(cid, NvmeStatus.DataSglLengthInvalid, 0, 0);
        }

        if (cmd.RecordFormat != 0)
        {
            return Respond(cid, new NvmeStatus(NvmeStatusCodeType.CommandSpecific, 0x80, doNotRetry: true), 0, 0); // Incompatible Format
        }

        string subnqn = NvmeTcpWire.ReadNqn(data.Slice(256, 256));
        if (subnqn != _options.SubsystemNqn)
        {
            return Respond(cid, NvmeStatus.ConnectInvalidParameters, 0x0001_0100, 0); // IATTR 1 (data), IPO 256: SUBNQN
        }

        string hostnqn = NvmeTcpWire.ReadNqn(data.Slice(512, 256));
        if (hostnqn.Length == 0)
        {
            return Respond(cid, NvmeStatus.ConnectInvalidParameters, 0x0001_0200, 0); // HOSTNQN
        }

        if (!_target.IsHostAllowed(hostnqn))
        {
            _refused = true;
            _target.OnHostRefused(hostnqn, SafePeer());
            return Respond(cid, NvmeStatus.ConnectInvalidHost, 0, 0);
        }

        int depth = cmd.SubmissionQueueSize + 1;
        if (cmd.SubmissionQueueSize < 1 || depth > _options.MaxQueueDepth)
        {
            return Respond(cid, NvmeStatus.ConnectInvalidParameters, 44, 0); // IATTR 0 (SQE), IPO 44: SQSIZE
        }

        ushort cntlid = BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(16));
        if (cmd.QueueId == 0)
        {
            if (cntlid != 0xFFFF)
            {
                return Respond(cid, NvmeStatus.ConnectInvalidParameters, 0x0001_0010, 0); // dynamic controller model: CNTLID must be FFFFh
            }

            TargetController? controller = _target.CreateController(hostnqn, cmd.KeepAliveTimeout);
            if (controller is null)
            {
                return Respond(cid, new NvmeStatus(NvmeStatusCodeType.CommandSpecific, 0x81), 0, 0); // Controller Busy
            }

            _controller = controller;
        }
        else
        {
            TargetController? controller = _target.FindController(cntlid);
            if (controller is null || controller.HostNqn != hostnqn)
            {
                return Respond(cid, NvmeStatus.ConnectInvalidParameters, 0x0001_0010, 0); // CNTLID
            }

            if (cmd.QueueId > MaxQueues)
            {
                return Respond(cid, NvmeStatus.ConnectInvalidParameters, 42, 0); // QID
            }

            if (!controller.Ready)
            {
                return Respond(cid, NvmeStatus.CommandSequenceError, 0, 0);
            }

            _controller = controller;
        }

        _qid = cmd.QueueId;
        _sqSize = depth;
        _sqHead = (ushort)(1 % depth);
        _sqFlowDisabled = (cmd.ConnectAttributes & 0x04) != 0;
        return Respond(cid, NvmeStatus.Success, _controller.Id, 0);
    }

    private ulong Capabilities =>
        (ulong)(_options.MaxQueueDepth - 1)   // MQES, zero-based
        | (1UL << 16)                          // CQR: contiguous queues required
        | (2UL << 24)                          // TO: 1 s
        | (1UL << 37);                         // CSS: NVM command set; MPSMIN = MPSMAX = 0 (4 KiB)

    private bool OnPropertyGet(ReadOnlySpan<byte> sqe)
    {
        NvmePropertyGetCommand cmd = NvmePropertyGetCommand.Read(sqe);
        TargetController c = _controller!;
        ulong value;
        switch (cmd.PropertyOffset)
        {
            case NvmeProperty.Cap: value = Capabilities; break;
            case NvmeProperty.Vs: value = 0x0002_0000; break;
            case NvmeProperty.Cc: value = c.Cc; break;
            case NvmeProperty.Csts: value = c.Csts; break;
            default: return Respond(cmd.CommandId, NvmeStatus.InvalidField, 0, 0);
        }

        if (cmd.Size8 == 0)
        {
            value &= 0xFFFF_FFFF;
        }
        else if (cmd.Size8 != 1)
        {
            return Respond(cmd.CommandId, NvmeStatus.InvalidField, 0, 0);
        }

        return Respond(cmd.CommandId, NvmeStatus.Success, (uint)value, (uint)(value >> 32));
    }

    private bool OnPropertySet(ReadOnlySpan<byte> sqe)
    {
        NvmePropertySetCommand cmd = NvmePropertySetCommand.Read(sqe);
        TargetController c = _controller!;
        if (cmd.PropertyOffset != NvmeProperty.Cc || cmd.Size8 != 0)
        {
            return Respond(cmd.CommandId, NvmeStatus.InvalidField, 0, 0);
        }

        uint value = (uint)cmd.Value;
        uint old = c.Cc;
        c.Cc = value;
        if ((value & NvmeProperty.CcEnable) != 0 && (old & NvmeProperty.CcEnable) == 0)
        {
            bool sizesOk = ((value >> 16) & 0xF) == 6 && ((value >> 20) & 0xF) == 4 && ((value >> 7) & 0xF) == 0 && ((value >> 4) & 0x7) == 0;
            c.Csts = sizesOk ? c.Csts | NvmeProperty.CstsReady : c.Csts | NvmeProperty.CstsFatal;
        }
        else if ((value & NvmeProperty.CcEnable) == 0 && (old & NvmeProperty.CcEnable) != 0)
        {
            c.Csts &= ~(NvmeProperty.CstsReady | NvmeProperty.CstsFatal);
        }

        if ((value & NvmeProperty.CcShutdownMask) != 0)
        {
            c.Csts = (c.Csts & ~0xCu) | NvmeProperty.CstsShutdownComplete;
        }

        return Respond(cmd.CommandId, NvmeStatus.Success, 0, 0);
    }

    private System.Net.EndPoint? SafePeer()
    {
        try
        {
            return _socket.RemoteEndPoint;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return null;
        }
    }

    private const uint QueuesGranted = MaxQueues - 1; // zero-based NSQA/NCQA

    private bool OnSetFeatures(ReadOnlySpan<byte> sqe)
    {
        NvmeSetFeaturesCommand cmd = NvmeSetFeaturesCommand.Read(sqe);
        ushort cid = cmd.CommandId;
        uint value = cmd.Value;
        TargetController c = _controller!;
        if (cmd.Save)
        {
            return Respond(cid, NvmeStatus.FeatureNotSaveable, 0, 0); // SV: nothing here survives a reset
        }

        switch (cmd.FeatureId)
        {
            case FeatureId.NumberOfQueues:
                if ((value & 0xFFFF) == 0xFFFF || (value >> 16) == 0xFFFF)
                {
                    return Respond(cid, NvmeStatus.InvalidField, 0, 0); // 65536 queues is reserved
                }

                return Respond(cid, NvmeStatus.Success, QueuesGranted | (QueuesGranted << 16), 0);
            case FeatureId.AsyncEventConfiguration:
                c.AsyncEventConfig = value & (0xFFu | AsyncEventsSupported); // SMART warning bits and the notices we announce
                return Respond(cid, NvmeStatus.Success, 0, 0);
            case FeatureId.KeepAliveTimer:
                c.KeepAliveMs = value;
                return Respond(cid, NvmeStatus.Success, 0, 0);
            case FeatureId.Arbitration:
                c.Arbitration = value;
                return Respond(cid, NvmeStatus.Success, 0, 0);
            case FeatureId.PowerManagement:
                return Respond(cid, (value & 0x1F) == 0 ? NvmeStatus.Success : NvmeStatus.InvalidField, 0, 0); // one power state (NPSS 0)
            case FeatureId.TemperatureThreshold:
                c.TemperatureThreshold = value & 0xFFFF;
                return Respond(cid, NvmeStatus.Success, 0, 0);
            case FeatureId.ErrorRecovery:
                c.ErrorRecovery = value;
                return Respond(cid, NvmeStatus.Success, 0, 0);
            case FeatureId.WriteAtomicity:
                c.WriteAtomicity = value & 1;
                return Respond(cid, NvmeStatus.Success, 0, 0);
            case FeatureId.VolatileWriteCache:
                return Respond(cid, NvmeStatus.FeatureNotChangeable, 0, 0); // the namespaces' caching is fixed; Flush makes data durable
            default:
                return Respond(cid, NvmeStatus.InvalidField, 0, 0); // includes interrupt features, which fabrics do not have
        }
    }

    private bool OnGetFeatures(ReadOnlySpan<byte> sqe)
    {
        NvmeGetFeaturesCommand cmd = NvmeGetFeaturesCommand.Read(sqe);
        ushort cid = cmd.CommandId;
        TargetController c = _controller!;
        byte fid = cmd.FeatureId;
        int select = cmd.Select;
        bool changeable = fid is FeatureId.Arbitration or FeatureId.PowerManagement or FeatureId.TemperatureThreshold or FeatureId.ErrorRecovery
            or FeatureId.NumberOfQueues or FeatureId.WriteAtomicity or FeatureId.AsyncEventConfiguration or FeatureId.KeepAliveTimer;
        if (!changeable && fid != FeatureId.VolatileWriteCache)
        {
            return Respond(cid, NvmeStatus.InvalidField, 0, 0);
        }

        if (select == 3)
        {
            return Respond(cid, NvmeStatus.Success, changeable ? 0b100u : 0u, 0); // capabilities: changeable, not saveable, not per namespace
        }

        if (select > 3)
        {
            return Respond(cid, NvmeStatus.InvalidField, 0, 0);
        }

        bool current = select == 0; // default and saved (not saveable: saved = default) report the defaults
        uint value = fid switch
        {
            FeatureId.Arbitration => current ? c.Arbitration : 0,
            FeatureId.PowerManagement => 0,
            FeatureId.TemperatureThreshold => current ? c.TemperatureThreshold : 358,
            FeatureId.ErrorRecovery => current ? c.ErrorRecovery : 0,
            FeatureId.VolatileWriteCache => 1, // enabled, as Identify Controller VWC says a cache is present
            FeatureId.NumberOfQueues => QueuesGranted | (QueuesGranted << 16),
            FeatureId.WriteAtomicity => current ? c.WriteAtomicity : 0,
            FeatureId.AsyncEventConfiguration => current ? c.AsyncEventConfig : 0,
            _ => current ? c.KeepAliveMs : 0, // Keep Alive Timer
        };
        return Respond(cid, NvmeStatus.Success, value, 0);
    }

    private bool OnAsyncEventRequest(ushort cid)
    {
        if (_aerCount >= AerLimit)
        {
            return Respond(cid, NvmeStatus.AsyncEventRequestLimitExceeded, 0, 0);
        }

        // Held: nothing here raises an event (namespaces never change while served), so it completes only when the
        // host aborts it; at disconnect it goes away with the connection.
        _aers[_aerCount++] = cid;
        return true;
    }

    private bool OnAbort(ReadOnlySpan<byte> sqe)
    {
        NvmeAbortCommand cmd = NvmeAbortCommand.Read(sqe);
        ushort cid = cmd.CommandId;
        ushort sqid = cmd.SubmissionQueueId;
        ushort victim = cmd.AbortedCommandId;
        if (sqid == 0)
        {
            for (int i = 0; i < _aerCount; i++)
            {
                if (_aers[i] == victim)
                {
                    _aers[i] = _aers[--_aerCount];
                    return Respond(victim, NvmeStatus.CommandAbortRequested, 0, 0) && Respond(cid, NvmeStatus.Success, 0, 0); // DW0 bit 0 clear: aborted
                }
            }
        }

        return Respond(cid, NvmeStatus.Success, 1, 0); // DW0 bit 0 set: not aborted (every other command has completed already)
    }

    private bool OnGetLogPage(ReadOnlySpan<byte> sqe, int inCapsule)
    {
        NvmeGetLogPageCommand cmd = NvmeGetLogPageCommand.Read(sqe);
        ushort cid = cmd.CommandId;
        if (_controller is null || !_controller.Ready)
        {
            return Respond(cid, NvmeStatus.CommandSequenceError, 0, 0);
        }

        if (cmd.SglIdentifier != NvmeTcpWire.SglTransport || inCapsule != 0)
        {
            return Respond(cid, SglTypeInvalid, 0, 0);
        }

        ulong offset = cmd.LogPageOffset;
        long length = (((long)cmd.DwordCountUpper << 16) | cmd.DwordCountLower) * 4 + 4; // NUMD is zero-based, in dwords
        if (cmd.SglLength != length)
        {
            return Respond(cid, NvmeStatus.DataSglLengthInvalid, 0, 0);
        }

        Span<byte> page = _identify;
        int size;
        switch (cmd.LogPageId)
        {
            case LogPageId.ErrorInformation:
                size = NvmeLogPages.ErrorEntrySize; // ELPE 0: one entry
                NvmeLogPages.WriteErrorInformation(1, page);
                break;
            case LogPageId.SmartHealth:
                size = NvmeLogPages.SmartHealthSize;
                NvmeLogPages.WriteSmartHealth(_target.HealthCounters(), page);
                break;
            case LogPageId.FirmwareSlot:
                size = NvmeLogPages.FirmwareSlotSize;
                NvmeLogPages.WriteFirmwareSlot(Revision, page);
                break;
            case LogPageId.ChangedNamespaceList:
                size = NvmeLogPages.ChangedNamespaceListSize;
                NvmeLogPages.WriteChangedNamespaceList(default, page); // namespaces never change while served
                break;
            default:
                return Respond(cid, NvmeStatus.InvalidLogPage, 0, 0);
        }

        if ((offset & 3) != 0 || offset >= (ulong)size || length > page.Length)
        {
            return Respond(cid, NvmeStatus.InvalidField, 0, 0); // offsets are dword aligned and inside the page; one page at most
        }

        // Bytes past the end of the page read as zero (a host may ask for a whole 4 KiB window).
        int from = (int)offset;
        int n = (int)length;
        page.Slice(from, size - from).CopyTo(page);
        if (size - from < n)
        {
            page.Slice(size - from, n - (size - from)).Clear();
        }

        return SendC2HData(cid, page.Slice(0, n), success: false) && Respond(cid, NvmeStatus.Success, 0, 0);
    }

    private bool OnIdentify(ReadOnlySpan<byte> sqe, int inCapsule)
    {
        NvmeIdentifyCommand cmd = NvmeIdentifyCommand.Read(sqe);
        ushort cid = cmd.CommandId;
        if (_controller is null || !_controller.Ready)
        {
            return Respond(cid, NvmeStatus.CommandSequenceError, 0, 0);
        }

        if (cmd.SglIdentifier != NvmeTcpWire.SglTransport || inCapsule != 0)
        {
            return Respond(cid, SglTypeInvalid, 0, 0);
        }

        if (cmd.SglLength != NvmeIdentify.DataSize)
        {
            return Respond(cid, NvmeStatus.DataSglLengthInvalid, 0, 0);
        }

        Span<byte> data = _identify;
        NvmeCommandExecutor executor = _target.Executor;
        switch (cmd.Cns)
        {
            case IdentifyCns.Namespace:
                NvmeNamespace? ns = executor.GetNamespace(cmd.Nsid);
                if (ns is null)
                {
                    return Respond(cid, NvmeStatus.InvalidNamespace, 0, 0);
                }

                NvmeIdentify.WriteNamespace(ns, _target.IdentifiersOf(ns.Nsid).Nguid, data);
                break;
            case IdentifyCns.NamespaceDescriptors:
                if (executor.GetNamespace(cmd.Nsid) is null)
                {
                    return Respond(cid, NvmeStatus.InvalidNamespace, 0, 0);
                }

                (byte[] nguid, Guid uuid) = _target.IdentifiersOf(cmd.Nsid);
                NvmeIdentify.WriteNamespaceDescriptors(nguid, uuid, 0, data);
                break;
            case IdentifyCns.CommandSetNamespace when cmd.CommandSetIdentifier == 0:
                if (executor.GetNamespace(cmd.Nsid) is null)
                {
                    return Respond(cid, NvmeStatus.InvalidNamespace, 0, 0);
                }

                data.Clear(); // NVM Command Set specific namespace data: nothing beyond CNS 00h to report
                break;
            case IdentifyCns.CommandSetController when cmd.CommandSetIdentifier == 0:
                data.Clear(); // NVM Command Set specific controller data: all limits unreported (no Verify, Write Zeroes or DSM)
                break;
            case IdentifyCns.Controller:
                NvmeIdentify.WriteController(
                    new NvmeControllerIdentity
                    {
                        SerialNumber = _options.SerialNumber,
                        ModelNumber = _options.ModelNumber,
                        FirmwareRevision = Revision,
                        MaxDataTransferSize = (byte)System.Numerics.BitOperations.Log2((uint)(_options.MaxTransferBytes / 4096)),
                        ControllerId = _controller.Id,
                        Version = 0x0002_0000,
                        MaxOutstandingCommands = (ushort)_options.MaxQueueDepth,
                        NamespaceCount = executor.Namespaces[^1].Nsid,
                        SubsystemNqn = _options.SubsystemNqn,
                        InCapsuleDataSize = _options.InCapsuleDataSize,
                        SglSupport = 0x0010_0001, // SGLs supported; offsets in data block descriptors (in-capsule)
                        AsyncEventsSupported = AsyncEventsSupported,
                        AbortCommandLimit = 3,
                        AsyncEventRequestLimit = AerLimit - 1,
                        FirmwareUpdates = 0x03, // one slot, read-only
                        LogPageAttributes = 0x04, // extended Get Log Page: NUMDU and offsets
                        ErrorLogEntries = 0,
                        MaxSglDescriptors = 1,
                    },
                    data);
                break;
            case IdentifyCns.ActiveNamespaceList: // NSIDs above CDW1.NSID, ascending
                if (cmd.Nsid >= 0xFFFF_FFFE)
                {
                    return Respond(cid, NvmeStatus.InvalidNamespace, 0, 0); // no NSID lies above these
                }

                data.Clear();
                int n = 0;
                foreach (NvmeNamespace each in executor.Namespaces)
                {
                    if (each.Nsid > cmd.Nsid && n < 1024)
                    {
                        BinaryPrimitives.WriteUInt32LittleEndian(data.Slice(4 * n++), each.Nsid);
                    }
                }

                break;
            default:
                return Respond(cid, NvmeStatus.InvalidField, 0, 0);
        }

        return SendC2HData(cid, data, success: false) && Respond(cid, NvmeStatus.Success, 0, 0);
    }

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
