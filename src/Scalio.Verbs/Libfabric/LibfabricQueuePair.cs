namespace Scalio.Verbs.Libfabric;

/// <summary>
/// Queue pair of the libfabric provider: one reliable-datagram endpoint (FI_EP_RDM) that talks to exactly one peer
/// endpoint, so it behaves as a reliable-connected queue pair. Ordering: requests take effect in posting order —
/// where the provider does not guarantee the order of two kinds of operation (its <c>msg_order</c> bits; e.g.
/// tcp;ofi_rxm does not order atomics against RMA or against each other), the later request is held back until the
/// earlier ones complete, and the domain's progress thread issues it. A failed request moves the queue pair to the
/// error state: later requests, and successes that complete after the failure, are reported as
/// <see cref="CompletionStatus.Flushed"/>, as with the loopback provider and verbs.
/// </summary>
public sealed unsafe class LibfabricQueuePair : QueuePair
{
    internal const byte KindRead = 0, KindWrite = 1, KindAtomic = 2, KindSend = 3;

    private readonly LibfabricDomain _domain;
    private readonly QueuePairOptions _options;
    private readonly Lock _gate = new();
    private FidEp* _ep;
    private ulong _peer = Fi.FI_ADDR_UNSPEC;
    private volatile QueuePairState _state = QueuePairState.Reset;
    private readonly int _orderMask;
    private readonly int[] _inflight = new int[4];
    private readonly WorkRequest[] _deferred;
    private int _deferredHead, _deferredCount;
    private int _receivesPosted;
    private RemoteRegion[] _remote = [];
    private LibfabricDomain? _peerDomain;
    private readonly bool _identityKeys;
    private volatile bool _endpointClosed;

    internal LibfabricQueuePair(LibfabricDomain domain, CompletionQueue sendQueue, CompletionQueue receiveQueue, QueuePairOptions options)
        : base(domain, sendQueue, receiveQueue)
    {
        _domain = domain;
        _options = options;
        _deferred = new WorkRequest[domain.Fabric.Options.SendQueueDepth];
        _orderMask = OrderMask(domain.Fabric.TransmitOrder);
        _identityKeys = !domain.Fabric.VirtualAddressing && !domain.Fabric.ProviderKeys;

        FidEp* ep;
        lock (domain.ProviderGate)
        {
            Fi.Check(domain.Handle->ops->endpoint(domain.Handle, domain.Fabric.Info, &ep, null), "fi_endpoint");
            _ep = ep;
            try
            {
                Fi.Check(Fi.Bind(&ep->fid, &domain.Av->fid, 0), "fi_ep_bind(av)");
                Fi.Check(Fi.Bind(&ep->fid, (Fid*)GetCq(domain), Fi.FI_SEND | Fi.FI_RECV), "fi_ep_bind(cq)");
                Fi.Check(Fi.Control(&ep->fid, Fi.FI_ENABLE, null), "fi_enable");
                byte* name = stackalloc byte[512];
                nuint len = 512;
                Fi.Check(ep->cm->getname(&ep->fid, name, &len), "fi_getname");
                LocalAddress = new ReadOnlySpan<byte>(name, (int)len).ToArray();
            }
            catch
            {
                Fi.Close(&ep->fid);
                _ep = null;
                throw;
            }
        }
        Index = domain.RegisterQueuePair(this);
        if (domain.Fabric.Options.CallerDrivesProgress && domain.Fabric.ManualProgress)
        {
            sendQueue.Progress = domain;
            receiveQueue.Progress = domain;
        }
    }

    private static FidCq* GetCq(LibfabricDomain domain) => domain.CqHandle;

    /// <summary>The endpoint's provider address (fi_getname), which the peer inserts into its address vector.</summary>
    public ReadOnlyMemory<byte> LocalAddress { get; }

    /// <summary>Registry index in the domain (names the owner in operation slots).</summary>
    internal int Index { get; }

    internal bool EndpointClosed => _endpointClosed;

    /// <summary>Last provider error code (positive FI_E*) seen by this queue pair; 0 when none.</summary>
    public int LastErrorCode { get; private set; }

    /// <inheritdoc />
    public override QueuePairState State => _state;

    /// <summary>False: provider atomics (executed by the target's provider, in software for tcp and shm) are not atomic
    /// with respect to the target CPU's own atomics on the same word; the owner must use fabric atomics too.</summary>
    public override bool AtomicsCoherentWithCpu => false;

    // ---- connection ----

    internal void ConnectLocal(LibfabricQueuePair peer)
    {
        Connect(peer.LocalAddress.Span, []);
        _peerDomain = peer._domain;
    }

    /// <summary>
    /// Connects to a peer endpoint in another process: inserts its address and records the regions it exported
    /// (their remote keys are translated to the provider's keys and addresses on every request).
    /// </summary>
    public void Connect(ReadOnlySpan<byte> peerAddress, IReadOnlyList<RemoteRegion> peerRegions)
    {
        ArgumentNullException.ThrowIfNull(peerRegions);
        if (peerAddress.IsEmpty) throw new ArgumentException("the peer address is empty", nameof(peerAddress));
        lock (_gate)
        {
            if (_state != QueuePairState.Reset) throw new InvalidOperationException("queue pair is already connected or closed");
            ulong addr;
            fixed (byte* p = peerAddress)
            {
                int rc;
                lock (_domain.ProviderGate) rc = _domain.Av->ops->insert(_domain.Av, p, 1, &addr, 0, null);
                if (rc != 1) throw new LibfabricException("fi_av_insert", rc < 0 ? -rc : Fi.FI_EINVAL);
            }
            _peer = addr;
            _remote = [.. peerRegions];
            _state = QueuePairState.ReadyToSend;
        }
    }

    /// <summary>Adds (or replaces) one region the peer exported after the connection was made.</summary>
    public void AddRemoteRegion(RemoteRegion region)
    {
        lock (_gate)
        {
            var list = new List<RemoteRegion>(_remote.Length + 1);
            foreach (var r in _remote) if (r.RemoteKey != region.RemoteKey) list.Add(r);
            list.Add(region);
            _remote = [.. list];
        }
    }

    private bool TryTranslate(uint remoteKey, ulong offset, out ulong key, out ulong address)
    {
        var remote = _remote;
        for (int i = 0; i < remote.Length; i++)
        {
            if (remote[i].RemoteKey == remoteKey)
            {
                key = remote[i].FabricKey;
                address = remote[i].BaseAddress + offset;
                return true;
            }
        }
        if (_peerDomain is not null && _peerDomain.TryRemote(remoteKey, out key, out ulong baseAddress))
        {
            address = baseAddress + offset;
            return true;
        }
        if (_identityKeys)
        {
            // Keys are the ones we requested (= Scalio's remote keys) and addresses are offsets: the target's provider
            // checks key, bounds and rights itself.
            key = remoteKey;
            address = offset;
            return true;
        }
        key = 0;
        address = 0;
        return false;
    }

    // ---- posting ----

    /// <inheritdoc />
    public override void PostSend(in WorkRequest request)
    {
        lock (_gate) Post(in request);
    }

    /// <inheritdoc />
    public override void PostSend(ReadOnlySpan<WorkRequest> chain)
    {
        lock (_gate)
        {
            for (int i = 0; i < chain.Length; i++) Post(in chain[i]);
        }
    }

    private void Post(in WorkRequest wr)
    {
        if (_state != QueuePairState.ReadyToSend)
        {
            Complete(in wr, _state == QueuePairState.Reset ? CompletionStatus.RemoteInvalidRequest : CompletionStatus.Flushed, 0);
            return;
        }
        bool unordered = (wr.Flags & WorkFlags.Unordered) != 0;
        if (!unordered && (_deferredCount > 0 || !CanIssue(KindOf(wr.Opcode), (wr.Flags & WorkFlags.Fence) != 0)))
        {
            Defer(in wr);
            return;
        }
        Issue(in wr, fromDeferred: false);
    }

    private void Defer(in WorkRequest wr)
    {
        if (_deferredCount == _deferred.Length)
            ThrowHelper.InvalidOperation($"send queue full ({_deferred.Length} requests waiting); poll completions or raise LibfabricOptions.SendQueueDepth");
        _deferred[(_deferredHead + _deferredCount) % _deferred.Length] = wr;
        if (_deferredCount++ == 0) _domain.NoteDeferred(1);
    }

    // Returns false when the provider pushed back (EAGAIN): the request was not issued.
    private bool Issue(in WorkRequest wr, bool fromDeferred)
    {
        byte kind = KindOf(wr.Opcode);
        bool writesLocal = wr.Opcode is WorkOpcode.Read or WorkOpcode.CompareSwap or WorkOpcode.FetchAdd;
        void* desc = null;
        if (wr.Length > 0 && !_domain.TryLocal(wr.LocalKey, wr.LocalAddress, wr.Length, writesLocal, out desc))
        {
            Fail(in wr, CompletionStatus.LocalProtectionError);
            return true;
        }
        ulong key = 0, address = 0;
        if (kind != KindSend)
        {
            if (kind == KindAtomic && (wr.Length != 8 || (wr.RemoteOffset & 7) != 0 || !_domain.AtomicsSupported))
            {
                Fail(in wr, CompletionStatus.RemoteInvalidRequest);
                return true;
            }
            if (!TryTranslate(wr.RemoteKey, wr.RemoteOffset, out key, out address))
            {
                Fail(in wr, CompletionStatus.RemoteAccessError);
                return true;
            }
        }
        if (wr.Opcode == WorkOpcode.WriteWithImmediate)
        {
            // Not implemented over libfabric (FI_REMOTE_CQ_DATA on writes does not consume a posted receive
            // unless the provider runs in FI_RX_CQ_DATA mode); refused rather than emulated.
            Fail(in wr, CompletionStatus.RemoteInvalidRequest);
            return true;
        }

        FidEp* ep = _ep;
        void* buf = (void*)wr.LocalAddress;
        nint rc;
        bool unordered = (wr.Flags & WorkFlags.Unordered) != 0;
        if (unordered && wr.Opcode == WorkOpcode.Write && (wr.Flags & WorkFlags.Signaled) == 0 && !_options.SignalAll
            && wr.Length <= _domain.Fabric.InjectSize && ep->rma->inject != null)
        {
            // Nobody waits for it and nothing is ordered after it: sent inline, no completion, no delivery ack.
            lock (_domain.ProviderGate) rc = ep->rma->inject(ep, buf, wr.Length, _peer, address, key);
            if (rc == 0)
            {
                _domain.Kick();
                return true;
            }
            if (rc == -Fi.FI_EAGAIN)
            {
                if (!fromDeferred) Defer(in wr);
                return false;
            }
            LastErrorCode = (int)-rc;
            Fail(in wr, MapError((int)-rc, kind));
            return true;
        }

        OpSlot* s = _domain.RentSlot(Index);
        s->Id = wr.Id;
        s->Length = wr.Length;
        s->Opcode = wr.Opcode;
        s->Flags = wr.Flags;
        s->Kind = kind;
        s->Unordered = unordered ? (byte)1 : (byte)0;
        lock (_domain.ProviderGate)
        {
            switch (wr.Opcode)
            {
                case WorkOpcode.Read:
                    rc = ep->rma->read(ep, buf, wr.Length, desc, _peer, address, key, s);
                    break;
                case WorkOpcode.Write:
                {
                    // Delivery-complete: the completion waits for the target, so a write the target refuses (tcp closes
                    // the connection on a bad key or range) fails instead of completing when the bytes left.
                    var iov = new IoVec { iov_base = buf, iov_len = wr.Length };
                    var rma = new FiRmaIov { addr = address, len = wr.Length, key = key };
                    var msg = new FiMsgRma { msg_iov = &iov, desc = &desc, iov_count = 1, addr = _peer, rma_iov = &rma, rma_iov_count = 1, context = s };
                    rc = ep->rma->writemsg(ep, &msg, Fi.FI_COMPLETION | Fi.FI_DELIVERY_COMPLETE);
                    break;
                }
                case WorkOpcode.CompareSwap:
                {
                    s->Operand = wr.Swap;
                    s->Compare = wr.CompareAdd;
                    void* sd = _domain.SlotDescriptor(s->Index);
                    rc = ep->atomic->compwrite(ep, &s->Operand, 1, sd, &s->Compare, sd, buf, desc, _peer, address, key, Fi.FI_UINT64, Fi.FI_CSWAP, s);
                    break;
                }
                case WorkOpcode.FetchAdd:
                {
                    s->Operand = wr.CompareAdd;
                    void* sd = _domain.SlotDescriptor(s->Index);
                    rc = ep->atomic->readwrite(ep, &s->Operand, 1, sd, buf, desc, _peer, address, key, Fi.FI_UINT64, Fi.FI_SUM, s);
                    break;
                }
                case WorkOpcode.Send:
                    rc = ep->msg->send(ep, buf, wr.Length, desc, _peer, s);
                    break;
                case WorkOpcode.SendWithImmediate:
                    rc = ep->msg->senddata(ep, buf, wr.Length, desc, wr.Immediate, _peer, s);
                    break;
                default:
                    rc = -Fi.FI_EOPNOTSUPP;
                    break;
            }
        }
        if (rc == 0)
        {
            if (!unordered) _inflight[kind]++;
            _domain.Kick();
            return true;
        }
        _domain.ReturnSlot(s);
        if (rc == -Fi.FI_EAGAIN)
        {
            if (!fromDeferred) Defer(in wr);
            return false;
        }
        LastErrorCode = (int)-rc;
        Fail(in wr, MapError((int)-rc, kind));
        return true;
    }

    /// <summary>Issues held-back requests whose ordering constraints are now met (progress thread).</summary>
    internal void IssueDeferred()
    {
        lock (_gate) DrainDeferred();
    }

    private void DrainDeferred()
    {
        while (_deferredCount > 0)
        {
            ref var wr = ref _deferred[_deferredHead];
            if (_state != QueuePairState.ReadyToSend)
            {
                Complete(in wr, CompletionStatus.Flushed, 0);
            }
            else
            {
                if (!CanIssue(KindOf(wr.Opcode), (wr.Flags & WorkFlags.Fence) != 0)) return;
                if (!Issue(in wr, fromDeferred: true)) return; // provider still full: retried by the progress thread
            }
            _deferredHead = (_deferredHead + 1) % _deferred.Length;
            if (--_deferredCount == 0)
            {
                _deferredHead = 0;
                _domain.NoteDeferred(-1);
            }
        }
    }

    /// <inheritdoc />
    public override void PostReceive(in ReceiveRequest request)
    {
        lock (_gate)
        {
            if (_state == QueuePairState.Closed) ThrowHelper.ObjectDisposed(nameof(QueuePair));
            if (_receivesPosted >= Math.Max(1, _options.MaxReceives)) ThrowHelper.InvalidOperation($"receive queue full ({_receivesPosted} receives posted)");
            void* desc = null;
            if (request.Length > 0 && !_domain.TryLocal(request.LocalKey, request.LocalAddress, request.Length, writes: true, out desc))
            {
                // Checked at post time: the provider (tcp) would otherwise write wherever the buffer points.
                if (_state == QueuePairState.ReadyToSend) _state = QueuePairState.Error;
                ReceiveQueue.Push(new Completion { Id = request.Id, Opcode = WorkOpcode.Receive, Status = CompletionStatus.LocalProtectionError, QueuePairNumber = Number });
                return;
            }
            OpSlot* s = _domain.RentSlot(Index);
            s->Id = request.Id;
            s->Length = request.Length;
            s->Opcode = WorkOpcode.Receive;
            s->IsReceive = 1;
            nint rc;
            lock (_domain.ProviderGate) rc = _ep->msg->recv(_ep, (void*)request.LocalAddress, request.Length, desc, Fi.FI_ADDR_UNSPEC, s);
            if (rc != 0)
            {
                _domain.ReturnSlot(s);
                throw new LibfabricException("fi_recv", (int)-rc);
            }
            _receivesPosted++;
        }
        _domain.Kick();
    }

    // ---- completion ----

    internal void OnCompletion(OpSlot* s, int error, uint length, ulong flags, ulong data)
    {
        lock (_gate)
        {
            if (s->State != OpSlot.InUse) return;
            if (s->IsReceive != 0)
            {
                _receivesPosted--;
                var status = error == 0 ? CompletionStatus.Success : MapReceiveError(error);
                if (error != 0) LastErrorCode = error;
                // State first, so whoever polls the completion sees the queue pair already in the error state.
                if (status is not CompletionStatus.Success and not CompletionStatus.Flushed && _state == QueuePairState.ReadyToSend)
                    _state = QueuePairState.Error;
                ReceiveQueue.Push(new Completion
                {
                    Id = s->Id,
                    Opcode = WorkOpcode.Receive,
                    Status = status,
                    ByteLength = status == CompletionStatus.Success ? length : 0,
                    Immediate = (uint)data,
                    HasImmediate = status == CompletionStatus.Success && (flags & Fi.FI_REMOTE_CQ_DATA) != 0,
                    QueuePairNumber = Number,
                });
                _domain.ReturnSlot(s);
                return;
            }

            if (s->Unordered == 0) _inflight[s->Kind]--;
            CompletionStatus st;
            if (error != 0)
            {
                LastErrorCode = error;
                // tcp refuses a bad RMA (key, range, rights) by closing the connection: the initiator sees its
                // operations canceled while the queue pair is open. Report that as the refused access it is.
                st = _state != QueuePairState.ReadyToSend ? CompletionStatus.Flushed
                    : error == Fi.FI_ECANCELED && s->Kind != KindSend ? CompletionStatus.RemoteAccessError
                    : MapError(error, s->Kind);
                if (_state == QueuePairState.ReadyToSend) _state = QueuePairState.Error;
            }
            else
            {
                st = _state == QueuePairState.Error ? CompletionStatus.Flushed : CompletionStatus.Success;
            }
            if (st != CompletionStatus.Success || (s->Flags & WorkFlags.Signaled) != 0 || _options.SignalAll)
            {
                SendQueue.Push(new Completion
                {
                    Id = s->Id,
                    Opcode = s->Opcode,
                    Status = st,
                    ByteLength = st == CompletionStatus.Success ? s->Length : 0,
                    QueuePairNumber = Number,
                });
            }
            _domain.ReturnSlot(s);
            if (_deferredCount > 0) DrainDeferred();
        }
    }

    private void Fail(in WorkRequest wr, CompletionStatus status)
    {
        if (_state == QueuePairState.ReadyToSend) _state = QueuePairState.Error;
        Complete(in wr, status, 0);
    }

    private void Complete(in WorkRequest wr, CompletionStatus status, uint bytes)
    {
        CompleteSend(in wr, status, bytes, _options.SignalAll);
    }

    private static CompletionStatus MapError(int error, byte kind) => error switch
    {
        Fi.FI_ECANCELED => CompletionStatus.Flushed,
        Fi.FI_ETRUNC => CompletionStatus.RemoteInvalidRequest,
        Fi.FI_ECONNRESET or Fi.FI_ECONNREFUSED or Fi.FI_ENOTCONN or Fi.FI_EHOSTUNREACH or Fi.FI_ETIMEDOUT => CompletionStatus.PeerGone,
        Fi.FI_EOPNOTSUPP or Fi.FI_ENOSYS => CompletionStatus.RemoteInvalidRequest,
        Fi.FI_EINVAL when kind == KindAtomic => CompletionStatus.RemoteInvalidRequest,
        _ when kind == KindSend => CompletionStatus.RemoteInvalidRequest,
        // EACCES, EKEYREJECTED, EFAULT, EINVAL, EREMOTEIO, EIO...: the target refused the access.
        _ => CompletionStatus.RemoteAccessError,
    };

    private static CompletionStatus MapReceiveError(int error) => error switch
    {
        Fi.FI_ECANCELED => CompletionStatus.Flushed,
        Fi.FI_ETRUNC => CompletionStatus.LocalLengthError,
        Fi.FI_ECONNRESET or Fi.FI_ECONNREFUSED or Fi.FI_ENOTCONN or Fi.FI_EHOSTUNREACH => CompletionStatus.PeerGone,
        _ => CompletionStatus.LocalProtectionError,
    };

    // ---- ordering ----

    private static byte KindOf(WorkOpcode op) => op switch
    {
        WorkOpcode.Read => KindRead,
        WorkOpcode.Write or WorkOpcode.WriteWithImmediate => KindWrite,
        WorkOpcode.CompareSwap or WorkOpcode.FetchAdd => KindAtomic,
        _ => KindSend,
    };

    private bool CanIssue(byte kind, bool fence)
    {
        var inflight = _inflight;
        if (fence && (inflight[KindRead] > 0 || inflight[KindAtomic] > 0)) return false;
        for (int prev = 0; prev < 4; prev++)
        {
            if (inflight[prev] > 0 && (_orderMask & (1 << (prev * 4 + kind))) == 0) return false;
        }
        return true;
    }

    /// <summary>Bit (prev*4 + next) is set when a request of kind next may be issued while one of kind prev is in flight.</summary>
    internal static int OrderMask(ulong o)
    {
        static bool Has(ulong o, ulong bits) => (o & bits) != 0;
        bool rar = Has(o, Fi.FI_ORDER_RAR), raw = Has(o, Fi.FI_ORDER_RAW), war = Has(o, Fi.FI_ORDER_WAR), waw = Has(o, Fi.FI_ORDER_WAW);
        bool ras = Has(o, Fi.FI_ORDER_RAS), was = Has(o, Fi.FI_ORDER_WAS), sar = Has(o, Fi.FI_ORDER_SAR), saw = Has(o, Fi.FI_ORDER_SAW), sas = Has(o, Fi.FI_ORDER_SAS);
        int m = 0;
        void Set(byte prev, byte next, bool ok)
        {
            if (ok) m |= 1 << (prev * 4 + next);
        }
        Set(KindRead, KindRead, rar || Has(o, Fi.FI_ORDER_RMA_RAR));
        Set(KindWrite, KindRead, raw || Has(o, Fi.FI_ORDER_RMA_RAW));
        Set(KindAtomic, KindRead, rar && raw);
        Set(KindSend, KindRead, ras);
        Set(KindRead, KindWrite, war || Has(o, Fi.FI_ORDER_RMA_WAR));
        Set(KindWrite, KindWrite, waw || Has(o, Fi.FI_ORDER_RMA_WAW));
        Set(KindAtomic, KindWrite, war && waw);
        Set(KindSend, KindWrite, was);
        Set(KindRead, KindAtomic, rar && war);
        Set(KindWrite, KindAtomic, raw && waw);
        Set(KindAtomic, KindAtomic, (rar || Has(o, Fi.FI_ORDER_ATOMIC_RAR)) && (raw || Has(o, Fi.FI_ORDER_ATOMIC_RAW))
                                    && (war || Has(o, Fi.FI_ORDER_ATOMIC_WAR)) && (waw || Has(o, Fi.FI_ORDER_ATOMIC_WAW)));
        Set(KindSend, KindAtomic, ras && was);
        Set(KindRead, KindSend, sar);
        Set(KindWrite, KindSend, saw);
        Set(KindAtomic, KindSend, sar && saw);
        Set(KindSend, KindSend, sas);
        return m;
    }

    // ---- teardown ----

    internal void CancelOp(OpSlot* s)
    {
        if (_ep != null && _ep->ops->cancel != null) lock (_domain.ProviderGate) _ep->ops->cancel(&_ep->fid, s);
    }

    internal void CloseEndpoint()
    {
        if (_ep != null) lock (_domain.ProviderGate) Fi.Close(&_ep->fid);
        _ep = null;
        _endpointClosed = true;
    }

    // An operation the closed endpoint never completed: flushed, like verbs requests of a destroyed queue pair.
    internal void FlushClosed(OpSlot* s)
    {
        lock (_gate)
        {
            if (s->IsReceive != 0)
            {
                _receivesPosted--;
                ReceiveQueue.Push(new Completion { Id = s->Id, Opcode = WorkOpcode.Receive, Status = CompletionStatus.Flushed, QueuePairNumber = Number });
            }
            else
            {
                if (s->Unordered == 0) _inflight[s->Kind]--;
                SendQueue.Push(new Completion { Id = s->Id, Opcode = s->Opcode, Status = CompletionStatus.Flushed, QueuePairNumber = Number });
            }
        }
    }

    /// <summary>Disconnects: pending receives and requests not yet completed are flushed; the endpoint is closed.</summary>
    public override void Dispose()
    {
        lock (_gate)
        {
            if (_state == QueuePairState.Closed) return;
            _state = QueuePairState.Closed;
            while (_deferredCount > 0)
            {
                Complete(in _deferred[_deferredHead], CompletionStatus.Flushed, 0);
                _deferredHead = (_deferredHead + 1) % _deferred.Length;
                if (--_deferredCount == 0) _domain.NoteDeferred(-1);
            }
        }
        _domain.CloseQueuePair(this);
    }
}
