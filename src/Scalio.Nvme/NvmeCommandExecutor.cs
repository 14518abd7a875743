namespace Scalio.Nvme;

/// <summary>Direction of a command's data transfer.</summary>
public enum NvmeDataDirection
{
    /// <summary>No data (e.g. Flush).</summary>
    None,

    /// <summary>Host to controller (e.g. Write): the data must be fetched before execution.</summary>
    HostToController,

    /// <summary>Controller to host (e.g. Read): the data is returned after execution.</summary>
    ControllerToHost,
}

/// <summary>
/// Executes NVM I/O commands (Read, Write, Flush) against a fixed set of namespaces and fills the completion
/// queue entry. The caller resolves the command's data pointer (PRP/SGL) to memory and passes it as a span.
/// Allocation-free and safe for concurrent use (as safe as the namespaces). Any other opcode gives Invalid
/// Command Opcode; an unknown NSID gives Invalid Namespace or Format; a fused command gives Invalid Field.
/// </summary>
public sealed class NvmeCommandExecutor
{
    /// <summary>NSID meaning "every namespace" (Flush only).</summary>
    public const uint BroadcastNsid = 0xFFFF_FFFF;

    /// <summary>Largest NSID this executor accepts (it indexes namespaces by NSID).</summary>
    public const uint MaxNsid = 4096;

    private readonly NvmeNamespace?[] _byNsid;
    private readonly NvmeNamespace[] _all;

    /// <summary>Creates an executor over <paramref name="namespaces"/> (NSIDs unique, 1..<see cref="MaxNsid"/>).</summary>
    /// <param name="namespaces">The namespaces; the executor does not own or dispose them.</param>
    public NvmeCommandExecutor(IEnumerable<NvmeNamespace> namespaces)
    {
        ArgumentNullException.ThrowIfNull(namespaces);
        var list = new List<NvmeNamespace>(namespaces);
        uint max = 0;
        foreach (NvmeNamespace ns in list)
        {
            ArgumentNullException.ThrowIfNull(ns, nameof(namespaces));
            if (ns.Nsid > MaxNsid)
            {
                NvmeThrow.Argument(nameof(namespaces), $"NSID {ns.Nsid} is above the executor's limit of {MaxNsid}.");
            }

            max = Math.Max(max, ns.Nsid);
        }

        _byNsid = new NvmeNamespace?[max + 1];
        foreach (NvmeNamespace ns in list)
        {
            if (_byNsid[ns.Nsid] is not null)
            {
                NvmeThrow.Argument(nameof(namespaces), $"NSID {ns.Nsid} appears twice.");
            }

            _byNsid[ns.Nsid] = ns;
        }

        list.Sort(static (a, b) => a.Nsid.CompareTo(b.Nsid));
        _all = list.ToArray();
    }

    /// <summary>The namespaces, ordered by NSID.</summary>
    public IReadOnlyList<NvmeNamespace> Namespaces => _all;

    /// <summary>The namespace with <paramref name="nsid"/>, or null.</summary>
    /// <param name="nsid">Namespace identifier.</param>
    public NvmeNamespace? GetNamespace(uint nsid) => nsid < (uint)_byNsid.Length ? _byNsid[nsid] : null;

    /// <summary>
    /// Tells how much data <paramref name="command"/> moves and in which direction, so a transport can fetch
    /// write data (R2T, RDMA READ) or size a read buffer before <see cref="Execute"/>. Returns an error status
    /// for commands that <see cref="Execute"/> would reject before touching data.
    /// </summary>
    /// <param name="command">The submission queue entry.</param>
    /// <param name="direction">Data direction.</param>
    /// <param name="length">Transfer length in bytes (0 when none).</param>
    /// <returns>Success, or the status <see cref="Execute"/> would complete the command with.</returns>
    public NvmeStatus GetDataTransfer(in SubmissionQueueEntry command, out NvmeDataDirection direction, out int length)
    {
        direction = NvmeDataDirection.None;
        length = 0;
        switch (command.Opcode)
        {
            case NvmOpcode.Read:
            case NvmOpcode.Write:
                if (command.Fuse != FusedOperation.Normal)
                {
                    return NvmeStatus.InvalidField;
                }

                NvmeNamespace? ns = GetNamespace(command.Nsid);
                if (ns is null)
                {
                    return NvmeStatus.InvalidNamespace;
                }

                direction = command.Opcode == NvmOpcode.Read ? NvmeDataDirection.ControllerToHost : NvmeDataDirection.HostToController;
                length = command.BlockCount << ns.LbaShift;
                return NvmeStatus.Success;
            case NvmOpcode.Flush:
                return command.Fuse != FusedOperation.Normal ? NvmeStatus.InvalidField
                    : command.Nsid == BroadcastNsid || GetNamespace(command.Nsid) is not null ? NvmeStatus.Success
                    : NvmeStatus.InvalidNamespace;
            default:
                return NvmeStatus.InvalidOpcode;
        }
    }

    /// <summary>
    /// Executes one command and fills <paramref name="completion"/> (CID echoed, SQID, SQHD, status; DW0/DW1 zero,
    /// phase bit clear: the completion queue owner sets it).
    /// </summary>
    /// <param name="command">The submission queue entry.</param>
    /// <param name="data">The command's data buffer: the destination of a Read, the source of a Write, at least
    /// the transfer length (extra bytes are ignored; fewer give Data SGL Length Invalid). Ignored by Flush.</param>
    /// <param name="sqId">Submission queue identifier to report.</param>
    /// <param name="sqHead">Submission queue head pointer to report.</param>
    /// <param name="completion">The completion queue entry.</param>
    /// <returns>The command's status (also in <paramref name="completion"/>).</returns>
    public NvmeStatus Execute(in SubmissionQueueEntry command, Span<byte> data, ushort sqId, ushort sqHead, out NvmeCompletion completion)
    {
        NvmeStatus status = command.Opcode switch
        {
            NvmOpcode.Read => ExecuteRead(in command, data),
            NvmOpcode.Write => ExecuteWrite(in command, data),
            NvmOpcode.Flush => ExecuteFlush(in command),
            _ => NvmeStatus.InvalidOpcode,
        };

        completion = default;
        completion.CommandId = command.CommandId;
        completion.SqId = sqId;
        completion.SqHead = sqHead;
        completion.Status = status;
        return status;
    }

    private NvmeStatus ExecuteRead(in SubmissionQueueEntry command, Span<byte> data)
    {
        if (command.Fuse != FusedOperation.Normal)
        {
            return NvmeStatus.InvalidField;
        }

        NvmeNamespace? ns = GetNamespace(command.Nsid);
        return ns is null ? NvmeStatus.InvalidNamespace : ns.Read(command.StartingLba, command.BlockCount, data);
    }

    private NvmeStatus ExecuteWrite(in SubmissionQueueEntry command, ReadOnlySpan<byte> data)
    {
        if (command.Fuse != FusedOperation.Normal)
        {
            return NvmeStatus.InvalidField;
        }

        NvmeNamespace? ns = GetNamespace(command.Nsid);
        return ns is null ? NvmeStatus.InvalidNamespace : ns.Write(command.StartingLba, command.BlockCount, data, command.ForceUnitAccess);
    }

    private NvmeStatus ExecuteFlush(in SubmissionQueueEntry command)
    {
        if (command.Fuse != FusedOperation.Normal)
        {
            return NvmeStatus.InvalidField;
        }

        if (command.Nsid != BroadcastNsid)
        {
            NvmeNamespace? ns = GetNamespace(command.Nsid);
            return ns is null ? NvmeStatus.InvalidNamespace : ns.Flush();
        }

        NvmeStatus first = NvmeStatus.Success;
        NvmeNamespace[] all = _all;
        for (int i = 0; i < all.Length; i++)
        {
            NvmeStatus s = all[i].Flush();
            if (first.IsSuccess && !s.IsSuccess)
            {
                first = s;
            }
        }

        return first;
    }
}
