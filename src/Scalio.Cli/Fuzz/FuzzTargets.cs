using Scalio.Checking;

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
