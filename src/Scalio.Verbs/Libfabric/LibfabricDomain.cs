using System.Diagnostics;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Scalio.Verbs.Libfabric;

/// <summary>
/// What a peer needs to address one of our registered regions: the key Scalio names it by
/// (<see cref="MemoryRegion.RemoteKey"/>), the provider's key, the address the provider expects for offset 0
/// (the virtual address with FI_MR_VIRT_ADDR, else 0) and the length. Travels over the bootstrap channel.
/// </summary>
public readonly record struct RemoteRegion(uint RemoteKey, ulong FabricKey, ulong BaseAddress, ulong Length, MemoryAccess Access);

/// <summary>
/// A protection domain over one libfabric domain: regions are registered with the provider (with the domain's
/// remote key as the requested key when the provider lets the application choose keys), and one provider completion
/// queue collects every endpoint's completions. A progress thread (the "NIC") reads it, drives the provider's progress
/// (software providers only move data, and serve peers' RMA and atomics, when their owner polls), moves completions
/// into the queue pairs' <see cref="CompletionQueue"/>s and issues requests held back for ordering or back-pressure.
/// </summary>
public sealed unsafe partial class LibfabricDomain : ProtectionDomain, ICompletionProgress
{
    private const int ChunkShift = 10, ChunkSize = 1 << ChunkShift;

    private FidDomain* _domain;
    private FidAv* _av;
    private FidCq* _cq;
    private readonly Thread _progress;
    private volatile bool _stop;
    private volatile int _sleeping;
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 1);
    private readonly ConcurrentQueue<LibfabricQueuePair> _closeRequests = new();
    private readonly ManualResetEventSlim _closeDone = new(false);

    // Registered regions by key slot ((key & 0xFFFF) - 1), as the base class assigns keys.
    private MrEntry[] _mrs = new MrEntry[16];

    // Queue pairs by registry index; op slots name their owner by this index.
    private LibfabricQueuePair?[] _qps = new LibfabricQueuePair?[16];
    private readonly Lock _qpGate = new();
    private int _deferredQueuePairs;

    // Operation slots: fixed native memory handed to the provider as op contexts (FI_CONTEXT2 room first).
    private nint[] _chunks = new nint[4];   // OpSlot*
    private nint[] _chunkMrs = new nint[4]; // FidMr*
    private int _chunkCount;
    private int[] _free = new int[ChunkSize];
    private int _freeCount;
    private readonly List<(long Ticks, int Index)> _quarantine = [];
    private readonly Lock _slotGate = new();

    // libfabric 1.17's tcp;ofi_rxm crashed when an endpoint was created, bound or closed while another thread read
    // the completion queue, despite FI_THREAD_SAFE; every provider call of this domain is made under this lock
    // (the progress thread releases it before it hands completions to queue pairs).
    internal readonly Lock ProviderGate = new();

    // Held by whoever reads the provider queue and delivers what it read (the progress thread, or a thread waiting on a
    // completion queue: CallerDrivesProgress), so completions are delivered in the order the provider reported them,
    // and by endpoint closes, so no delivery races a flush. Lock order: _pollGate, then a queue pair's gate, then ProviderGate.
    private readonly Lock _pollGate = new();

    // Stopwatch timestamp of the last activity (completion, local post, a poll that served a peer): Adaptive mode
    // busy-polls for BusyPollMicroseconds after it.
    private long _lastActivity;

    // Stopwatch timestamp of the last poll by a waiting thread (CallerDrivesProgress): while callers poll, the progress
    // thread steps back (sleeps IdlePollMicroseconds between polls) instead of competing with them for the cores.
    private long _lastCallerPoll;
    private readonly long _driveBudget;

    internal LibfabricDomain(LibfabricFabric fabric)
    {
        Fabric = fabric;
        _driveBudget = Stopwatch.Frequency * fabric.Options.CallerPollMicroseconds / 1_000_000;
        FidDomain* domain;
        Fi.Check(fabric.Handle->ops->domain(fabric.Handle, fabric.Info, &domain, null), "fi_domain");
        _domain = domain;
        try
        {
            var avAttr = new FiAvAttr { type = Fi.FI_AV_TABLE, count = 64 };
            FidAv* av;
            Fi.Check(_domain->ops->av_open(_domain, &avAttr, &av, null), "fi_av_open");
            _av = av;

            // No wait object: with libfabric 1.17, fi_cq_sread on a tcp;ofi_rxm queue crashed (SIGSEGV inside the
            // provider) when a peer endpoint closed its connection; the progress thread polls and backs off instead.
            // (FI_WAIT_FD with fi_trywait before poll(2) on the FI_GETWAIT fd crashed too, at the first fi_trywait.)
            var cqAttr = new FiCqAttr { size = (nuint)fabric.Options.CompletionQueueSize, format = Fi.FI_CQ_FORMAT_DATA, wait_obj = Fi.FI_WAIT_NONE };
            FidCq* cq;
            Fi.Check(_domain->ops->cq_open(_domain, &cqAttr, &cq, null), "fi_cq_open");
            _cq = cq;

            AtomicsSupported = QueryAtomic(Fi.FI_CSWAP, compare: true) && QueryAtomic(Fi.FI_SUM, compare: false);
        }
        catch
        {
            CloseNative();
            throw;
        }
        _progress = new Thread(ProgressLoop) { IsBackground = true, Name = $"libfabric progress ({fabric.ProviderName})" };
        _progress.Start();
    }

    /// <summary>The fabric the domain belongs to.</summary>
    public LibfabricFabric Fabric { get; }

    /// <summary>True when the provider runs 8-byte compare-swap and fetch-add on FI_UINT64.</summary>
    public bool AtomicsSupported { get; }

    internal FidAv* Av => _av;

    internal FidCq* CqHandle => _cq;

    internal FidDomain* Handle => _domain;

    private bool QueryAtomic(int op, bool compare)
    {
        if (_domain->ops->size < (nuint)sizeof(nint) * 10 || _domain->ops->query_atomic == null) return true; // cannot ask; the first atomic reports
        // struct fi_atomic_attr { size_t count; size_t size; }
        nuint* attr = stackalloc nuint[2];
        ulong flags = compare ? 1UL << 59 /* FI_COMPARE_ATOMIC */ : 1UL << 58 /* FI_FETCH_ATOMIC */;
        return _domain->ops->query_atomic(_domain, Fi.FI_UINT64, op, attr, flags) == 0;
    }

    /// <inheritdoc />
    public override QueuePair CreateQueuePair(CompletionQueue sendQueue, CompletionQueue receiveQueue, QueuePairOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(sendQueue);
        ArgumentNullException.ThrowIfNull(receiveQueue);
        return new LibfabricQueuePair(this, sendQueue, receiveQueue, options ?? new QueuePairOptions());
    }

    /// <summary>Creates a queue pair as its concrete type (for connecting through the bootstrap channel).</summary>
    public LibfabricQueuePair CreateLibfabricQueuePair(QueuePairOptions? options = null)
        => (LibfabricQueuePair)CreateQueuePair(CreateCompletionQueue(), CreateCompletionQueue(), options);

    /// <summary>Describes a region of this domain for peers (sent over the bootstrap channel).</summary>
    public RemoteRegion Describe(MemoryRegion region)
    {
        ArgumentNullException.ThrowIfNull(region);
        if (!ReferenceEquals(region.Domain, this)) throw new ArgumentException("the region belongs to another domain", nameof(region));
        var mrs = Volatile.Read(ref _mrs);
        int slot = (int)(region.LocalKey & 0xFFFF) - 1;
        ObjectDisposedException.ThrowIf((uint)slot >= (uint)mrs.Length || mrs[slot].LocalKey != region.LocalKey, region);
        ref var e = ref mrs[slot];
        return new RemoteRegion(region.RemoteKey, e.FabricKey, Fabric.VirtualAddressing ? e.Address : 0, e.Length, region.Access);
    }

    // ---- memory registration (hooks of ProtectionDomain) ----

    /// <inheritdoc />
    protected override void OnRegistering(MemoryRegion region)
    {
        ulong access = Fi.FI_READ | Fi.FI_WRITE | Fi.FI_SEND | Fi.FI_RECV;
        if ((region.Access & MemoryAccess.RemoteRead) != 0) access |= Fi.FI_REMOTE_READ;
        if ((region.Access & MemoryAccess.RemoteWrite) != 0) access |= Fi.FI_REMOTE_WRITE;
        // Atomics read and write the target word: the provider checks both rights.
        if ((region.Access & MemoryAccess.RemoteAtomic) != 0) access |= Fi.FI_REMOTE_READ | Fi.FI_REMOTE_WRITE;
        FidMr* mr;
        int rc;
        lock (ProviderGate) rc = _domain->mr->reg(&_domain->fid, region.Address, region.Length, access, 0, region.RemoteKey, 0, &mr, null);
        Fi.Check(rc, "fi_mr_reg");
        int slot = (int)(region.LocalKey & 0xFFFF) - 1;
        var mrs = _mrs;
        if (slot >= mrs.Length)
        {
            var grown = new MrEntry[Math.Max(slot + 1, mrs.Length * 2)];
            mrs.CopyTo(grown, 0);
            mrs = grown;
        }
        mrs[slot] = new MrEntry
        {
            LocalKey = region.LocalKey,
            RemoteKey = region.RemoteKey,
            Mr = mr,
            Desc = mr->mem_desc,
            FabricKey = mr->key,
            Address = region.BaseAddress,
            Length = region.Length,
            Access = region.Access,
        };
        Volatile.Write(ref _mrs, mrs);
    }

    /// <inheritdoc />
    protected override void OnDeregistered(MemoryRegion region)
    {
        var mrs = _mrs;
        int slot = (int)(region.LocalKey & 0xFFFF) - 1;
        if ((uint)slot >= (uint)mrs.Length || mrs[slot].LocalKey != region.LocalKey) return;
        FidMr* mr = mrs[slot].Mr;
        mrs[slot] = default;
        if (mr != null) lock (ProviderGate) Fi.Close(&mr->fid);
    }

    /// <summary>Local descriptor (fi_mr_desc) of the region named by a local key, when [address, address+length) lies in it
    /// and the region has the needed rights; false otherwise.</summary>
    internal bool TryLocal(uint localKey, ulong address, uint length, bool writes, out void* desc)
    {
        var mrs = Volatile.Read(ref _mrs);
        int slot = (int)(localKey & 0xFFFF) - 1;
        desc = null;
        if ((uint)slot >= (uint)mrs.Length) return false;
        ref var e = ref mrs[slot];
        if (e.LocalKey != localKey || e.LocalKey == 0) return false;
        if (address < e.Address || length > e.Length || address - e.Address > e.Length - length) return false;
        if (writes && (e.Access & MemoryAccess.LocalWrite) == 0) return false;
        desc = e.Desc;
        return true;
    }

    /// <summary>Translation for an in-process peer: the provider key and base address of our region with a remote key.</summary>
    internal bool TryRemote(uint remoteKey, out ulong fabricKey, out ulong baseAddress)
    {
        var mrs = Volatile.Read(ref _mrs);
        int slot = (int)(remoteKey & 0xFFFF) - 1;
        if ((uint)slot < (uint)mrs.Length && mrs[slot].RemoteKey == remoteKey && mrs[slot].LocalKey != 0)
        {
            fabricKey = mrs[slot].FabricKey;
            baseAddress = Fabric.VirtualAddressing ? mrs[slot].Address : 0;
            return true;
        }
        fabricKey = 0;
        baseAddress = 0;
        return false;
    }

    // ---- queue pair registry ----

    internal int RegisterQueuePair(LibfabricQueuePair qp)
    {
        lock (_qpGate)
        {
            int i = Array.IndexOf(_qps, null);
            if (i < 0)
            {
                i = _qps.Length;
                var grown = new LibfabricQueuePair?[_qps.Length * 2];
                _qps.CopyTo(grown, 0);
                Volatile.Write(ref _qps, grown);
            }
            Volatile.Write(ref _qps[i], qp);
            return i;
        }
    }

    /// <summary>Wakes the progress thread if it is sleeping (after a local post, so its completion is seen at once).</summary>
    internal void Kick()
    {
        _lastActivity = Stopwatch.GetTimestamp();
        if (_sleeping != 0) _wake.Set();
    }

    /// <summary>How long a waiting thread drives the provider (<see cref="LibfabricOptions.CallerPollMicroseconds"/>).</summary>
    long ICompletionProgress.DriveBudget => _driveBudget;

    /// <summary>
    /// Polls the provider once from a thread waiting for a completion (<see cref="CompletionQueue.PollBlocking"/>),
    /// unless another thread is polling; delivers what it read. True when it polled.
    /// </summary>
    bool ICompletionProgress.DriveProgress()
    {
        if (_stop || !_pollGate.TryEnter()) return false;
        try
        {
            if (_cq == null) return false;
            const int Batch = 8;
            var entries = stackalloc FiCqDataEntry[Batch];
            nint n;
            lock (ProviderGate) n = _cq->ops->read(_cq, entries, Batch);
            long now = Stopwatch.GetTimestamp();
            _lastCallerPoll = now;
            if (n > 0)
            {
                for (int i = 0; i < n; i++) Deliver(in entries[i]);
                _lastActivity = now;
            }
            else if (n == -Fi.FI_EAVAIL)
            {
                ReadError();
            }
            return true;
        }
        finally
        {
            _pollGate.Exit();
        }
    }

    internal void NoteDeferred(int delta)
    {
        Interlocked.Add(ref _deferredQueuePairs, delta);
    }

    /// <summary>Closes a queue pair's endpoint on the progress thread (so no provider call races the close).</summary>
    internal void CloseQueuePair(LibfabricQueuePair qp)
    {
        if (Thread.CurrentThread == _progress || !_progress.IsAlive)
        {
            lock (_pollGate) CloseQueuePairCore(qp);
            return;
        }
        _closeRequests.Enqueue(qp);
        Kick();
        long deadline = Environment.TickCount64 + 10_000;
        while (!qp.EndpointClosed)
        {
            if (Environment.TickCount64 > deadline) throw new TimeoutException("the libfabric progress thread did not close the endpoint within 10 s");
            _closeDone.Wait(20);
        }
    }

    private void CloseQueuePairCore(LibfabricQueuePair qp)
    {
        if (qp.EndpointClosed) return;
        // Cancel what the endpoint still holds (posted receives above all), close it, then flush what remains.
        int count = _chunkCount * ChunkSize;
        for (int i = 0; i < count; i++)
        {
            OpSlot* s = Slot(i);
            if (s->State == OpSlot.InUse && s->QueuePair == qp.Index) qp.CancelOp(s);
        }
        qp.CloseEndpoint();
        for (int i = 0; i < count; i++)
        {
            OpSlot* s = Slot(i);
            if (s->State == OpSlot.InUse && s->QueuePair == qp.Index)
            {
                qp.FlushClosed(s);
                s->State = OpSlot.Quarantined;
                lock (_slotGate) _quarantine.Add((Environment.TickCount64, i));
            }
        }
        lock (_qpGate)
        {
            if (ReferenceEquals(_qps[qp.Index], qp)) Volatile.Write(ref _qps[qp.Index], null);
        }
    }

    // ---- operation slots ----

    internal OpSlot* Slot(int index) => (OpSlot*)_chunks[index >> ChunkShift] + (index & (ChunkSize - 1));

    internal void* SlotDescriptor(int index)
    {
        var mr = (FidMr*)_chunkMrs[index >> ChunkShift];
        return mr == null ? null : mr->mem_desc;
    }

    internal OpSlot* RentSlot(int queuePair)
    {
        int index;
        lock (_slotGate)
        {
            if (_freeCount == 0) GrowSlots();
            index = _free[--_freeCount];
        }
        OpSlot* s = Slot(index);
        NativeMemory.Clear(s, (nuint)sizeof(OpSlot));
        s->Index = index;
        s->QueuePair = queuePair;
        s->State = OpSlot.InUse;
        return s;
    }

    internal void ReturnSlot(OpSlot* s)
    {
        s->State = OpSlot.Free;
        lock (_slotGate) _free[_freeCount++] = s->Index;
    }

    private void GrowSlots()
    {
        // Cold path: a new chunk of slots (registered for local access when the provider needs FI_MR_LOCAL, since
        // atomics read their operands from the slot).
        if (_chunkCount == _chunks.Length)
        {
            Array.Resize(ref _chunks, _chunks.Length * 2);
            Array.Resize(ref _chunkMrs, _chunkMrs.Length * 2);
        }
        nuint bytes = (nuint)(sizeof(OpSlot) * ChunkSize);
        var chunk = (OpSlot*)NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(chunk, bytes);
        FidMr* mr = null;
        if (Fabric.LocalRegistration)
        {
            int rc;
            lock (ProviderGate) rc = _domain->mr->reg(&_domain->fid, chunk, bytes, Fi.FI_READ | Fi.FI_WRITE | Fi.FI_SEND | Fi.FI_RECV, 0,
                0xFFFF_0000_0000UL + (ulong)_chunkCount, 0, &mr, null);
            if (rc < 0)
            {
                NativeMemory.AlignedFree(chunk);
                Fi.Check(rc, "fi_mr_reg (operation slots)");
            }
        }
        int c = _chunkCount;
        _chunks[c] = (nint)chunk;
        _chunkMrs[c] = (nint)mr;
        _chunkCount = c + 1;
        if (_free.Length < _chunkCount * ChunkSize) Array.Resize(ref _free, _chunkCount * ChunkSize);
        for (int i = ChunkSize - 1; i >= 0; i--) _free[_freeCount++] = c * ChunkSize + i;
    }

    private void ReleaseQuarantine()
    {
        lock (_slotGate)
        {
            if (_quarantine.Count == 0) return;
            long cutoff = Environment.TickCount64 - 1000;
            for (int i = _quarantine.Count - 1; i >= 0; i--)
            {
                if (_quarantine[i].Ticks > cutoff) continue;
                OpSlot* s = Slot(_quarantine[i].Index);
                s->State = OpSlot.Free;
                _free[_freeCount++] = _quarantine[i].Index;
                _quarantine.RemoveAt(i);
            }
        }
    }

    // ---- progress ----

    private nuint _progressThreadHandle;

    /// <summary>CPU time the domain's progress thread has used so far, in nanoseconds (-1 when unknown). On a server it
    /// serves peers' one-sided READs and atomics (tcp;ofi_rxm has no NIC to do it), so it is server CPU on the GET path,
    /// reported apart from the workers' serving time.</summary>
    public override long ProgressThreadCpuNanoseconds
    {
        get
        {
            var h = Volatile.Read(ref _progressThreadHandle);
            return _stop || h == 0 ? -1 : ThreadCpuClock.OfThread(h);
        }
    }

    private void ProgressLoop()
    {
        Volatile.Write(ref _progressThreadHandle, ThreadCpuClock.CurrentThreadHandle());
        const int Batch = 32;
        var entries = stackalloc FiCqDataEntry[Batch];
        var options = Fabric.Options;
        bool adaptive = options.ProgressMode == LibfabricProgressMode.Adaptive;
        long busyWindow = Stopwatch.Frequency * Math.Max(0, options.BusyPollMicroseconds) / 1_000_000;
        long deepIdle = Stopwatch.Frequency * Math.Max(0, options.DeepIdleMilliseconds) / 1000;
        uint idlePoll = (uint)Math.Max(1, options.IdlePollMicroseconds);
        int idle = 0;
        long lastHousekeeping = Environment.TickCount64;
        // A target serves peers' RMA and atomics inside fi_cq_read without producing a completion, so "nothing
        // completed" does not mean "idle". A read that took much longer than an empty poll did work (socket I/O):
        // count it as activity. The empty-poll baseline is the smallest duration seen recently.
        long baseline = long.MaxValue;
        long busyMargin = Stopwatch.Frequency / 200_000; // 5 us
        int sinceBaseline = 0;
        long lastSlowPoll = 0;
        long slowPair = Stopwatch.Frequency / 1000; // 1 ms
        long callerGrace = Stopwatch.Frequency / 10_000; // 100 us
        long stepBack = Math.Max(0, options.CallerStepBackMicroseconds) * 1000L;
        if (stepBack > 0) callerGrace = Stopwatch.Frequency * stepBack / 1_000_000_000;
        _lastActivity = Stopwatch.GetTimestamp();
        while (!_stop)
        {
            nint n;
            long took;
            if (!_pollGate.TryEnter())
            {
                // A waiting thread is driving the provider: step back.
                if (adaptive) WaitPolicy.Sleep(stepBack > 0 ? stepBack : idlePoll * 1000L);
                else Thread.Yield();
                continue;
            }
            try
            {
                long t0 = Stopwatch.GetTimestamp();
                lock (ProviderGate) n = _cq->ops->read(_cq, entries, Batch);
                took = Stopwatch.GetTimestamp() - t0;
                if (n > 0)
                {
                    for (int i = 0; i < n; i++) Deliver(in entries[i]);
                }
                else if (n == -Fi.FI_EAVAIL)
                {
                    ReadError();
                }
                else
                {
                    // Nothing completed: do queued work.
                    while (_closeRequests.TryDequeue(out var qp))
                    {
                        CloseQueuePairCore(qp);
                        _closeDone.Set();
                        _closeDone.Reset();
                    }
                    if (Volatile.Read(ref _deferredQueuePairs) > 0) IssueDeferred();
                }
            }
            finally
            {
                _pollGate.Exit();
            }
            if (took < baseline) baseline = took;
            if (++sinceBaseline == 4096)
            {
                sinceBaseline = 0;
                baseline = long.MaxValue; // re-learn: the machine's load changes
            }
            long now = Stopwatch.GetTimestamp();
            if (n > 0 || n == -Fi.FI_EAVAIL)
            {
                idle = 0;
                _lastActivity = now;
                continue;
            }
            long nowMs = Environment.TickCount64;
            if (nowMs - lastHousekeeping > 500)
            {
                ReleaseQuarantine();
                lastHousekeeping = nowMs;
            }
            // A slow poll probably served a peer: it keeps the busy window open. Only two within 1 ms (a peer's stream
            // of requests) keep us out of deep idle: lone slow polls, preempted by the host, kept an idle domain at 50 us polls.
            bool served = took > baseline * 4 + busyMargin;
            if (served)
            {
                if (now - lastSlowPoll < slowPair) _lastActivity = now;
                lastSlowPoll = now;
            }
            if (adaptive)
            {
                long sinceActivity = now - Volatile.Read(ref _lastActivity);
                long quiet = Math.Min(sinceActivity, now - lastSlowPoll);
                bool callerPolls = now - Volatile.Read(ref _lastCallerPoll) < callerGrace;
                if (Volatile.Read(ref _deferredQueuePairs) > 0 || (quiet < busyWindow && !callerPolls))
                {
                    Thread.Yield(); // (spinning instead for the first quarter of the window measured no better)
                }
                else if (callerPolls && stepBack > 0) WaitPolicy.Sleep(stepBack); // the waiter drives: poll rarely
                else if (sinceActivity < deepIdle || options.IdleSleepMilliseconds == 0) WaitPolicy.Sleep(idlePoll * 1000L); // 1 us timer slack: 50 us, not 100
                else SleepUntilKicked(options.IdleSleepMilliseconds);
                continue;
            }
            // Backoff (the original strategy): spin, then yield, then sleep 1 ms at a time.
            if (served) idle = 0; else idle++;
            if (idle < 64) Thread.SpinWait(16);
            else if (idle < 128) Thread.Yield();
            else if (idle < 192 || Volatile.Read(ref _deferredQueuePairs) > 0 || options.IdleSleepMilliseconds == 0) Thread.Sleep(0);
            else SleepUntilKicked(options.IdleSleepMilliseconds);
        }
    }

    // Sleeps until a local post kicks us or the period ends (peers' requests are only seen by polling).
    private void SleepUntilKicked(int milliseconds)
    {
        _sleeping = 1;
        if (!_stop) _wake.Wait(milliseconds);
        _sleeping = 0;
        _wake.Reset();
    }

    private void Deliver(in FiCqDataEntry entry)
    {
        var s = (OpSlot*)entry.op_context;
        if (s == null || s->State != OpSlot.InUse) return;
        var qps = Volatile.Read(ref _qps);
        var qp = (uint)s->QueuePair < (uint)qps.Length ? qps[s->QueuePair] : null;
        if (qp is null) return;
        qp.OnCompletion(s, 0, (uint)entry.len, entry.flags, entry.data);
    }

    private void ReadError()
    {
        FiCqErrEntry err = default;
        nint rc;
        lock (ProviderGate) rc = _cq->ops->readerr(_cq, &err, 0);
        if (rc <= 0) return;
        var s = (OpSlot*)err.op_context;
        if (s == null || s->State != OpSlot.InUse) return;
        var qps = Volatile.Read(ref _qps);
        var qp = (uint)s->QueuePair < (uint)qps.Length ? qps[s->QueuePair] : null;
        if (qp is null) return;
        qp.OnCompletion(s, err.err == 0 ? Fi.FI_EIO : err.err, (uint)err.len, err.flags, err.data);
    }

    private void IssueDeferred()
    {
        var qps = Volatile.Read(ref _qps);
        for (int i = 0; i < qps.Length; i++) qps[i]?.IssueDeferred();
    }

    // ---- teardown ----

    /// <inheritdoc />
    protected override void OnDisposed()
    {
        LibfabricQueuePair?[] qps;
        lock (_qpGate) qps = (LibfabricQueuePair?[])_qps.Clone();
        foreach (var qp in qps) qp?.Dispose();
        _stop = true;
        _wake.Set();
        if (!_progress.Join(10_000)) return; // leave native objects alive rather than free them under a running thread
        lock (_pollGate) CloseNative(); // a thread waiting on a completion queue may be polling the provider (CallerDrivesProgress)
        _closeDone.Dispose();
        _wake.Dispose();
    }

    private void CloseNative()
    {
        for (int c = 0; c < _chunkCount; c++)
        {
            if (_chunkMrs[c] != 0) Fi.Close(&((FidMr*)_chunkMrs[c])->fid);
            NativeMemory.AlignedFree((void*)_chunks[c]);
            _chunks[c] = 0;
            _chunkMrs[c] = 0;
        }
        _chunkCount = 0;
        if (_cq != null) Fi.Close(&_cq->fid);
        _cq = null;
        if (_av != null) Fi.Close(&_av->fid);
        _av = null;
        if (_domain != null) Fi.Close(&_domain->fid);
        _domain = null;
    }

    private struct MrEntry
    {
        public uint LocalKey, RemoteKey;
        public FidMr* Mr;
        public void* Desc;
        public ulong FabricKey, Address, Length;
        public MemoryAccess Access;
    }
}

/// <summary>
/// One operation handed to the provider. The provider may use the first 64 bytes (FI_CONTEXT2); the rest is ours.
/// Slots live in native chunks owned by the domain, so the context pointer stays valid until the domain is disposed.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 128)]
internal unsafe struct OpSlot
{
    public const byte Free = 0, InUse = 1, Quarantined = 2;

    public fixed ulong ProviderContext[8];
    public ulong Id;
    public ulong Operand;   // swap value (CAS) or addend (fetch-add)
    public ulong Compare;   // compare value (CAS)
    public int Index;
    public int QueuePair;
    public uint Length;
    public WorkOpcode Opcode;
    public WorkFlags Flags;
    public byte Kind;       // LibfabricQueuePair.Kind*
    public byte State;
    public byte IsReceive;
    public byte Unordered;  // WorkFlags.Unordered: not counted in the queue pair's in-flight kinds
}
