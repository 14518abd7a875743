using System.Buffers.Binary;
using System.IO.Hashing;
using System.Net;
using System.Net.Sockets;
using Scalio.Checking;
using Scalio.Fast.Cache;
using Scalio.Fast;
using Scalio.Fast.Rpc;
using Scalio.Fast.Server;
using Scalio.Fast.Storage;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;
using Scalio.Nvme;
using Scalio.Nvme.Tcp;

namespace Scalio.Cli.Fuzz;

/// <summary>Every decoder of bytes that come from outside the process (the wire, the disk, a history file), by name.</summary>
internal static class FuzzTargets
{
    /// <summary>Names, in campaign order.</summary>
    public static readonly string[] Names = ["rpc-request", "rpc-reply", "hello", "admission-answer", "admission-verdict", "descriptor", "history", "bucket-block", "value-record", "nvmetcp-pdu", "nvmetcp-target", "superblock", "checkpoint", "log-replay"];

    /// <summary>Creates the target called <paramref name="name"/>.</summary>
    public static FuzzTarget Create(string name) => name switch
    {
        "rpc-request" => new RpcRequestTarget(),
        "rpc-reply" => new RpcReplyTarget(),
        "hello" => new HelloTarget(),
        "admission-answer" => new AdmissionAnswerTarget(),
        "admission-verdict" => new AdmissionVerdictTarget(),
        "descriptor" => new DescriptorTarget(),
        "history" => new HistoryTarget(),
        "bucket-block" => new BucketBlockTarget(),
        "value-record" => new ValueRecordTarget(),
        "nvmetcp-pdu" => new PduTarget(),
        "nvmetcp-target" => new TargetStreamTarget(),
        "superblock" => new RecoveryTarget("superblock", RecoveryTarget.Region.Superblock),
        "checkpoint" => new RecoveryTarget("checkpoint", RecoveryTarget.Region.Checkpoint),
        "log-replay" => new RecoveryTarget("log-replay", RecoveryTarget.Region.Log),
        _ => throw new ArgumentException($"unknown fuzz target '{name}' (one of: {string.Join(", ", Names)}, all)"),
    };

    internal static byte[] Bytes(Random r, int n)
    {
        var b = new byte[n];
        r.NextBytes(b);
        return b;
    }
}

/// <summary>Server side of the RPC: <see cref="RpcFormat.TryReadRequest"/> returns false on a malformed request, never throws.</summary>
internal sealed class RpcRequestTarget : FuzzTarget
{
    public override string Name => "rpc-request";

    public override string Contract => "TryReadRequest returns false";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var list = new List<byte[]>();
        foreach (var (op, kl, vl) in new[] { (RpcOp.Put, 16, 64), (RpcOp.Delete, 16, 0), (RpcOp.Get, 16, 0), (RpcOp.Put, 1, 1200), (RpcOp.Put, 0, 0) })
        {
            var b = new byte[RpcFormat.RequestHeaderSize + kl + vl];
            RpcFormat.WriteRequest(b, op, (ulong)r.NextInt64(), FuzzTargets.Bytes(r, kl), FuzzTargets.Bytes(r, vl));
            list.Add(b);
        }
        return list;
    }

    public override bool Decode(byte[] input)
    {
        if (!RpcFormat.TryReadRequest(input, out _, out _, out var key, out var value)) return false;
        return RpcFormat.RequestHeaderSize + key.Length + value.Length == input.Length;
    }
}

/// <summary>Client side of the RPC: <see cref="RpcFormat.TryReadReply"/> returns false on a malformed reply, never throws.</summary>
internal sealed class RpcReplyTarget : FuzzTarget
{
    public override string Name => "rpc-reply";

    public override string Contract => "TryReadReply returns false";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var list = new List<byte[]>();
        foreach (var (st, vl) in new[] { (OpStatus.Ok, 64), (OpStatus.NotFound, 0), (OpStatus.IoError, 0), (OpStatus.Ok, 1200) })
        {
            var b = new byte[RpcFormat.ReplyHeaderSize + vl];
            RpcFormat.WriteReply(b, st, (ulong)r.NextInt64(), FuzzTargets.Bytes(r, vl));
            list.Add(b);
        }
        return list;
    }

    public override bool Decode(byte[] input)
    {
        if (!RpcFormat.TryReadReply(input, out _, out _, out var value)) return false;
        return RpcFormat.ReplyHeaderSize + value.Length == input.Length;
    }
}

/// <summary>The libfabric bootstrap hello (its body, after the 4-byte length): <see cref="InvalidDataException"/>.</summary>
internal sealed class HelloTarget : FuzzTarget
{
    public override string Name => "hello";

    public override string Contract => "BootstrapHello.Decode throws InvalidDataException";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var list = new List<byte[]>();
        for (int regions = 0; regions <= 3; regions++)
        {
            var rr = Enumerable.Range(0, regions).Select(i => new RemoteRegion((uint)r.Next(), (ulong)r.NextInt64(), (ulong)r.NextInt64(), (ulong)r.Next(1, 1 << 20), MemoryAccess.RemoteRead)).ToArray();
            var hello = new BootstrapHello { Provider = regions % 2 == 0 ? "tcp;ofi_rxm" : "shm", Address = FuzzTargets.Bytes(r, 16 + regions * 8), Regions = rr, Descriptor = FuzzTargets.Bytes(r, regions * 40) };
            list.Add(hello.Encode()[4..]);
        }
        return list;
    }

    public override bool Decode(byte[] input)
    {
        var h = BootstrapHello.Decode(input);
        return h.Address.Length > 0;
    }

    public override bool IsRejection(Exception e) => e is InvalidDataException;
}

/// <summary>The server descriptor a client decodes at connect: <see cref="InvalidDataException"/>.</summary>
internal sealed class DescriptorTarget : FuzzTarget
{
    public override string Name => "descriptor";

    public override string Contract => "ServerDescriptor.Decode throws InvalidDataException";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var d = new ServerDescriptor(new SlotLayout(16, 64), 7, 64, 1024, 9, 4096, 4096, [4096, 512], 0, 100);
        return
        [
            d.Encode(123_456_789),
            (d with { OffloadTarget = new OffloadTargetEndpoint("127.0.0.1", 4420, "nqn.2024-01.io.scalio:offload"), DeviceLbaSizes = [4096] }).Encode(987_654_321),
            (d with { Layout = new SlotLayout(32, 1000, 4), PageSize = 512, DeviceLbaSizes = [512, 512, 512] }).Encode(1),
        ];
    }

    public override bool Decode(byte[] input)
    {
        var d = ServerDescriptor.Decode(input, 1_000, 2_000);
        // The server clock read 0 before the exchange (at 1,500 here); anything later is an arithmetic overflow.
        if (d.ClockBase > 1_500) throw new InvalidOperationException($"clock base {d.ClockBase} after the exchange (overflow)");
        return d.DeviceLbaSizes.Length > 0;
    }

    public override bool IsRejection(Exception e) => e is InvalidDataException;
}

/// <summary>A history file (JSON Lines): <see cref="HistoryFormatException"/> naming the line.</summary>
internal sealed class HistoryTarget : FuzzTarget
{
    public override string Name => "history";

    public override string Contract => "HistoryJson.Read throws HistoryFormatException";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var list = new List<byte[]>();
        for (int s = 0; s < 4; s++)
        {
            var ops = new List<HistoryOperation>();
            long t = r.Next(1000);
            for (int i = 0; i < 6; i++)
            {
                string key = s == 3 ? HistoryText.FromBytes(FuzzTargets.Bytes(r, 16)) : "user" + r.Next(100);
                var kind = (OperationKind)r.Next(3);
                string? value = kind == OperationKind.Put ? (r.Next(2) == 0 ? "v" + r.Next(1000) : HistoryText.FromBytes(FuzzTargets.Bytes(r, 8))) : kind == OperationKind.Get && r.Next(2) == 0 ? "v1" : null;
                long start = t += r.Next(1, 100);
                long? end = r.Next(5) == 0 ? null : start + r.Next(1, 50);
                ops.Add(new HistoryOperation(r.Next(4), kind, key, value, start, end));
            }
            using var ms = new MemoryStream();
            HistoryJson.Write(ms, ops);
            list.Add(ms.ToArray());
        }
        return list;
    }

    public override bool Decode(byte[] input)
    {
        using var ms = new MemoryStream(input, writable: false);
        var ops = HistoryJson.Read(ms);
        foreach (var op in ops)
        {
            HistoryText.ToBytes(op.Key); // what the checker does with every key and value
            if (op.Value is { } v) HistoryText.ToBytes(v);
        }
        return true;
    }

    public override bool IsRejection(Exception e) => e is HistoryFormatException;
}

/// <summary>
/// An on-disk bucket block as a reader (client or server) sees it: <see cref="BucketBlock.Verify"/>, then
/// <see cref="BucketBlock.Find"/> and <see cref="BucketBlock.NextPointer"/> report Corrupt or false, never throw; the
/// server's <see cref="BucketBlock.Rewrite"/> of a verified block throws <see cref="InvalidDataException"/>.
/// </summary>
internal sealed class BucketBlockTarget : FuzzTarget
{
    private const int Page = 4096;
    private readonly byte[][] _keys = Enumerable.Range(0, 6).Select(i => System.Text.Encoding.ASCII.GetBytes($"user{i:D12}")).ToArray();
    private readonly byte[] _target = new byte[Page];

    public override string Name => "bucket-block";

    public override string Contract => "Find reports Corrupt/Stale, NextPointer stops, Rewrite throws InvalidDataException";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var list = new List<byte[]>();
        for (int n = 0; n <= _keys.Length; n++)
        {
            var block = new byte[Page];
            var tmp = new byte[Page];
            BucketBlock.Rewrite([], block, 5, 100, _keys[0], FuzzTargets.Bytes(r, 64), remove: n == 0);
            for (int i = 1; i < n; i++)
            {
                bool indirect = i % 3 == 0;
                byte[] value = indirect ? new byte[ValuePointer.Size] : FuzzTargets.Bytes(r, r.Next(0, 200));
                if (indirect) new ValuePointer((ulong)r.Next(3, 60), r.Next(1, 4), (ulong)r.NextInt64(), r.Next(1000, 3000), (uint)r.Next()).Write(value);
                BucketBlock.Rewrite(block, tmp, 5, (ulong)(100 + i), _keys[i], value, remove: false, indirect);
                (block, tmp) = (tmp, block);
            }
            list.Add(block);
        }
        // A block filled to its last byte: a record count one too high must not read past the page.
        var full = new byte[Page];
        var next = new byte[Page];
        for (int i = 0; i < 19; i++)
        {
            byte[] key = System.Text.Encoding.ASCII.GetBytes($"full{i:D12}");
            BucketBlock.Rewrite(i == 0 ? [] : full, next, 5, (ulong)(200 + i), key, FuzzTargets.Bytes(r, i < 18 ? 200 : 84), remove: false);
            (full, next) = (next, full);
        }
        list.Add(full);
        var q = new byte[Page];
        BucketBlock.WriteQuarantine(q, 5, 7);
        list.Add(q);
        return list;
    }

    public override void Reseal(byte[] input)
    {
        if (input.Length < BucketBlock.HeaderSize) return;
        uint used = BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(24));
        if (used >= 8 && used <= input.Length) BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan(4), (uint)XxHash3.HashToUInt64(input.AsSpan(8, (int)used - 8)));
    }

    public override bool Decode(byte[] input)
    {
        bool verified = BucketBlock.Verify(input);
        ulong sequence = BucketBlock.SequenceOf(input);
        uint bucket = input.Length >= 12 ? BucketBlock.BucketOf(input) : 0;
        foreach (var key in _keys)
        {
            var found = BucketBlock.Find(input, bucket, sequence, key, out var value);
            if (found is BlockLookup.Found or BlockLookup.Indirect && !input.AsSpan().Overlaps(value) && !value.IsEmpty) throw new InvalidOperationException("a value outside the block");
            if (found == BlockLookup.Indirect) _ = ValuePointer.Read(value);
        }
        if (!verified) return false;
        int cursor = 0, pointers = 0;
        while (BucketBlock.NextPointer(input, ref cursor, out _))
            if (++pointers > input.Length) throw new InvalidOperationException("NextPointer does not advance");
        // The server rewrites a verified block it read back (read-modify-write of a batch): a malformed one is refused.
        if (input.Length == Page) BucketBlock.Rewrite(input, _target, bucket, sequence + 1, _keys[0], "fuzz"u8, remove: false);
        return true;
    }

    public override bool IsRejection(Exception e) => e is InvalidDataException;
}

/// <summary>A value-log record read through a pointer: <see cref="ValueRecord.Check"/> reports Stale or Corrupt, never throws.</summary>
internal sealed class ValueRecordTarget : FuzzTarget
{
    private const int Page = 512;

    public override string Name => "value-record";

    public override string Contract => "ValueRecord.Check reports Stale/Corrupt";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var list = new List<byte[]>();
        foreach (int vl in new[] { 100, 480, 1000, 1400 })
        {
            int pages = ValueRecord.PagesFor(16, vl, Page);
            var b = new byte[pages * Page];
            ValueRecord.Write(b, 3, (ulong)r.NextInt64(), "user000000000001"u8, FuzzTargets.Bytes(r, vl), pages);
            list.Add(b);
        }
        var pad = new byte[Page];
        ValueRecord.WritePad(pad, 77);
        list.Add(pad);
        return list;
    }

    public override void Reseal(byte[] input)
    {
        if (input.Length < ValueRecord.HeaderSize) return;
        long used = ValueRecord.HeaderSize + (long)BinaryPrimitives.ReadUInt16LittleEndian(input.AsSpan(12)) + BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(24));
        if (used <= input.Length) BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan(4), (uint)XxHash3.HashToUInt64(input.AsSpan(8, (int)used - 8)));
    }

    public override bool Decode(byte[] input)
    {
        // The pointer a block would hold for this record, read from its own header, so mutations get past the sequence check.
        var ptr = input.Length >= ValueRecord.HeaderSize
            ? new ValuePointer(0, ValueRecord.PagesOf(input), BucketBlock.SequenceOf(input), (int)BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(24)), ValueRecord.ChecksumOf(input))
            : default;
        var check = ValueRecord.Check(input, 3, in ptr, "user000000000001"u8, out var value);
        if (check == ValueCheck.Ok && !value.IsEmpty && !input.AsSpan().Overlaps(value)) throw new InvalidOperationException("a value outside the record");
        return check == ValueCheck.Ok;
    }
}

/// <summary>NVMe/TCP PDU headers (target and host side): every generated <c>TryReadHeader</c> returns an error code and offset, never throws.</summary>
internal sealed class PduTarget : FuzzTarget
{
    public override string Name => "nvmetcp-pdu";

    public override string Contract => "TryReadHeader returns NvmeTcpHeaderError";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        static byte[] H(int hlen, int total, Action<byte[]> write)
        {
            var b = new byte[total];
            write(b);
            return b;
        }
        return
        [
            H(128, 128, b => new ICReqPdu { PduLength = 128, HeaderDigestEnable = true }.WriteHeader(b)),
            H(128, 128, b => new ICRespPdu { PduLength = 128, MaxH2CData = 131072 }.WriteHeader(b)),
            H(24, 24 + 72, b => new H2CTermReqPdu { PduDataOffset = 24, PduLength = 96, Fes = 1, Fei = 2 }.WriteHeader(b)),
            H(24, 24 + 72, b => new C2HTermReqPdu { PduDataOffset = 24, PduLength = 96, Fes = 2 }.WriteHeader(b)),
            H(72, 72 + 512, b => new CapsuleCmdPdu { PduDataOffset = 72, PduLength = 72 + 512 }.WriteHeader(b)),
            H(72, 76, b => new CapsuleCmdPdu { Flags = NvmeTcpFlags.HeaderDigest, PduLength = 76 }.WriteHeader(b)),
            H(24, 24, b => new CapsuleRespPdu { PduLength = 24 }.WriteHeader(b)),
            H(24, 24 + 512, b => new H2CDataPdu { Flags = NvmeTcpFlags.LastPdu, PduDataOffset = 24, PduLength = 536, CommandCid = 1, TransferTag = 1, DataLength = 512 }.WriteHeader(b)),
            H(24, 24 + 4096, b => new C2HDataPdu { Flags = NvmeTcpFlags.LastPdu | NvmeTcpFlags.Success, PduDataOffset = 24, PduLength = 24 + 4096, CommandCid = 3, DataLength = 4096 }.WriteHeader(b)),
            H(24, 24, b => new R2TPdu { PduLength = 24, CommandCid = 2, TransferTag = 1, R2TLength = 4096 }.WriteHeader(b)),
        ];
    }

    public override bool Decode(byte[] input)
    {
        bool any = false;
        for (int digests = 0; digests < 4; digests++)
        {
            bool hd = (digests & 1) != 0, dd = (digests & 2) != 0;
            int bad = 0;
            any |= Ok(ICReqPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(ICRespPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(H2CTermReqPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(C2HTermReqPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(CapsuleCmdPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(CapsuleRespPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(H2CDataPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(C2HDataPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
            any |= Ok(R2TPdu.TryReadHeader(input, hd, dd, out _, out bad), bad, input);
        }
        return any;
    }

    /// <summary>True when valid; an error's offset must lie within the header (it becomes the FEI of a termination request).</summary>
    private static bool Ok(NvmeTcpHeaderError error, int offset, byte[] input)
    {
        if (error != NvmeTcpHeaderError.None && (offset < 0 || offset > Math.Max(input.Length, 128)))
            throw new InvalidOperationException($"error offset {offset} outside the header");
        return error == NvmeTcpHeaderError.None;
    }
}

/// <summary>
/// The NVMe/TCP target's connection state machine (the approach of tests/Scalio.Tests/NvmeTcp/FuzzTests.cs): the
/// input is the whole byte stream a host sends on one connection to an in-process target on 127.0.0.1 (ICReq, then
/// Connect, Keep Alive, H2CData ...), after which the host closes its sending side. The target must answer, send a
/// C2HTermReq or close, within 3 s, and never end a connection on an unexpected exception (<see cref="NvmeTcpTarget.ConnectionFaults"/>).
/// </summary>
internal sealed class TargetStreamTarget : FuzzTarget
{
    private const string Nqn = "nqn.2024-01.io.scalio:fuzz";
    private readonly RamNamespace _ns = new(1, 512, 256);
    private readonly NvmeTcpTarget _target;
    private readonly byte[] _buffer = new byte[64 * 1024];

    public TargetStreamTarget()
    {
        _target = new NvmeTcpTarget(new NvmeTcpTargetOptions
        {
            Endpoint = new IPEndPoint(IPAddress.Loopback, 0),
            SubsystemNqn = Nqn,
            PduTimeout = TimeSpan.FromMilliseconds(500),
            IdleTimeout = TimeSpan.FromSeconds(2),
            InCapsuleDataSize = 8192,
            MaxH2CData = 8192,
        }, [_ns]);
        _target.Start();
    }

    public override string Name => "nvmetcp-target";

    public override string Contract => "C2HTermReq or close, never a connection fault or silence";

    public override IReadOnlyList<byte[]> Seeds(Random r)
    {
        var icreq = new byte[128];
        new ICReqPdu { PduLength = 128 }.WriteHeader(icreq);
        var icreqDigests = new byte[128];
        new ICReqPdu { PduLength = 128, HeaderDigestEnable = true, DataDigestEnable = true }.WriteHeader(icreqDigests);
        var connect = new byte[72 + 1024];
        new CapsuleCmdPdu { PduDataOffset = 72, PduLength = (uint)connect.Length }.WriteHeader(connect);
        new NvmeConnectCommand { CommandId = 1, Flags = 0x40, SglIdentifier = 0x01, SglLength = 1024, QueueId = 0, SubmissionQueueSize = 31 }.WriteTo(connect.AsSpan(8));
        BinaryPrimitives.WriteUInt16LittleEndian(connect.AsSpan(72 + 16), 0xFFFF);
        System.Text.Encoding.ASCII.GetBytes(Nqn).CopyTo(connect, 72 + 256);
        System.Text.Encoding.ASCII.GetBytes("nqn.2014-08.org.nvmexpress:uuid:fuzz").CopyTo(connect, 72 + 512);
        var keepAlive = new byte[72];
        new CapsuleCmdPdu { PduLength = 72 }.WriteHeader(keepAlive);
        new NvmeKeepAliveCommand { CommandId = 2, Flags = 0x40 }.WriteTo(keepAlive.AsSpan(8));
        var h2c = new byte[24 + 512];
        r.NextBytes(h2c);
        new H2CDataPdu { Flags = NvmeTcpFlags.LastPdu, PduDataOffset = 24, PduLength = (uint)h2c.Length, CommandCid = 1, TransferTag = 1, DataLength = 512 }.WriteHeader(h2c);
        var capsule = new byte[72 + 256];
        r.NextBytes(capsule);
        new CapsuleCmdPdu { PduDataOffset = 72, PduLength = (uint)capsule.Length }.WriteHeader(capsule);
        return
        [
            icreq,
            [.. icreq, .. connect],
            [.. icreq, .. connect, .. keepAlive],
            [.. icreq, .. connect, .. h2c],
            [.. icreq, .. connect, .. capsule],
            [.. icreqDigests],
        ];
    }

    public override bool Decode(byte[] input)
    {
        long faults = _target.ConnectionFaults;
        bool terminated = false;
        int total = 0;
        // Linger 0: the close is a reset, so 10^5 connections leave no TIME_WAIT behind on either side.
        using (var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, ReceiveTimeout = 3000, LingerState = new LingerOption(true, 0) })
        {
            s.Connect(_target.Endpoint);
            try
            {
                if (input.Length > 0) s.Send(input);
                s.Shutdown(SocketShutdown.Send);
                int n;
                while ((n = s.Receive(_buffer, total, _buffer.Length - total, SocketFlags.None)) > 0)
                {
                    total += n;
                    if (total == _buffer.Length) throw new InvalidOperationException("the target sent over 64 KiB for one connection");
                }
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
            {
                throw new TimeoutException("the target neither answered nor closed within 3 s");
            }
            catch (SocketException)
            {
                // reset by the target: it refused the stream
            }
        }
        if (_target.ConnectionFaults != faults) throw new InvalidOperationException("target connection fault: " + _target.LastConnectionFault);
        // Walk the PDUs the target sent: a C2HTermReq means the stream was refused.
        for (int at = 0; at + 8 <= total;)
        {
            if (_buffer[at] == NvmeTcpPduType.C2HTermReq) terminated = true;
            uint plen = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(at + 4));
            if (plen < 8) break;
            at += (int)Math.Min(plen, int.MaxValue);
        }
        return total > 0 && !terminated;
    }

    public override void Dispose()
    {
        _target.Dispose();
        _ns.Dispose();
        base.Dispose();
    }
}

/// <summary>
/// A device's recovery (<c>DeviceLog.Open</c> through <c>SsdStore</c>) over a RAM namespace whose superblock, checkpoint
/// or log pages were replaced by the input: <see cref="InvalidDataException"/> or <see cref="IOException"/>, never
/// another exception; a recovered store then serves reads and a write (statuses, not exceptions).
/// </summary>
internal sealed class RecoveryTarget : FuzzTarget
{
    /// <summary>Which pages the input replaces.</summary>
    public enum Region { Superblock, Checkpoint, Log }

    private const int Page = 512, Pages = 64, Buckets = 8, ValuePages = 3;
    private const int CheckpointPages = 1; // (64 + 16 x 8 buckets) bytes in one 512-byte page
    private readonly Region _region;
    private readonly LoopbackFabric _fabric = new();
    private readonly RamNamespace _ns = new(1, Page, Pages);
    private readonly byte[] _image;
    private readonly List<(byte[] Key, byte[] Value)> _records = [];

    public RecoveryTarget(string name, Region region)
    {
        Name = name;
        _region = region;
        // The base image: a formatted store with inline and value-log records, some rewritten, one deleted, then a crash (no clean checkpoint).
        var r = new Random(16);
        using (var domain = _fabric.CreateDomain())
        using (var store = new SsdStore(domain, [_ns], Buckets, Page, batchLimit: 1, valuePages: ValuePages))
        {
            using var batch = new WriteBatch(1, 16, 1400);
            for (int i = 0; i < 12; i++)
            {
                byte[] key = System.Text.Encoding.ASCII.GetBytes($"user{i % 9:D12}");
                byte[] value = FuzzTargets.Bytes(r, i % 3 == 0 ? 1000 : 64);
                batch.Clear();
                batch.TryAdd(new KeyHash(key).SsdBucket(Buckets), key, value, remove: i == 10, 0);
                store.Commit(0, batch);
                _records.Add((key, value));
            }
        }
        _image = new byte[Pages * Page];
        if (!_ns.Read(0, Pages, _image).IsSuccess) throw new IOException("cannot read the base image");
    }

    public override string Name { get; }

    public override string Contract => "recovery throws InvalidDataException or IOException";

    private (int Offset, int Length) Span => _region switch
    {
        Region.Superblock => (0, Page),
        Region.Checkpoint => (Page, 2 * CheckpointPages * Page),
        _ => ((1 + 2 * CheckpointPages) * Page, (Pages - 1 - 2 * CheckpointPages) * Page),
    };

    public override IReadOnlyList<byte[]> Seeds(Random r) => [_image.AsSpan(Span.Offset, Span.Length).ToArray()];

    public override void Reseal(byte[] input)
    {
        switch (_region)
        {
            case Region.Superblock when input.Length >= 128:
                BinaryPrimitives.WriteUInt64LittleEndian(input.AsSpan(8), XxHash3.HashToUInt64(input.AsSpan(16, 112)));
                break;
            case Region.Checkpoint:
                for (int slot = 0; slot + Page <= input.Length; slot += Page)
                    BinaryPrimitives.WriteUInt64LittleEndian(input.AsSpan(slot + 8), XxHash3.HashToUInt64(input.AsSpan(slot + 16, 64 + 16 * Buckets - 16)));
                break;
            case Region.Log:
                for (int p = 0; p + Page <= input.Length; p += Page)
                {
                    var page = input.AsSpan(p);
                    if (BinaryPrimitives.ReadUInt32LittleEndian(page) == BucketBlock.Magic)
                    {
                        uint used = BinaryPrimitives.ReadUInt32LittleEndian(page[24..]);
                        if (used >= 8 && used <= Page) BinaryPrimitives.WriteUInt32LittleEndian(page[4..], (uint)XxHash3.HashToUInt64(page[8..(int)used]));
                    }
                    else if (ValueRecord.HasMagic(page))
                    {
                        long used = ValueRecord.HeaderSize + (long)BinaryPrimitives.ReadUInt16LittleEndian(page[12..]) + BinaryPrimitives.ReadUInt32LittleEndian(page[24..]);
                        if (used <= page.Length) BinaryPrimitives.WriteUInt32LittleEndian(page[4..], (uint)XxHash3.HashToUInt64(page[8..(int)used]));
                    }
                }
                break;
        }
    }

    public override bool Decode(byte[] input)
    {
        var image = (byte[])_image.Clone();
        var (offset, length) = Span;
        input.AsSpan(0, Math.Min(input.Length, length)).CopyTo(image.AsSpan(offset)); // a short input leaves the rest as it was
        if (!_ns.Write(0, Pages, image, fua: true).IsSuccess) throw new IOException("cannot write the image");
        using var domain = _fabric.CreateDomain();
        using var store = new SsdStore(domain, [_ns], Buckets, Page, batchLimit: 1, valuePages: ValuePages);
        var scratch = new byte[Page];
        foreach (var (key, _) in _records)
        {
            var st = store.Read(new KeyHash(key), key, scratch, out _);
            // Timeout: the index names a page holding another block and 64 re-reads did not change that (bounded, reported).
            if (st is not (OpStatus.Ok or OpStatus.NotFound or OpStatus.Corrupt or OpStatus.IoError or OpStatus.Timeout)) throw new InvalidOperationException($"read status {st}");
        }
        using var batch = new WriteBatch(1, 16, 1400);
        byte[] k = _records[0].Key;
        batch.TryAdd(new KeyHash(k).SsdBucket(Buckets), k, "after recovery"u8, remove: false, 0);
        store.Commit(0, batch);
        return true;
    }

    public override bool IsRejection(Exception e) => e is InvalidDataException or IOException;

    public override void Dispose()
    {
        _ns.Dispose();
        base.Dispose();
    }
}
