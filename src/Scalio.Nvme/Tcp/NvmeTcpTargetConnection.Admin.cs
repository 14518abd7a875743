using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;

namespace Scalio.Nvme.Tcp;

/// <summary>The admin queue's commands: features, asynchronous events, abort, log pages and Identify.</summary>
internal sealed partial class NvmeTcpTargetConnection
{
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

    /// <summary>An admin command that returns data: not before the controller is ready, and only to a transport SGL
    /// data block with nothing in the capsule. False with the status to answer when it may not go on.</summary>
    [MemberNotNullWhen(true, nameof(_controller))]
    private bool MayReturnData(byte sglIdentifier, int inCapsule, out NvmeStatus refusal)
    {
        refusal = _controller is null || !_controller.Ready ? NvmeStatus.CommandSequenceError
            : sglIdentifier != NvmeTcpWire.SglTransport || inCapsule != 0 ? SglTypeInvalid : NvmeStatus.Success;
        return refusal.IsSuccess;
    }

    private bool OnGetLogPage(ReadOnlySpan<byte> sqe, int inCapsule)
    {
        NvmeGetLogPageCommand cmd = NvmeGetLogPageCommand.Read(sqe);
        ushort cid = cmd.CommandId;
        if (!MayReturnData(cmd.SglIdentifier, inCapsule, out var refusal)) return Respond(cid, refusal, 0, 0);

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
        if (!MayReturnData(cmd.SglIdentifier, inCapsule, out var refusal)) return Respond(cid, refusal, 0, 0);

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
}
