using Scalio.Fast.Cache;

namespace Scalio.Fast.Server;

/// <summary>
/// What a server does with a GET request instead of a plain SSD read: the seam through which a design Scalio is
/// compared against, built in another assembly (a server-side cache fill), runs on the server's workers. It runs inside the
/// worker's charged serving time, so its CPU is server CPU and obeys the budget like any request. Scalio clients never
/// send GET requests.
/// </summary>
internal interface IServerGetPath
{
    /// <summary>Serves a GET of <paramref name="key"/> on a worker thread; <paramref name="scratch"/> is a page the
    /// value may land in.</summary>
    OpStatus Serve(in KeyHash hash, ReadOnlySpan<byte> key, Span<byte> scratch, out ReadOnlySpan<byte> value);
}

public sealed unsafe partial class ScalioServer
{
    private volatile IServerGetPath? _getPath;

    /// <summary>Serves GET requests in place of the plain SSD read (set before the clients that send them connect); null: the SSD read.</summary>
    internal IServerGetPath? GetPath
    {
        get => _getPath;
        set => _getPath = value;
    }

    /// <summary>Header words of the cache, changed as the provider requires (fabric or CPU atomics).</summary>
    internal ServerAtomics Atomics => _atomics;

    /// <summary>Buckets of the DRAM cache.</summary>
    internal int CacheBuckets => _options.CacheBuckets;

    /// <summary>A GET served by the server CPU: the SSD read, or what <see cref="GetPath"/> does instead.</summary>
    private OpStatus ServeGet(in KeyHash hash, ReadOnlySpan<byte> key, Span<byte> scratch, out ReadOnlySpan<byte> value)
        => _getPath is { } path ? path.Serve(in hash, key, scratch, out value) : _store.Read(in hash, key, scratch, out value);
}
