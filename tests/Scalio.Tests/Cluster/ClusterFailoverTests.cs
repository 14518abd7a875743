using System.Diagnostics;
using System.Globalization;
using System.Text;
using Scalio.Checking;
using Scalio.Cluster;
using Scalio.Fast.Remote;
using Scalio.Fast;
using Scalio.Tests.Remote;
using Xunit.Abstractions;

namespace Scalio.Tests.Cluster;

/// <summary>
/// Issue 17, must-show 1, short form: a real etcd and 3 real <c>scalio server --cluster --replicas 3</c> processes on
/// 127.0.0.1; 3 client threads of this process write and read a few keys (all threads on all keys: concurrent writers),
/// recording the history; one server is SIGKILLed mid-run. A survivor removes it from the map once its lease expires,
/// the clients follow, and the run goes on. No operation fails, every key reads back a value a write that can be last
/// left (no acknowledged write lost), and the whole history, read-back included, is linearizable.
/// </summary>
public sealed class ClusterFailoverTests(ITestOutputHelper output)
{
    private const int Keys = 48;
    private const int Threads = 3;
    private const int IdsPerThread = 16;
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(40);

    [EtcdFact]
    public async Task Killing_one_of_three_replicas_mid_run_loses_no_acknowledged_write_and_the_history_stays_linearizable()
    {
        Assert.True(File.Exists(EtcdFactAttribute.Etcd), $"etcd is not installed ({EtcdFactAttribute.Etcd}); ./test.sh installs etcd-server as root");
        var total = Stopwatch.StartNew();
        string dir = Path.Combine(Path.GetTempPath(), "scalio-failover-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var servers = new List<ScalioProcess>();
        Process? etcdProcess = null;
        try
        {
            int clientPort = ScalioProcess.FreePort(), peerPort = ScalioProcess.FreePort();
            etcdProcess = ClusterAddTests.StartEtcd(dir, clientPort, peerPort);
            string url = $"etcd://127.0.0.1:{clientPort}";
            using var etcd = new EtcdCluster(url, "test");
            ClusterAddTests.WaitForEtcd(etcd, etcdProcess);
            for (int id = 1; id <= 3; id++)
                servers.Add(new ScalioProcess($"server {id}", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--records", "1000",
                    "--cluster", url, "--cluster-name", "test", "--id", id.ToString(CultureInfo.InvariantCulture), "--replicas", "3"));
            for (int id = 1; id <= 3; id++)
            {
                await servers[id - 1].WaitForLineAsync(l => l.StartsWith("cluster: registered", StringComparison.Ordinal), Ready);
                ClusterAdmin.Add(etcd, id, TimeSpan.FromSeconds(30));
            }
            Assert.Equal(3, etcd.ReadMap().Map.ActiveCount);
            Assert.Equal(3, etcd.ReadMap().Map.Replicas);
            output.WriteLine($"3 servers up at {total.Elapsed.TotalSeconds:F1} s");

            using var store = ClusterStore.Connect(etcd, new RemoteStoreOptions { ReconnectTimeout = TimeSpan.FromSeconds(1) });
            var history = new HistoryRecorder(Threads * IdsPerThread + 1, 4096, 64, epochTimestamp: 0);
            long ops = 0, failures = 0;
            using var stop = new CancellationTokenSource();
            var workers = Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(() =>
            {
                using var c = store.OpenClient();
                int id = t * IdsPerThread;
                var rec = history.Client(id);
                var rng = new Random(t + 1);
                var buffer = new byte[64];
                for (int seq = 0; !stop.IsCancellationRequested; seq++)
                {
                    byte[] key = Key(rng.Next(Keys));
                    if (rng.Next(2) == 0)
                    {
                        int op = rec.BeginGet(key);
                        var st = c.Get(key, buffer, out int n);
                        if (st == OpStatus.Ok) rec.CompleteGet(op, buffer.AsSpan(0, n));
                        else if (st == OpStatus.NotFound) rec.CompleteGetNotFound(op);
                        else { rec.Discard(op); Interlocked.Increment(ref failures); }
                    }
                    else
                    {
                        byte[] value = Encoding.ASCII.GetBytes($"t{t}s{seq:D7}");
                        int op = rec.BeginPut(key, value);
                        var st = c.Put(key, value);
                        if (st == OpStatus.Ok) rec.Complete(op);
                        else
                        {
                            Interlocked.Increment(ref failures);
                            if (++id >= (t + 1) * IdsPerThread) break; // the op stays without an end, under a fresh id
                            rec = history.Client(id);
                        }
                    }
                    Interlocked.Increment(ref ops);
                }
            }, TaskCreationOptions.LongRunning)).ToArray();

            long Ops() => Interlocked.Read(ref ops);
            await WaitFor(() => Ops() >= 150, TimeSpan.FromSeconds(20));
            long beforeKill = Ops();
            servers[2].Dispose(); // SIGKILL, by its PID
            var killed = Stopwatch.StartNew();
            await WaitFor(() => store.Map.Find(3) is null, TimeSpan.FromSeconds(30));
            var removedAfter = killed.Elapsed;
            long atRemoval = Ops();
            await WaitFor(() => Ops() - atRemoval >= 150, TimeSpan.FromSeconds(20));
            stop.Cancel();
            await Task.WhenAll(workers);
            long afterRemoval = Ops() - atRemoval;

            // Read every key back through the new map (the tail of each 2-server chain), as part of the history.
            var finals = new Dictionary<string, string?>(StringComparer.Ordinal);
            using (var check = store.OpenClient())
            {
                var rec = history.Client(Threads * IdsPerThread);
                var b = new byte[64];
                for (int k = 0; k < Keys; k++)
                {
                    byte[] key = Key(k);
                    int op = rec.BeginGet(key);
                    var st = check.Get(key, b, out int n);
                    Assert.True(st is OpStatus.Ok or OpStatus.NotFound, $"reading key {k} back failed: {st}");
                    if (st == OpStatus.Ok) rec.CompleteGet(op, b.AsSpan(0, n));
                    else rec.CompleteGetNotFound(op);
                    finals[HistoryText.FromBytes(key)] = st == OpStatus.Ok ? HistoryText.FromBytes(b.AsSpan(0, n)) : null;
                }
            }
            var recorded = history.ToOperations();
            var lost = LostWrites.Find(recorded, finals);
            var verdict = LinearizabilityChecker.Check(recorded);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Ops()} operations ({beforeKill} before the kill, {afterRemoval} after the removal); server 3 removed {removedAfter.TotalSeconds:F1} s after the kill; map now {store.Map}; {failures} failed operations; acknowledged writes lost: {lost.Count}; {verdict.Verdict}; {total.Elapsed.TotalSeconds:F1} s"));
            Assert.Null(store.Map.Find(3));
            Assert.Equal(2, store.Map.ActiveCount);
            Assert.Contains(servers.Take(2).SelectMany(s => s.Lines), l => l.Contains("removed server(s) 3", StringComparison.Ordinal));
            Assert.True(beforeKill > 0 && afterRemoval >= 150, "operations must run both before the kill and after the removal");
            Assert.Equal(0, failures);
            Assert.Empty(lost);
            Assert.True(verdict.IsLinearizable, verdict.ToString());
            Assert.True(total.Elapsed < TimeSpan.FromMinutes(2), $"took {total.Elapsed}");
        }
        finally
        {
            foreach (var s in servers)
            {
                output.WriteLine(string.Join('\n', s.Lines.Where(l => l.StartsWith("cluster:", StringComparison.Ordinal) || l.Contains("error", StringComparison.OrdinalIgnoreCase)).Take(20)));
                s.Dispose(); // kills the process by its PID
            }
            if (etcdProcess is not null)
            {
                try
                {
                    if (!etcdProcess.HasExited) etcdProcess.Kill();
                    etcdProcess.WaitForExit(5000);
                }
                catch (InvalidOperationException)
                {
                }
                etcdProcess.Dispose();
            }
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task WaitFor(Func<bool> done, TimeSpan atMost)
    {
        var sw = Stopwatch.StartNew();
        while (!done() && sw.Elapsed < atMost) await Task.Delay(50);
    }

    private static byte[] Key(int k) => Encoding.ASCII.GetBytes($"fo{k:D6}");
}
