namespace Scalio.Nvme;

/// <summary>
/// Reads of one thread issued together: on a file namespace (also under a <see cref="ModeledNamespace"/>) they go to
/// the device in one io_uring submission and are waited for together, so a batch of k reads costs one system call and
/// one wake-up instead of k; on any other namespace, or where io_uring is unavailable, each is an ordinary read done
/// when it is added. Validation, counting and the SSD model apply to each read as for <see cref="NvmeNamespace.Read"/>.
/// Not thread-safe; allocation-free after construction.
/// </summary>
internal sealed unsafe class ReadGather : IDisposable
{
    private readonly IoUring? _ring;
    private readonly NvmeStatus[] _status;
    private readonly FileNamespace.CapturedRead[] _reads;
    private readonly int[] _done;
    private int _count;

    /// <summary>Creates a gatherer for up to <paramref name="capacity"/> reads at once.</summary>
    public ReadGather(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _status = new NvmeStatus[capacity];
        _reads = new FileNamespace.CapturedRead[capacity];
        _done = new int[capacity];
        if (OperatingSystem.IsLinux()) _ring = IoUring.TryCreate(capacity, out _);
    }

    /// <summary>True when reads of file namespaces go to the device together (io_uring available).</summary>
    public bool Gathers => _ring is not null;

    /// <summary>Reads added since the last <see cref="Clear"/>.</summary>
    public int Count => _count;

    /// <summary>Forgets every read (call before a new batch).</summary>
    public void Clear() => _count = 0;

    /// <summary>Adds a read of <paramref name="blocks"/> LBAs at <paramref name="slba"/> into <paramref name="destination"/>,
    /// which must be native memory that stays put until <see cref="Execute"/> returns; returns its index.</summary>
    public int Add(NvmeNamespace ns, ulong slba, int blocks, Span<byte> destination)
    {
        if (_count == _status.Length) NvmeThrow.InvalidOperation("read gather is full");
        int i = _count++;
        _done[i] = 0;
        FileNamespace.CaptureReads = _ring is not null;
        NvmeStatus st;
        try
        {
            st = ns.Read(slba, blocks, destination);
        }
        finally
        {
            FileNamespace.CaptureReads = false;
        }
        if (FileNamespace.TakeCapturedRead(out var read) && st.IsSuccess)
        {
            _reads[i] = read; // left to Execute
            _done[i] = -1;
            _status[i] = NvmeStatus.Success;
        }
        else
        {
            _status[i] = st; // performed (or refused) already
        }
        return i;
    }

    /// <summary>Performs every captured read in one submission and waits for all of them.</summary>
    public void Execute()
    {
        if (_ring is null) return;
        int pending = 0;
        for (int i = 0; i < _count; i++)
        {
            if (_done[i] != -1) continue;
            _done[i] = 0;
            Prepare(i);
            pending++;
        }
        while (pending > 0)
        {
            _ring.SubmitAndWait(1);
            while (_ring.TryReap(out ulong id, out int result))
            {
                int i = (int)id;
                ref var r = ref _reads[i];
                int left = r.Length - _done[i];
                if (IoUring.ReadWantsRest(result, left))
                {
                    if (result > 0) _done[i] += result; // the rest of a short read (whole blocks under O_DIRECT)
                    Prepare(i);
                    continue;
                }
                if (result != left) _status[i] = NvmeStatus.UnrecoveredReadError;
                pending--;
            }
        }
    }

    private void Prepare(int i)
    {
        ref var r = ref _reads[i];
        int done = _done[i];
        if (!_ring!.TryPrepare(IoUring.OpRead, r.Fd, r.Offset + done, (byte*)r.Buffer + done, r.Length - done, (ulong)i))
            NvmeThrow.InvalidOperation("io_uring submission queue full");
    }

    /// <summary>The outcome of read <paramref name="index"/> (valid after <see cref="Execute"/>).</summary>
    public NvmeStatus Status(int index) => _status[index];

    /// <summary>Releases the ring.</summary>
    public void Dispose() => _ring?.Dispose();
}
