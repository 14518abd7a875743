using System.Buffers.Binary;
using System.Net.Sockets;

namespace Scalio.Nvme.Tcp;

/// <summary>The Fabrics commands: Connect (admin or I/O queue, host and subsystem NQN, admission) and Property Get/Set.</summary>
internal sealed partial class NvmeTcpTargetConnection
{
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
}
