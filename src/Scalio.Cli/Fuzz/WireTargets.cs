using Scalio.Fast.Cache;
using Scalio.Fast;
using Scalio.Fast.Rpc;
using Scalio.Fast.Server;
using Scalio.Verbs;
using Scalio.Verbs.Libfabric;

namespace Scalio.Cli.Fuzz;

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
