using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Scalio.Fast.Cache;
using Scalio.Verbs.Libfabric;

namespace Scalio.Fast.Server;

/// <summary>
/// What a client learns from the server when it connects: where the cache and the location index are and how they
/// are laid out, where the offload target serving the SSDs listens, and the server clock.
/// </summary>
/// <remarks>
/// <para><see cref="ClockBase"/> is always a <see cref="Stopwatch"/> timestamp of the process holding the descriptor:
/// in the server's own process (and for embedded clients) it is the instant the server clock read 0. A descriptor
/// that crossed the wire (<see cref="Decode(ReadOnlySpan{byte}, ClockExchange)"/>) has it translated into the receiver's clock by a clock exchange, so
/// leases and access stamps agree across machines, within <see cref="ClockUncertainty"/>.</para>
/// <para>Encoding (<see cref="Encode()"/>, little-endian, version <see cref="EncodingVersion"/>): magic "SCSD",
/// version, layout, keys and geometry, the server's Stopwatch frequency, its clock reading and its raw Stopwatch at
/// encode time, LBA size per device, then the optional offload target (host, port, subsystem NQN). Every length is
/// checked on decode.</para>
/// </remarks>
/// <param name="Layout">Slot and bucket layout.</param>
/// <param name="CacheKey">Remote key of the cache region.</param>
/// <param name="BucketsOffset">Offset of bucket 0 in the cache region.</param>
/// <param name="CacheBuckets">Number of cache buckets.</param>
/// <param name="IndexKey">Remote key of the location index region.</param>
/// <param name="SsdBuckets">Number of SSD buckets.</param>
/// <param name="PageSize">Bytes per SSD page (one bucket block).</param>
/// <param name="DeviceLbaSizes">LBA size of each device (NSID = index + 1 at the offload target).</param>
/// <param name="ClockBase">Stopwatch timestamp (of this process) at which the server clock reads 0.</param>
/// <param name="LeaseMilliseconds">Age after which a FILLING or ORPHAN slot may be reclaimed.</param>
public sealed record ServerDescriptor(
    SlotLayout Layout,
    uint CacheKey,
    int BucketsOffset,
    int CacheBuckets,
    uint IndexKey,
    int SsdBuckets,
    int PageSize,
    int[] DeviceLbaSizes,
    long ClockBase,
    int LeaseMilliseconds)
{
    /// <summary>Wire magic of an encoded descriptor ("SCSD").</summary>
    public const uint Magic = 0x44534353;

    /// <summary>Version of the encoding written by <see cref="Encode()"/>; other versions are refused.</summary>
    public const ushort EncodingVersion = 1;

    /// <summary>Most devices a descriptor may name.</summary>
    public const int MaxDevices = 64;

    /// <summary>Longest host name or NQN accepted (an NVMe NQN is at most 223 bytes).</summary>
    public const int MaxNameLength = 255;

    /// <summary>The offload target (NVMe/TCP) that serves the SSD namespaces to clients, as the server was told; null when none.</summary>
    public OffloadTargetEndpoint? OffloadTarget { get; init; }

    /// <summary>
    /// Bound on the error of <see cref="ClockBase"/>: zero in the server's process; after <see cref="Decode(ReadOnlySpan{byte}, ClockExchange)"/>, half the
    /// round trip of the clock exchange (the server read its clock somewhere between the client's send and receive).
    /// </summary>
    public TimeSpan ClockUncertainty { get; init; }

    /// <summary>Encodes the descriptor, reading the server clock now (call it in the server's process).</summary>
    public byte[] Encode() => Encode(Stopwatch.GetTimestamp());

    /// <summary>Encodes the descriptor with the server clock read at <paramref name="serverTimestamp"/> (a Stopwatch timestamp of this process).</summary>
    public byte[] Encode(long serverTimestamp)
    {
        if (DeviceLbaSizes.Length is 0 or > MaxDevices) throw new ArgumentException($"1..{MaxDevices} devices");
        byte[] host = [], nqn = [];
        if (OffloadTarget is { } t)
        {
            host = Encoding.UTF8.GetBytes(t.Host);
            nqn = Encoding.UTF8.GetBytes(t.SubsystemNqn);
            if (host.Length is 0 or > MaxNameLength || nqn.Length is 0 or > MaxNameLength)
                throw new ArgumentException($"offload target host and NQN must be 1..{MaxNameLength} bytes");
        }
        int size = FixedSize + 4 * DeviceLbaSizes.Length + 1 + (OffloadTarget is null ? 0 : 2 + host.Length + 2 + nqn.Length + 4);
        var b = new byte[size];
        var s = b.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], EncodingVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(s[6..], 0); // flags, none defined
        BinaryPrimitives.WriteInt32LittleEndian(s[8..], Layout.KeyCapacity);
        BinaryPrimitives.WriteInt32LittleEndian(s[12..], Layout.ValueCapacity);
        BinaryPrimitives.WriteInt32LittleEndian(s[16..], Layout.SlotsPerBucket);
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], CacheKey);
        BinaryPrimitives.WriteInt32LittleEndian(s[24..], BucketsOffset);
        BinaryPrimitives.WriteInt32LittleEndian(s[28..], CacheBuckets);
        BinaryPrimitives.WriteUInt32LittleEndian(s[32..], IndexKey);
        BinaryPrimitives.WriteInt32LittleEndian(s[36..], SsdBuckets);
        BinaryPrimitives.WriteInt32LittleEndian(s[40..], PageSize);
        BinaryPrimitives.WriteInt32LittleEndian(s[44..], LeaseMilliseconds);
        BinaryPrimitives.WriteInt64LittleEndian(s[48..], Stopwatch.Frequency);
        BinaryPrimitives.WriteInt64LittleEndian(s[56..], serverTimestamp - ClockBase); // server clock reading, in server ticks
        BinaryPrimitives.WriteInt64LittleEndian(s[64..], serverTimestamp);             // the server's Stopwatch at that moment
        BinaryPrimitives.WriteInt32LittleEndian(s[72..], DeviceLbaSizes.Length);
        s = s[FixedSize..];
        foreach (int lba in DeviceLbaSizes)
        {
            BinaryPrimitives.WriteInt32LittleEndian(s, lba);
            s = s[4..];
        }
        if (OffloadTarget is not { } target)
        {
            s[0] = 0;
            return b;
        }
        s[0] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[1..], (ushort)host.Length);
        host.CopyTo(s[3..]);
        s = s[(3 + host.Length)..];
        BinaryPrimitives.WriteInt32LittleEndian(s, target.Port);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], (ushort)nqn.Length);
        nqn.CopyTo(s[6..]);
        return b;
    }

    private const int FixedSize = 76;

    /// <summary>
    /// Decodes a descriptor sent by a server and translates its clock into this process's <see cref="Stopwatch"/>:
    /// the client read its clock at <paramref name="sentTimestamp"/> (just before sending the request that the server
    /// answered with these bytes) and at <paramref name="receivedTimestamp"/> (just after the answer arrived); the server
    /// read its clock in between, so taking the midpoint errs by at most half the round trip
    /// (<see cref="ClockUncertainty"/>). Clock rate differences over the session's life are not corrected.
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed descriptor of a supported version.</exception>
    public static ServerDescriptor Decode(ReadOnlySpan<byte> data, long sentTimestamp, long receivedTimestamp)
    {
        if (receivedTimestamp < sentTimestamp) throw new ArgumentException("the answer cannot arrive before the request was sent", nameof(receivedTimestamp));
        return Decode(data, sentTimestamp, receivedTimestamp, null);
    }

    /// <summary>
    /// Decodes a descriptor and translates the server clock with a separate clock ping (<see cref="ClockExchange"/>,
    /// made on the side channel right after the hellos, so its round trip holds no server-side connection setup): the
    /// server's Stopwatch read <see cref="ClockExchange.PeerTimestamp"/> at the ping's midpoint, within half its round
    /// trip (<see cref="ClockUncertainty"/>).
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed descriptor, or the ping came from another clock.</exception>
    public static ServerDescriptor Decode(ReadOnlySpan<byte> data, ClockExchange clock)
    {
        if (clock.ReceivedTimestamp < clock.SentTimestamp) throw new ArgumentException("the answer cannot arrive before the ping was sent", nameof(clock));
        return Decode(data, clock.SentTimestamp, clock.ReceivedTimestamp, clock);
    }

    private static ServerDescriptor Decode(ReadOnlySpan<byte> data, long sentTimestamp, long receivedTimestamp, ClockExchange? ping)
    {
        if (data.Length < FixedSize + 1) throw Bad($"truncated ({data.Length} bytes)");
        if (BinaryPrimitives.ReadUInt32LittleEndian(data) != Magic) throw Bad("bad magic (not a Scalio server descriptor)");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(data[4..]);
        if (version != EncodingVersion) throw Bad($"version {version}, this client understands {EncodingVersion}");
        if (BinaryPrimitives.ReadUInt16LittleEndian(data[6..]) != 0) throw Bad("unknown flags");
        SlotLayout layout;
        try
        {
            layout = new SlotLayout(BinaryPrimitives.ReadInt32LittleEndian(data[8..]), BinaryPrimitives.ReadInt32LittleEndian(data[12..]),
                BinaryPrimitives.ReadInt32LittleEndian(data[16..]));
        }
        catch (ArgumentException e)
        {
            throw Bad("invalid layout: " + e.Message);
        }
        uint cacheKey = BinaryPrimitives.ReadUInt32LittleEndian(data[20..]);
        int bucketsOffset = BinaryPrimitives.ReadInt32LittleEndian(data[24..]);
        int cacheBuckets = BinaryPrimitives.ReadInt32LittleEndian(data[28..]);
        uint indexKey = BinaryPrimitives.ReadUInt32LittleEndian(data[32..]);
        int ssdBuckets = BinaryPrimitives.ReadInt32LittleEndian(data[36..]);
        int pageSize = BinaryPrimitives.ReadInt32LittleEndian(data[40..]);
        int lease = BinaryPrimitives.ReadInt32LittleEndian(data[44..]);
        long frequency = BinaryPrimitives.ReadInt64LittleEndian(data[48..]);
        long serverElapsed = BinaryPrimitives.ReadInt64LittleEndian(data[56..]);
        long serverTimestamp = BinaryPrimitives.ReadInt64LittleEndian(data[64..]);
        int devices = BinaryPrimitives.ReadInt32LittleEndian(data[72..]);
        if (bucketsOffset < 0 || (bucketsOffset & 7) != 0) throw Bad($"buckets offset {bucketsOffset}");
        if (cacheBuckets < 1 || ssdBuckets < 1) throw Bad("empty cache or SSD bucket count");
        if (pageSize < 512 || (pageSize & (pageSize - 1)) != 0) throw Bad($"page size {pageSize}");
        if (lease < 1 || lease > 30_000) throw Bad($"lease {lease} ms");
        if (frequency < 1 || serverElapsed < 0) throw Bad("bad server clock");
        if (devices < 1 || devices > MaxDevices) throw Bad($"{devices} devices");
        var s = data[FixedSize..];
        if (s.Length < 4 * devices + 1) throw Bad("truncated device list");
        var lbas = new int[devices];
        for (int i = 0; i < devices; i++)
        {
            lbas[i] = BinaryPrimitives.ReadInt32LittleEndian(s);
            if (lbas[i] is not (512 or 4096) || lbas[i] > pageSize) throw Bad($"device {i}: LBA size {lbas[i]}");
            s = s[4..];
        }
        OffloadTargetEndpoint? target = null;
        byte hasTarget = s[0];
        s = s[1..];
        if (hasTarget == 1)
        {
            string host = ReadName(ref s, "offload target host");
            if (s.Length < 4) throw Bad("truncated offload target port");
            int port = BinaryPrimitives.ReadInt32LittleEndian(s);
            if (port is < 1 or > 65535) throw Bad($"offload target port {port}");
            s = s[4..];
            string nqn = ReadName(ref s, "offload target NQN");
            target = new OffloadTargetEndpoint(host, port, nqn);
        }
        else if (hasTarget != 0)
        {
            throw Bad("bad offload target marker");
        }
        if (!s.IsEmpty) throw Bad($"{s.Length} trailing bytes");

        // Clock exchange: the server read serverElapsed (its clock) between our send and our receive; with a ping, the
        // server's Stopwatch read PeerTimestamp between the ping's send and receive, and its clock then read this much:
        if (ping is { } p)
        {
            if (p.PeerFrequency != frequency) throw Bad($"the clock ping ran at {p.PeerFrequency} Hz, the descriptor's clock at {frequency} Hz");
            serverElapsed += p.PeerTimestamp - serverTimestamp;
            if (serverElapsed < 0) throw Bad("the clock ping predates the server clock");
        }
        // A clock reading that does not fit this process's Stopwatch would wrap around silently (fuzz corpus descriptor/crash-*).
        Int128 elapsedHere = (Int128)serverElapsed * Stopwatch.Frequency / frequency;
        long mid = sentTimestamp + (receivedTimestamp - sentTimestamp) / 2;
        if (elapsedHere > long.MaxValue || (Int128)mid - elapsedHere < long.MinValue) throw Bad($"server clock reading {serverElapsed} at {frequency} Hz is out of range");
        long localElapsed = (long)elapsedHere;
        return new ServerDescriptor(layout, cacheKey, bucketsOffset, cacheBuckets, indexKey, ssdBuckets, pageSize, lbas, mid - localElapsed, lease)
        {
            OffloadTarget = target,
            ClockUncertainty = Stopwatch.GetElapsedTime(0, (receivedTimestamp - sentTimestamp + 1) / 2),
        };
    }

    private static string ReadName(ref ReadOnlySpan<byte> s, string what)
    {
        if (s.Length < 2) throw Bad($"truncated {what}");
        int n = BinaryPrimitives.ReadUInt16LittleEndian(s);
        if (n is 0 or > MaxNameLength || s.Length < 2 + n) throw Bad($"bad {what} length {n}");
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(s.Slice(2, n));
        }
        catch (DecoderFallbackException)
        {
            throw Bad($"{what} is not UTF-8");
        }
        s = s[(2 + n)..];
        return text;
    }

    private static InvalidDataException Bad(string what) => new($"malformed server descriptor: {what}");
}

/// <summary>Where an NVMe/TCP offload target serving the store's namespaces listens.</summary>
/// <param name="Host">Host name or address.</param>
/// <param name="Port">TCP port.</param>
/// <param name="SubsystemNqn">Subsystem NQN to connect to.</param>
public sealed record OffloadTargetEndpoint(string Host, int Port, string SubsystemNqn)
{
    /// <summary>Parses <c>HOST:PORT</c> (IPv6 as <c>[addr]:PORT</c>) with the given NQN; throws <see cref="FormatException"/> with the reason.</summary>
    public static OffloadTargetEndpoint Parse(string hostPort, string subsystemNqn)
    {
        ArgumentNullException.ThrowIfNull(hostPort);
        ArgumentException.ThrowIfNullOrEmpty(subsystemNqn);
        int colon = hostPort.LastIndexOf(':');
        if (colon <= 0 || colon == hostPort.Length - 1) throw new FormatException($"'{hostPort}' is not HOST:PORT");
        string host = hostPort[..colon].Trim('[', ']');
        if (!int.TryParse(hostPort.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            throw new FormatException($"'{hostPort}': port must be 1..65535");
        return new OffloadTargetEndpoint(host, port, subsystemNqn);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Host}:{Port} ({SubsystemNqn})";
}
