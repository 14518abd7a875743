using System.CommandLine;
using Scalio.Checking;
using Scalio.Cluster;
using Scalio.Fast.Remote;
using Scalio.Fast;

namespace Scalio.Cli;

/// <summary><c>scalio cluster verify --history FILE...</c>: reads back, through the cluster map, every key the histories
/// acknowledged a write of, and prints <c>acknowledged writes lost: N</c> (keys whose value is not one a write that can
/// still be last left, see <see cref="LostWrites"/>); the reads are written as a history too, for <c>scalio check --verify</c>.</summary>
internal static class ClusterVerify
{
    public static Command Create()
    {
        var etcd = ClusterCommand.EtcdOption(true);
        var name = ClusterCommand.NameOption();
        var histories = new Option<string[]>("--history") { Description = "History files of the clients (scalio ycsb --cluster --history)", Required = true, AllowMultipleArgumentsPerToken = true };
        var output = new Option<string?>("--final-history") { Description = "Write the read-back as a history file (check it with the clients' histories)" };
        var cmd = new Command("verify", "Read back every key with an acknowledged write in the histories and print 'acknowledged writes lost: N' (exit 0 only when N is 0)") { etcd, name, histories, output };
        cmd.SetAction(parse =>
        {
            using var c = ClusterCommand.Open(parse.GetValue(etcd)!, parse.GetValue(name)!);
            if (c is null) return 2;
            List<HistoryOperation> ops = [];
            try
            {
                foreach (string f in parse.GetValue(histories)!) ops.AddRange(HistoryJson.ReadFile(f));
            }
            catch (Exception e) when (e is IOException or HistoryFormatException or UnauthorizedAccessException)
            {
                return CliErrors.Fail($"cluster verify: {CliErrors.OneLine(e)}");
            }
            try
            {
                return Run(c, ops, parse.GetValue(output));
            }
            catch (Exception e) when (e is Grpc.Core.RpcException or InvalidDataException or InvalidOperationException || RemoteScalioStore.IsTransient(e))
            {
                return CliErrors.Fail($"cluster verify: {CliErrors.OneLine(e)}");
            }
        });
        return cmd;
    }

    private static int Run(EtcdCluster etcd, List<HistoryOperation> ops, string? output)
    {
        var keys = LostWrites.AcknowledgedKeys(ops);
        using var store = ClusterStore.Connect(etcd);
        using var client = store.OpenClient();
        var recorder = new HistoryRecorder(1, Math.Max(1, keys.Count), 128, epochTimestamp: 0);
        var rec = recorder.Client(0);
        var finals = new Dictionary<string, string?>(StringComparer.Ordinal);
        var buffer = new byte[64 * 1024];
        int failed = 0;
        foreach (string key in keys)
        {
            byte[] k = HistoryText.ToBytes(key);
            int op = rec.BeginGet(k);
            var st = client.Get(k, buffer, out int n);
            if (st == OpStatus.Ok)
            {
                rec.CompleteGet(op, buffer.AsSpan(0, n));
                finals[key] = HistoryText.FromBytes(buffer.AsSpan(0, n));
            }
            else if (st == OpStatus.NotFound)
            {
                rec.CompleteGetNotFound(op);
                finals[key] = null;
            }
            else
            {
                rec.Discard(op);
                failed++;
                CliErrors.Report($"cluster verify: reading key '{key}' failed: {st}");
            }
        }
        if (output is not null) HistoryJson.WriteFile(output, recorder.ToOperations());
        if (failed > 0) return 1;
        var lost = LostWrites.Find(ops, finals);
        int writes = ops.Count(o => o.Kind != OperationKind.Get && o.IsComplete);
        Console.WriteLine($"cluster verify: map {store.Map}; {writes:N0} acknowledged writes of {keys.Count:N0} keys; every key read back");
        foreach (string key in lost.Take(10)) Console.WriteLine($"lost: key '{key}' reads {finals[key] ?? "not found"}, which no write that can be last left");
        Console.WriteLine($"acknowledged writes lost: {lost.Count}");
        return lost.Count == 0 ? 0 : 1;
    }
}
