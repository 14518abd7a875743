using System.Net;
using System.Runtime.InteropServices;

namespace Scalio.Verbs.Libfabric;

/// <summary>A libfabric call failed; <see cref="ErrorCode"/> is the positive <c>FI_E*</c> code.</summary>
public class LibfabricException : Exception
{
    /// <summary>Creates the exception for a failed call.</summary>
    public LibfabricException(string operation, int errorCode)
        : base($"{operation} failed: {Fi.StrError(errorCode)} (FI error {errorCode})")
    {
        ErrorCode = errorCode;
    }

    /// <summary>Creates the exception with a message.</summary>
    public LibfabricException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public LibfabricException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Creates the exception with no details.</summary>
    public LibfabricException() { }

    /// <summary>Positive libfabric error code (0 when the failure was not a libfabric return code).</summary>
    public int ErrorCode { get; }
}

/// <summary>libfabric, or the requested provider, is not available on this machine.</summary>
public sealed class LibfabricUnavailableException : LibfabricException
{
    /// <summary>Creates the exception.</summary>
    public LibfabricUnavailableException(string message) : base(message) { }

    /// <summary>Creates the exception with no details.</summary>
    public LibfabricUnavailableException() { }

    /// <summary>Creates the exception with an inner exception.</summary>
    public LibfabricUnavailableException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Options of the libfabric provider.</summary>
public sealed class LibfabricOptions
{
    /// <summary>
    /// Provider by name: <c>tcp</c> (same as <c>tcp;ofi_rxm</c>, Ethernet), <c>shm</c> (one node; needs
    /// <see cref="TrustedClients"/>), <c>verbs</c> (same as <c>verbs;ofi_rxm</c>, RDMA NICs). Other libfabric provider
    /// strings are passed through as they are.
    /// </summary>
    public string Provider { get; init; } = "tcp;ofi_rxm";

    /// <summary>Local address the endpoints bind to (tcp, verbs); ignored by shm. Default 127.0.0.1.</summary>
    public string? Node { get; init; } = "127.0.0.1";

    /// <summary>
    /// Every peer that can reach this node's endpoints is trusted. Required for <c>shm</c>: its memory-region keys are
    /// checked by the target's progress engine only for requests that go through the shared-memory command queue,
    /// and any process of the same user on the node can bypass that (it may map the shared segment or use
    /// process_vm_writev on our memory directly). See Libfabric/README.md.
    /// </summary>
    public bool TrustedClients { get; init; }

    /// <summary>Requests a queue pair may have posted and not yet issued (ordering holds and provider back-pressure).</summary>
    public int SendQueueDepth { get; init; } = 1024;

    /// <summary>Transmit and receive queue size requested from the provider per endpoint (requests beyond it wait in the
    /// queue pair until earlier ones complete).</summary>
    public int ProviderQueueSize { get; init; } = 256;

    /// <summary>
    /// Eager buffer size of ofi_rxm in bytes (FI_OFI_RXM_BUFFER_SIZE; larger messages use its rendezvous protocol).
    /// rxm preallocates pools of these per endpoint: with its default of 16 KiB an endpoint costs ~70 MB and ~0.5 s to
    /// create; 4 KiB costs a quarter. Process-wide and read once by libfabric at its first use; an FI_OFI_RXM_BUFFER_SIZE
    /// already in the environment wins; 0 leaves libfabric's default.
    /// </summary>
    public int RxmBufferSize { get; init; } = 4096;

    /// <summary>Entries of the provider completion queue each domain opens.</summary>
    public int CompletionQueueSize { get; init; } = 8192;

    /// <summary>How long the progress thread sleeps between polls once it has been idle for a while, in milliseconds
    /// (0: it only yields, lowest latency, one core busy). Bounds the extra latency of the first request after a pause.
    /// With <see cref="LibfabricProgressMode.Adaptive"/> it is used only after <see cref="DeepIdleMilliseconds"/> of
    /// nothing.</summary>
    public int IdleSleepMilliseconds { get; init; } = 1;

    /// <summary>How the domain's progress thread polls when nothing happens (see <see cref="LibfabricProgressMode"/>).</summary>
    /// <remarks>The default is <see cref="LibfabricProgressMode.Adaptive"/>; the environment variable
    /// <c>SCALIO_FABRIC_PROGRESS=backoff</c> makes the default the original strategy (Backoff, and
    /// <see cref="CallerDrivesProgress"/> false) for comparisons across processes (perf/multiprocess.sh).</remarks>
    public LibfabricProgressMode ProgressMode { get; init; } = ProgressDefaults.Mode;

    /// <summary>Adaptive mode: after any activity (a completion, a post, a poll that served a peer), the progress thread
    /// polls without sleeping (yielding the core between polls) for this long, in microseconds.</summary>
    public int BusyPollMicroseconds { get; init; } = 200;

    /// <summary>Adaptive mode: once the busy window has passed, the progress thread sleeps this long between polls, in
    /// microseconds (the bound on the extra latency of a peer's READ or atomic against an idle domain).</summary>
    public int IdlePollMicroseconds { get; init; } = 50;

    /// <summary>Adaptive mode: after this long without activity (a completion, a post, or two polls within 1 ms that
    /// served a peer; a lone slow poll may be the host preempting us) the progress thread falls back to
    /// <see cref="IdleSleepMilliseconds"/> slices (a local post still wakes it at once).</summary>
    public int DeepIdleMilliseconds { get; init; } = 200;

    /// <summary>
    /// A thread that waits on a completion queue of this domain (<see cref="CompletionQueue.PollBlocking"/>) drives the
    /// provider's progress itself while it spins, instead of waiting for the progress thread to be scheduled: one
    /// thread hand-off less per completion on a busy machine. The progress thread still runs.
    /// </summary>
    public bool CallerDrivesProgress { get; init; } = ProgressDefaults.Mode == LibfabricProgressMode.Adaptive;

    /// <summary>With <see cref="CallerDrivesProgress"/>: how long a waiting thread polls the provider before it blocks
    /// and leaves the rest to the progress thread, in microseconds (each poll is a system call or more; on shared
    /// cores a long spin starves the other threads).</summary>
    public int CallerPollMicroseconds { get; init; } = 100;

    /// <summary>
    /// Adaptive mode with <see cref="CallerDrivesProgress"/>: while a waiting thread has driven the provider within this
    /// many microseconds, the progress thread polls only once per this period, and does not busy-poll between that
    /// thread's waits (0: 100 µs, polling every <see cref="IdlePollMicroseconds"/>). For a client, whose one-sided
    /// operations are all waited for by the thread that posted them: a progress thread polling beside it takes a core
    /// from the server on a small machine and contends for the provider's lock. Not for a domain that serves peers'
    /// READs and atomics (a server), whose waiting threads may stop polling at any time.
    /// </summary>
    public int CallerStepBackMicroseconds { get; init; }
}

/// <summary>Progress defaults, from <c>SCALIO_FABRIC_PROGRESS</c> (<c>adaptive</c>, the default, or <c>backoff</c>).</summary>
internal static class ProgressDefaults
{
    public const string Variable = "SCALIO_FABRIC_PROGRESS";

    public static readonly LibfabricProgressMode Mode = Parse(Environment.GetEnvironmentVariable(Variable), out _);

    /// <summary>The mode a value names; false (and Adaptive) when the value names none.</summary>
    public static LibfabricProgressMode Parse(string? value, out bool valid)
    {
        valid = true;
        if (string.IsNullOrEmpty(value) || value.Equals("adaptive", StringComparison.OrdinalIgnoreCase)) return LibfabricProgressMode.Adaptive;
        if (value.Equals("backoff", StringComparison.OrdinalIgnoreCase)) return LibfabricProgressMode.Backoff;
        valid = false;
        return LibfabricProgressMode.Adaptive;
    }
}

/// <summary>How a libfabric domain's progress thread behaves when idle. Software providers (tcp, shm) use manual
/// progress: a peer's RMA and atomics against our memory are only served while something polls our completion
/// queue, so the idle strategy sets the latency a peer sees.</summary>
public enum LibfabricProgressMode
{
    /// <summary>The original strategy: about 200 polls (spin, then yield), then sleeps of
    /// <see cref="LibfabricOptions.IdleSleepMilliseconds"/>; a peer's request into a sleeping domain waits up to that long.</summary>
    Backoff,

    /// <summary>Busy-poll (yielding) for <see cref="LibfabricOptions.BusyPollMicroseconds"/> after any activity, then poll
    /// every <see cref="LibfabricOptions.IdlePollMicroseconds"/>, and only after
    /// <see cref="LibfabricOptions.DeepIdleMilliseconds"/> of nothing sleep in <see cref="LibfabricOptions.IdleSleepMilliseconds"/> slices.</summary>
    Adaptive,
}

/// <summary>
/// The libfabric provider of Scalio.Verbs: one provider (chosen by name) opened with <c>fi_getinfo</c>/<c>fi_fabric</c>.
/// Domains created from it are <see cref="ProtectionDomain"/>s whose regions are registered with libfabric and whose
/// queue pairs are reliable-datagram (FI_EP_RDM) endpoints, each connected to exactly one peer endpoint.
/// </summary>
public sealed unsafe class LibfabricFabric : IFabric, IDisposable
{
    private FiInfo* _info;
    private FidFabric* _fabric;
    private int _disposed;

    private LibfabricFabric(LibfabricOptions options, FiInfo* info, FidFabric* fabric)
    {
        Options = options;
        _info = info;
        _fabric = fabric;
        ProviderName = Marshal.PtrToStringUTF8((nint)info->fabric_attr->prov_name) ?? "?";
        FabricName = Marshal.PtrToStringUTF8((nint)info->fabric_attr->name) ?? "?";
        DomainName = Marshal.PtrToStringUTF8((nint)info->domain_attr->name) ?? "?";
        Capabilities = info->caps;
        TransmitOrder = info->tx_attr->msg_order;
        MemoryRegionMode = info->domain_attr->mr_mode;
        ManualProgress = info->domain_attr->data_progress == Fi.FI_PROGRESS_MANUAL;
        InjectSize = info->tx_attr->inject_size;
        MaxMessageSize = info->ep_attr->max_msg_size;
    }

    /// <summary>True when libfabric 1.x (1.17 or later) can be loaded; otherwise <paramref name="reason"/> says why.</summary>
    public static bool IsInstalled(out string reason)
    {
        if (Fi.Library is null)
        {
            reason = Fi.LoadError ?? "libfabric could not be loaded";
            return false;
        }
        reason = "";
        return true;
    }

    /// <summary>Maps the short provider names to libfabric provider strings (tcp → tcp;ofi_rxm, verbs → verbs;ofi_rxm).</summary>
    public static string NormalizeProvider(string provider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(provider);
        return provider.Trim().ToLowerInvariant() switch
        {
            "tcp" or "ethernet" => "tcp;ofi_rxm",
            "verbs" or "rdma" => "verbs;ofi_rxm",
            var p => p,
        };
    }

    /// <summary>
    /// Opens the provider. Throws <see cref="LibfabricUnavailableException"/> when libfabric or the provider is absent
    /// (for <c>verbs</c>: no RDMA device), and <see cref="InvalidOperationException"/> when <c>shm</c> is requested
    /// without <see cref="LibfabricOptions.TrustedClients"/>.
    /// </summary>
    public static LibfabricFabric Open(LibfabricOptions? options = null)
    {
        options ??= new LibfabricOptions();
        string provider = NormalizeProvider(options.Provider);
        if (options.SendQueueDepth < 1 || options.SendQueueDepth > 1 << 20) throw new ArgumentOutOfRangeException(nameof(options), "SendQueueDepth must be between 1 and 1M");
        if (options.RxmBufferSize is < 0 or > 1 << 24) throw new ArgumentOutOfRangeException(nameof(options), "RxmBufferSize must be between 0 and 16M");
        if (options.ProviderQueueSize is < 8 or > 65536) throw new ArgumentOutOfRangeException(nameof(options), "ProviderQueueSize must be between 8 and 65536");
        if (options.IdleSleepMilliseconds is < 0 or > 1000) throw new ArgumentOutOfRangeException(nameof(options), "IdleSleepMilliseconds must be between 0 and 1000");
        if (options.CompletionQueueSize < 16 || options.CompletionQueueSize > 1 << 22) throw new ArgumentOutOfRangeException(nameof(options), "CompletionQueueSize must be between 16 and 4M");
        if (options.BusyPollMicroseconds is < 0 or > 1_000_000) throw new ArgumentOutOfRangeException(nameof(options), "BusyPollMicroseconds must be between 0 and 1000000");
        if (options.CallerPollMicroseconds is < 0 or > 1_000_000) throw new ArgumentOutOfRangeException(nameof(options), "CallerPollMicroseconds must be between 0 and 1000000");
        if (options.CallerStepBackMicroseconds is < 0 or > 100_000) throw new ArgumentOutOfRangeException(nameof(options), "CallerStepBackMicroseconds must be between 0 and 100000");
        if (options.IdlePollMicroseconds is < 1 or > 1_000_000) throw new ArgumentOutOfRangeException(nameof(options), "IdlePollMicroseconds must be between 1 and 1000000");
        if (options.DeepIdleMilliseconds is < 0 or > 3_600_000) throw new ArgumentOutOfRangeException(nameof(options), "DeepIdleMilliseconds must be between 0 and 3600000");
        if (!Enum.IsDefined(options.ProgressMode)) throw new ArgumentOutOfRangeException(nameof(options), $"ProgressMode {(int)options.ProgressMode} is not a LibfabricProgressMode");
        ProgressDefaults.Parse(Environment.GetEnvironmentVariable(ProgressDefaults.Variable), out bool validMode);
        if (!validMode) throw new ArgumentException($"{ProgressDefaults.Variable}='{Environment.GetEnvironmentVariable(ProgressDefaults.Variable)}' is neither 'adaptive' nor 'backoff'", nameof(options));
        bool isShm = provider == "shm" || provider.StartsWith("shm;", StringComparison.Ordinal);
        if (isShm && !options.TrustedClients)
            throw new InvalidOperationException("the shm provider does not enforce memory-region keys against a hostile local process " +
                "(peers on the node can bypass its key checks); set LibfabricOptions.TrustedClients = true to use it with trusted clients only");
        var lib = Fi.Library ?? throw new LibfabricUnavailableException(Fi.LoadError ?? "libfabric could not be loaded");
        if (options.RxmBufferSize > 0) Fi.SetDefaultParameter("FI_OFI_RXM_BUFFER_SIZE", options.RxmBufferSize.ToString(System.Globalization.CultureInfo.InvariantCulture));

        FiInfo* hints = lib.DupInfo(null);
        if (hints == null) throw new LibfabricException("fi_allocinfo failed (out of memory)");
        FiInfo* info = null;
        try
        {
            hints->caps = Fi.FI_MSG | Fi.FI_RMA | Fi.FI_ATOMIC;
            hints->mode = Fi.FI_CONTEXT | Fi.FI_CONTEXT2;
            hints->ep_attr->type = Fi.FI_EP_RDM;
            hints->domain_attr->threading = Fi.FI_THREAD_SAFE;
            // The modes this provider handles: local registration, virtual addressing, provider keys, allocated memory.
            hints->domain_attr->mr_mode = Fi.FI_MR_LOCAL | Fi.FI_MR_VIRT_ADDR | Fi.FI_MR_ALLOCATED | Fi.FI_MR_PROV_KEY;
            hints->fabric_attr->prov_name = Fi.StrDup(provider);
            // Queue depths: rxm sizes its bounce-buffer pools from these (2048 each by default: ~70 MB and ~0.3 s of
            // page faults per endpoint); Scalio keeps few requests in flight per queue pair.
            hints->tx_attr->size = (nuint)options.ProviderQueueSize;
            hints->rx_attr->size = (nuint)options.ProviderQueueSize;
            byte* node = null;
            ulong flags = 0;
            if (!isShm && !string.IsNullOrEmpty(options.Node))
            {
                node = Fi.StrDup(options.Node);
                flags = Fi.FI_SOURCE;
            }
            int rc;
            try
            {
                rc = lib.GetInfo(Fi.Version, node, null, flags, hints, &info);
            }
            finally
            {
                if (node != null) NativeMemory.Free(node);
            }
            if (rc == -Fi.FI_ENODATA || rc == -Fi.FI_ENOSYS)
            {
                string why = provider.StartsWith("verbs", StringComparison.Ordinal)
                    ? "no RDMA device is usable here (the verbs provider needs an RDMA NIC or rxe/siw and rdma-core)"
                    : $"the provider offers no endpoint with RMA, atomics and messages{(node != null ? $" on {options.Node}" : "")}";
                throw new LibfabricUnavailableException($"libfabric provider '{provider}' is not available: {why} (fi_getinfo: {Fi.StrError(rc)})");
            }
            Fi.Check(rc, $"fi_getinfo(provider {provider})");
            if ((info->domain_attr->mr_mode & Fi.FI_MR_ENDPOINT) != 0)
                throw new LibfabricUnavailableException($"provider '{provider}' needs FI_MR_ENDPOINT (regions bound to endpoints), which this binding does not implement");

            // Keep one info (the first match) for domains and endpoints.
            FiInfo* chosen = lib.DupInfo(info);
            if (chosen == null) throw new LibfabricException("fi_dupinfo failed (out of memory)");
            lib.FreeInfo(info);
            info = chosen;
            FidFabric* fabric;
            rc = lib.Fabric(info->fabric_attr, &fabric, null);
            Fi.Check(rc, "fi_fabric");
            var result = new LibfabricFabric(options, info, fabric);
            info = null;
            return result;
        }
        finally
        {
            lib.FreeInfo(hints);
            if (info != null) lib.FreeInfo(info);
        }
    }

    /// <summary>The options in force.</summary>
    public LibfabricOptions Options { get; }

    /// <summary>Provider string libfabric chose (e.g. <c>tcp;ofi_rxm</c>).</summary>
    public string ProviderName { get; }

    /// <summary>Fabric name (e.g. the subnet for tcp).</summary>
    public string FabricName { get; }

    /// <summary>Domain name (e.g. the interface for tcp).</summary>
    public string DomainName { get; }

    /// <summary>The FI_* capability bits of the chosen endpoint.</summary>
    public ulong Capabilities { get; }

    /// <summary>The FI_ORDER_* bits the transmit side guarantees.</summary>
    public ulong TransmitOrder { get; }

    /// <summary>The FI_MR_* mode bits the provider requires.</summary>
    public int MemoryRegionMode { get; }

    /// <summary>True when the target side only progresses when its owner polls (software providers).</summary>
    public bool ManualProgress { get; }

    /// <summary>Largest payload the provider sends inline.</summary>
    public nuint InjectSize { get; }

    /// <summary>Largest message the endpoint accepts.</summary>
    public nuint MaxMessageSize { get; }

    /// <summary>True when remote addresses are virtual addresses (FI_MR_VIRT_ADDR) rather than offsets.</summary>
    public bool VirtualAddressing => (MemoryRegionMode & Fi.FI_MR_VIRT_ADDR) != 0;

    /// <summary>True when the provider picks region keys (FI_MR_PROV_KEY) rather than honouring requested keys.</summary>
    public bool ProviderKeys => (MemoryRegionMode & Fi.FI_MR_PROV_KEY) != 0;

    /// <summary>True when local buffers need registration descriptors (FI_MR_LOCAL).</summary>
    public bool LocalRegistration => (MemoryRegionMode & Fi.FI_MR_LOCAL) != 0;

    internal FiInfo* Info => _info;

    internal FidFabric* Handle => _fabric;

    /// <summary>One line describing the provider, for logs.</summary>
    public override string ToString()
        => $"{ProviderName} fabric={FabricName} domain={DomainName} mr_mode=0x{MemoryRegionMode:x} order=0x{TransmitOrder:x} progress={(ManualProgress ? "manual" : "auto")}";

    /// <summary>Creates a protection domain with its own provider domain, address vector, completion queue and progress thread.</summary>
    public LibfabricDomain CreateDomain()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return new LibfabricDomain(this);
    }

    ProtectionDomain IFabric.CreateDomain() => CreateDomain();

    /// <summary>
    /// Connects to a server's side channel in a protection domain of its own (see
    /// <see cref="LibfabricConnector.Connect"/>); the connection owns the domain and disposes it last.
    /// </summary>
    public LibfabricConnection Connect(IPEndPoint server, QueuePairOptions? options = null, int timeoutMilliseconds = 10_000, AuthToken? token = null)
    {
        var domain = CreateDomain();
        try
        {
            var link = LibfabricConnector.Connect(domain, server, options: options, timeoutMilliseconds: timeoutMilliseconds, token: token);
            link.OwnDomain(domain);
            return link;
        }
        catch
        {
            domain.Dispose();
            throw;
        }
    }

    /// <summary>Connects two unconnected queue pairs of this provider that live in this process (possibly in different domains).</summary>
    public static void Connect(QueuePair a, QueuePair b)
    {
        if (a is not LibfabricQueuePair la || b is not LibfabricQueuePair lb)
            throw new ArgumentException("both queue pairs must belong to a libfabric domain", nameof(a));
        if (ReferenceEquals(la, lb)) throw new ArgumentException("a queue pair cannot connect to itself; create a second one", nameof(b));
        la.ConnectLocal(lb);
        lb.ConnectLocal(la);
    }

    /// <summary>Closes the fabric. Domains must be disposed first.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_fabric != null) Fi.Close(&_fabric->fid);
        _fabric = null;
        if (_info != null) Fi.Library!.FreeInfo(_info);
        _info = null;
    }
}
