using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;

namespace Scalio.Nvme.Tcp;

/// <summary>
/// One NVMe/TCP connection on the host side: one NVMe queue pair (admin QID 0 or an I/O queue). Commands use
/// preallocated slots (CID = slot index) with pinned capsule buffers and pooled value-task sources; a dedicated
/// receive thread parses PDUs, copies C2HData straight into the caller's buffer and answers R2Ts with H2CData.
/// Any transport error fails every outstanding command and closes the connection.
/// </summary>
internal sealed partial class NvmeTcpHostQueue : IDisposable
{
    private readonly Socket _socket;
    private readonly object _sendLock = new();
    private readonly object _slotLock = new();
    private readonly CommandSlot[] _slots;
    private readonly int[] _free;
    private readonly SemaphoreSlim _available;
    private readonly byte[] _rx = GC.AllocateArray<byte>(NvmeTcpWire.MaxHeaderLength + 64, pinned: true);
    private readonly byte[] _scratch = GC.AllocateArray<byte>(256, pinned: true);
    private readonly byte[] _txHeader = GC.AllocateArray<byte>(64, pinned: true);
    // Capsules submitted with more: true, sent together by the next Flush or plain Submit (one send for a batch of reads).
    private readonly byte[] _corked;
    private int _corkedBytes;
    private readonly Thread _rxThread;
    private int _freeCount;
    private volatile Exception? _failure;

    private NvmeTcpHostQueue(Socket socket, ushort qid, int depth, int inCapsuleLimit, bool headerDigest, bool dataDigest, int cpda, int maxH2CData, string name)
    {
        _socket = socket;
        QueueId = qid;
        InCapsuleLimit = inCapsuleLimit;
        HeaderDigest = headerDigest;
        DataDigest = dataDigest;
        Cpda = cpda;
        MaxH2CData = maxH2CData;
        _slots = new CommandSlot[depth];
        _free = new int[depth];
        int capsuleBytes = NvmeTcpWire.DataOffset(CapsuleCmdPdu.HeaderLength, headerDigest, cpda) + inCapsuleLimit + NvmeTcpWire.DigestSize;
        for (int i = 0; i < depth; i++)
        {
            _slots[i] = new CommandSlot((ushort)i, capsuleBytes);
            _slots[i].Bind(this);
            _free[i] = depth - 1 - i;
        }

        _corked = GC.AllocateArray<byte>(depth * (CapsuleCmdPdu.HeaderLength + NvmeTcpWire.DigestSize), pinned: true);
        _freeCount = depth;
        _available = new SemaphoreSlim(depth, depth);
        _rxThread = new Thread(ReceiveLoop) { IsBackground = true, Name = name };
    }

    /// <summary>Queue identifier (0 = admin).</summary>
    public ushort QueueId { get; }

    /// <summary>Largest data a command may carry in-capsule on this queue.</summary>
    public int InCapsuleLimit { get; set; }

    /// <summary>Header digests negotiated.</summary>
    public bool HeaderDigest { get; }

    /// <summary>Data digests negotiated.</summary>
    public bool DataDigest { get; }

    /// <summary>Controller PDU data alignment (dwords, zero-based).</summary>
    public int Cpda { get; }

    /// <summary>Largest H2CData payload the controller accepts.</summary>
    public int MaxH2CData { get; }

    /// <summary>The failure that closed the queue, if any.</summary>
    public Exception? Failure => _failure;

    /// <summary>
    /// Connects TCP and exchanges ICReq/ICResp; the receive thread starts afterwards. The socket is only ever used
    /// with blocking calls (on a worker thread here): on Unix, one asynchronous call would switch it to the
    /// emulated mode in which every later synchronous send/receive allocates.
    /// </summary>
    public static async Task<NvmeTcpHostQueue> OpenAsync(string host, int port, ushort qid, int depth, int inCapsuleLimit, NvmeTcpInitiatorOptions options, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        using CancellationTokenRegistration abort = timeout.Token.Register(static s => ((Socket)s!).Dispose(), socket);
        try
        {
            ICRespPdu resp = await Task.Run(() => Handshake(socket, host, port, options), CancellationToken.None).ConfigureAwait(false);
            var queue = new NvmeTcpHostQueue(socket, qid, depth, inCapsuleLimit, resp.HeaderDigestEnable, resp.DataDigestEnable, resp.Cpda,
                (int)Math.Min(resp.MaxH2CData, 1u << 24), $"nvme-tcp-rx q{qid}");
            queue._rxThread.Start();
            return queue;
        }
        catch (Exception e) when (timeout.IsCancellationRequested && e is SocketException or ObjectDisposedException or IOException)
        {
            socket.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw new NvmeTcpException($"Connecting to {host}:{port} (TCP and ICReq/ICResp) did not finish within {options.ConnectTimeout.TotalSeconds:0.#} s.");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new NvmeTcpException($"Cannot connect to NVMe/TCP target {host}:{port}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static ICRespPdu Handshake(Socket socket, string host, int port, NvmeTcpInitiatorOptions options)
    {
        socket.Connect(host, port);
        byte[] pdu = new byte[ICReqPdu.HeaderLength];
        new ICReqPdu
        {
            PduLength = ICReqPdu.HeaderLength,
            Pfv = 0,
            Hpda = 0,
            HeaderDigestEnable = options.HeaderDigest,
            DataDigestEnable = options.DataDigest,
            MaxR2T = 0,
        }.WriteHeader(pdu);
        NvmeTcpWire.SendAll(socket, pdu);

        if (!NvmeTcpWire.ReceiveExact(socket, pdu.AsSpan(0, 8)))
        {
            throw new NvmeTcpException($"{host}:{port} closed the connection during ICReq/ICResp.");
        }

        uint plen = BinaryPrimitives.ReadUInt32LittleEndian(pdu.AsSpan(4));
        if (pdu[0] == NvmeTcpPduType.C2HTermReq)
        {
            throw new NvmeTcpException($"{host}:{port} answered ICReq with C2HTermReq (FES 0x{pdu[8]:X2}).");
        }

        if (pdu[0] != NvmeTcpPduType.ICResp || plen != ICRespPdu.HeaderLength)
        {
            throw new NvmeTcpException($"{host}:{port} answered ICReq with PDU type 0x{pdu[0]:X2}, PLEN {plen}; expected ICResp of 128 bytes.");
        }

        if (!NvmeTcpWire.ReceiveExact(socket, pdu.AsSpan(8)))
        {
            throw new NvmeTcpException($"{host}:{port} closed the connection during ICResp.");
        }

        NvmeTcpHeaderError error = ICRespPdu.TryReadHeader(pdu, false, false, out ICRespPdu resp, out int offset);
        if (error != NvmeTcpHeaderError.None)
        {
            throw new NvmeTcpException($"Invalid ICResp from {host}:{port}: {error} at byte {offset}.");
        }

        if (resp.Pfv != 0)
        {
            throw new NvmeTcpException($"{host}:{port} speaks NVMe/TCP PDU format version {resp.Pfv}; only 0 is supported.");
        }

        // A controller may decline digests the host asked for; it must not enable ones the host did not ask for.
        if ((resp.HeaderDigestEnable && !options.HeaderDigest) || (resp.DataDigestEnable && !options.DataDigest))
        {
            throw new NvmeTcpException($"{host}:{port} enabled a digest the host did not request.");
        }

        if (resp.MaxH2CData < 4096 || resp.Cpda > 31)
        {
            throw new NvmeTcpException($"{host}:{port} sent ICResp with MAXH2CDATA {resp.MaxH2CData} (minimum 4096) and CPDA {resp.Cpda} (maximum 31).");
        }

        return resp;
    }

    /// <summary>Waits for a free command slot.</summary>
    public async ValueTask<CommandSlot> RentAsync(CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (_slotLock)
        {
            CommandSlot slot = _slots[_free[--_freeCount]];
            slot.Prepare();
            return slot;
        }
    }

    /// <summary>
    /// Takes a free command slot without waiting (the synchronous read path: one command at a time per queue);
    /// null when none is free or the queue has failed. Allocation-free.
    /// </summary>
    public CommandSlot? TryRent()
    {
        if (_failure is not null || !_available.Wait(0))
        {
            return null;
        }

        lock (_slotLock)
        {
            CommandSlot slot = _slots[_free[--_freeCount]];
            slot.Prepare();
            return slot;
        }
    }

    /// <summary>
    /// Sends the command in <paramref name="slot"/> (its SQE already encoded with the slot's CID, SGL fields set)
    /// with optional in-capsule data, and returns the completion. The slot goes back to the pool when the
    /// returned task is consumed.
    /// </summary>
    public ValueTask<NvmeCompletion> SubmitAsync(CommandSlot slot, ReadOnlySpan<byte> inCapsule)
    {
        short version = slot.Version;
        Submit(slot, inCapsule);
        return new ValueTask<NvmeCompletion>(slot, version);
    }

    /// <summary>
    /// Sends the command like <see cref="SubmitAsync"/> without a value task: the synchronous caller waits on the
    /// slot's <see cref="CommandSlot.Waiter"/> and then takes the result with <see cref="CommandSlot.GetResult"/>
    /// (token = <see cref="CommandSlot.Version"/> read before this call), which gives the slot back. With
    /// <paramref name="more"/> a capsule without data waits for the next <see cref="Flush"/> or plain submit, which send
    /// every waiting capsule in one write (as one doorbell rings for many submission queue entries).
    /// </summary>
    public void Submit(CommandSlot slot, ReadOnlySpan<byte> inCapsule, bool more = false)
    {
        int pdo = inCapsule.Length == 0 ? 0 : NvmeTcpWire.DataOffset(CapsuleCmdPdu.HeaderLength, HeaderDigest, Cpda);
        int hd = HeaderDigest ? NvmeTcpWire.DigestSize : 0;
        int dd = DataDigest && inCapsule.Length > 0 ? NvmeTcpWire.DigestSize : 0;
        int plen = inCapsule.Length == 0 ? CapsuleCmdPdu.HeaderLength + hd : pdo + inCapsule.Length + dd;
        byte flags = (byte)((HeaderDigest ? NvmeTcpFlags.HeaderDigest : 0) | (dd != 0 ? NvmeTcpFlags.DataDigest : 0));
        Span<byte> buf = slot.Capsule;
        new CapsuleCmdPdu { Flags = flags, PduDataOffset = (byte)pdo, PduLength = (uint)plen }.WriteHeader(buf);
        slot.Sqe.CopyTo(buf.Slice(8, SubmissionQueueEntry.WireSize)); // WriteHeader zeroes all 72 header bytes, so the SQE goes in after it
        if (HeaderDigest)
        {
            Crc32C.WriteDigest(buf.Slice(0, CapsuleCmdPdu.HeaderLength), buf.Slice(CapsuleCmdPdu.HeaderLength));
        }

        if (inCapsule.Length > 0)
        {
            buf.Slice(CapsuleCmdPdu.HeaderLength + hd, pdo - CapsuleCmdPdu.HeaderLength - hd).Clear();
            inCapsule.CopyTo(buf.Slice(pdo));
            if (dd != 0)
            {
                Crc32C.WriteDigest(inCapsule, buf.Slice(pdo + inCapsule.Length));
            }
        }

        slot.StartTimestamp = Stopwatch.GetTimestamp();
        slot.InFlight = true;
        try
        {
            lock (_sendLock)
            {
                ThrowIfFailed();
                if (more && inCapsule.Length == 0)
                {
                    buf.Slice(0, plen).CopyTo(_corked.AsSpan(_corkedBytes));
                    _corkedBytes += plen;
                    return;
                }
                SendCorked();
                NvmeTcpWire.SendAll(_socket, buf.Slice(0, plen));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Fail(new NvmeTcpException("Sending a command capsule failed: " + e.Message, e));
        }
        catch (NvmeTcpException)
        {
            slot.InFlight = false;
            Return(slot);
            throw;
        }
    }

    /// <summary>Sends every capsule submitted with <c>more</c> since the last send. A failed send fails the queue (and so
    /// every command in flight), as a failed <see cref="Submit"/> does.</summary>
    public void Flush()
    {
        if (Volatile.Read(ref _corkedBytes) == 0) return;
        try
        {
            lock (_sendLock) SendCorked();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Fail(new NvmeTcpException("Sending command capsules failed: " + e.Message, e));
        }
    }

    // Under _sendLock.
    private void SendCorked()
    {
        if (_corkedBytes == 0) return;
        int n = _corkedBytes;
        _corkedBytes = 0;
        NvmeTcpWire.SendAll(_socket, _corked.AsSpan(0, n));
    }

    /// <summary>Fails every outstanding command whose age exceeds <paramref name="timeout"/> by closing the queue.</summary>
    public void CheckTimeouts(TimeSpan timeout)
    {
        long now = Stopwatch.GetTimestamp();
        foreach (CommandSlot slot in _slots)
        {
            if (slot.InFlight && Stopwatch.GetElapsedTime(slot.StartTimestamp, now) > timeout)
            {
                Fail(new NvmeTcpException($"Command {slot.Cid} on queue {QueueId} got no response within {timeout.TotalSeconds:0.#} s; the connection was closed."));
                return;
            }
        }
    }

    /// <summary>Gives back a slot that was rented but not submitted.</summary>
    public void Abandon(CommandSlot slot) => Return(slot);

    private void Return(CommandSlot slot)
    {
        slot.Release();
        lock (_slotLock)
        {
            _free[_freeCount++] = slot.Cid;
        }

        _available.Release();
    }

    private void ThrowIfFailed()
    {
        Exception? f = _failure;
        if (f is not null)
        {
            throw new NvmeTcpException($"NVMe/TCP queue {QueueId} is closed: {f.Message}", f);
        }
    }

    /// <summary>Closes the queue with <paramref name="reason"/> and fails every outstanding command.</summary>
    public void Fail(Exception reason)
    {
        if (Interlocked.CompareExchange(ref _failure, reason, null) is not null)
        {
            return;
        }

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
        foreach (CommandSlot slot in _slots)
        {
            if (slot.TryFinish())
            {
                slot.SetException(new NvmeTcpException($"NVMe/TCP queue {QueueId} failed: {reason.Message}", reason));
            }
        }
    }

    /// <summary>Closes the connection; outstanding commands fail.</summary>
    public void Dispose()
    {
        Fail(new ObjectDisposedException(nameof(NvmeTcpHostQueue), "The initiator was disposed."));
        if (Thread.CurrentThread != _rxThread && _rxThread.IsAlive)
        {
            _rxThread.Join(TimeSpan.FromSeconds(5));
        }

        // _available is not disposed: commands failed above still return their slots (and release it) when awaited.
    }
}
