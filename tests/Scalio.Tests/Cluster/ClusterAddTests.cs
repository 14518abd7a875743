using System.Diagnostics;
using System.Globalization;
using System.Text;
using Scalio.Cluster;
using Scalio.Fast;
using Scalio.Tests.Remote;
using Scalio.Verbs.Libfabric;
using Xunit.Abstractions;

namespace Scalio.Tests.Cluster;

/// <summary>Skips when libfabric is missing, or etcd outside CI (under CI=true a missing etcd fails the test instead:
/// a real-part test must not pass a check it never made).</summary>
public sealed class EtcdFactAttribute : FactAttribute
{
    /// <summary>Where Debian's etcd-server package puts etcd.</summary>
    public const string Etcd = "/usr/bin/etcd";

    /// <summary>Sets <see cref="FactAttribute.Skip"/> as described.</summary>
    public EtcdFactAttribute()
    {
        if (!LibfabricFabric.IsInstalled(out string reason))
            Skip = "libfabric is not installed (apt-get install libfabric1): " + reason;
        else if (!File.Exists(Etcd) && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = $"etcd is not installed ({Etcd}; apt-get install --no-install-recommends etcd-server)";
    }
}

/// <summary>
/// Issue 17, must-show 2, as a test: a real etcd and 3 real <c>scalio server --cluster</c> processes on 127.0.0.1; a
/// client of this process loads keys and runs a YCSB-A-like mix (half reads, half writes) on 2 threads through
/// <see cref="ClusterStore"/>; a 4th server is added mid-run with <see cref="ClusterAdmin.Add"/>. The add moves at most
/// a third of the keys, no operation fails, every read returns the latest acknowledged write of its key (each key has
/// one writer thread, so that value is known), and afterwards every key reads back its latest value.
/// </summary>
public sealed class ClusterAddTests(ITestOutputHelper output)
{
    private const int Keys = 400;
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(40);

    [EtcdFact]
    public async Task Adding_a_fourth_server_while_clients_run_moves_at_most_a_third_of_the_keys_and_no_client_sees_an_error()
    {
        Assert.True(File.Exists(EtcdFactAttribute.Etcd), $"etcd is not installed ({EtcdFactAttribute.Etcd}); ./test.sh installs etcd-server as root");
        var total = Stopwatch.StartNew();
        string dir = Path.Combine(Path.GetTempPath(), "scalio-cluster-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var servers = new List<ScalioProcess>();
        Process? etcdProcess = null;
        try
        {
            int clientPort = ScalioProcess.FreePort(), peerPort = ScalioProcess.FreePort();
            etcdProcess = StartEtcd(dir, clientPort, peerPort);
            string url = $"etcd://127.0.0.1:{clientPort}";
            using var etcd = new EtcdCluster(url, "test");
            WaitForEtcd(etcd, etcdProcess);

            for (int id = 1; id <= 4; id++)
            {
                var s = new ScalioProcess($"server {id}", "server", "--fabric", "tcp", "--listen", "127.0.0.1:0", "--records", "2000",
                    "--cluster", url, "--cluster-name", "test", "--id", id.ToString(CultureInfo.InvariantCulture));
                servers.Add(s);
                await s.WaitForLineAsync(l => l.StartsWith("cluster: registered", StringComparison.Ordinal), Ready);
                if (id <= 3) ClusterAdmin.Add(etcd, id, TimeSpan.FromSeconds(30));
            }
            Assert.Equal(3, etcd.ReadMap().Map.ActiveCount);

            using var store = ClusterStore.Connect(etcd);
            const int threads = 2;
            var latest = new byte[Keys][];
            long errors = 0, mismatches = 0, reads = 0, writes = 0, retries = 0;
            using (var loader = store.OpenClient())
            {
                for (int k = 0; k < Keys; k++)
                {
                    latest[k] = Value(k, 0);
                    Assert.Equal(OpStatus.Ok, loader.Put(Key(k), latest[k]));
                }
            }
            output.WriteLine($"loaded {Keys} keys at {total.Elapsed.TotalSeconds:F1} s");

            using var stop = new CancellationTokenSource();
            var workers = Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(() =>
            {
                using var c = store.OpenClient();
                var rng = new Random(t + 1);
                var buffer = new byte[64];
                int round = 0;
                while (!stop.IsCancellationRequested)
                {
                    int k = rng.Next(Keys / threads) * threads + t; // this thread's keys only: their latest value is known
                    if (rng.Next(2) == 0)
                    {
                        var st = c.Get(Key(k), buffer, out int n);
                        Interlocked.Increment(ref reads);
                        if (st != OpStatus.Ok) Interlocked.Increment(ref errors);
                        else if (!buffer.AsSpan(0, n).SequenceEqual(latest[k])) Interlocked.Increment(ref mismatches);
                    }
                    else
                    {
                        var v = Value(k, ++round);
                        var st = c.Put(Key(k), v);
                        Interlocked.Increment(ref writes);
                        if (st == OpStatus.Ok) latest[k] = v;
                        else Interlocked.Increment(ref errors);
                    }
                }
                Interlocked.Add(ref retries, c.WrongOwnerRetries);
            }, TaskCreationOptions.LongRunning)).ToArray();

            long Ops() => Interlocked.Read(ref reads) + Interlocked.Read(ref writes);
            // Traffic under the 3-server map first (each thread opens its sessions to the 3 servers on first use).
            await WaitFor(() => Ops() >= 60, TimeSpan.FromSeconds(10));
            long opsBefore = Ops();
            var change = ClusterAdmin.Add(etcd, 4, TimeSpan.FromSeconds(60));
            long opsAtFlip = Ops();
            // Then under the 4-server map, past the new owner's grace (writes to moved keys reach server 4).
            await Task.Delay(ClusterTiming.OwnerGrace);
            await WaitFor(() => Ops() - opsAtFlip >= 60, TimeSpan.FromSeconds(10));
            stop.Cancel();
            await Task.WhenAll(workers);
            long opsAfterAdd = Ops() - opsBefore, opsAfterFlip = Ops() - opsAtFlip;

            string movedLine = string.Create(CultureInfo.InvariantCulture, $"keys moved: {change.Moved} of {change.Scanned} ({change.MovedFraction * 100:F1}%)");
            output.WriteLine(movedLine);
            output.WriteLine($"client: {reads} reads, {writes} writes ({opsBefore} before the add, {opsAfterAdd} from the add on, {opsAfterFlip} after the flip), {errors} errors, {mismatches} stale or wrong reads, {retries} writes retried after WrongOwner; map now {store.Map}; {total.Elapsed.TotalSeconds:F1} s");
            Assert.Equal(Keys, change.Scanned);
            Assert.InRange(change.Moved, 1, Keys / 3);
            Assert.Equal(0, errors);
            Assert.Equal(0, mismatches);
            Assert.True(opsBefore > 0 && opsAfterFlip > 0, "operations must run both before the add and after the map flipped");
            Assert.Equal(change.FinalVersion, store.Map.Version);
            Assert.Equal(4, store.Map.ActiveCount);

            // Every acknowledged write reads back with its latest value, through the new map (moved keys from server 4).
            using var check = store.OpenClient();
            var b = new byte[64];
            int onFour = 0;
            for (int k = 0; k < Keys; k++)
            {
                Assert.Equal(OpStatus.Ok, check.Get(Key(k), b, out int n));
                Assert.True(b.AsSpan(0, n).SequenceEqual(latest[k]), $"key {k} does not read back its latest acknowledged value");
                if (store.Map.ActiveOwnerId(new Scalio.Fast.Cache.KeyHash(Key(k)).Value) == 4) onFour++;
            }
            Assert.Equal(change.Moved, onFour);
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

    private static byte[] Key(int k) => Encoding.ASCII.GetBytes($"user{k:D12}");

    private static byte[] Value(int k, int round)
    {
        var v = new byte[64];
        Encoding.ASCII.GetBytes($"k{k:D6}r{round:D9}").CopyTo(v, 0);
        return v;
    }

    internal static Process StartEtcd(string dir, int clientPort, int peerPort)
    {
        var psi = new ProcessStartInfo(EtcdFactAttribute.Etcd) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in (string[])["--name", "scalio-test", "--data-dir", Path.Combine(dir, "etcd"),
            "--listen-client-urls", $"http://127.0.0.1:{clientPort}", "--advertise-client-urls", $"http://127.0.0.1:{clientPort}",
            "--listen-peer-urls", $"http://127.0.0.1:{peerPort}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peerPort}",
            "--initial-cluster", $"scalio-test=http://127.0.0.1:{peerPort}"]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    internal static void WaitForEtcd(EtcdCluster etcd, Process p)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                etcd.ReadMap(TimeSpan.FromSeconds(1));
                return;
            }
            catch (Exception e) when (e is Grpc.Core.RpcException or OperationCanceledException && sw.Elapsed < TimeSpan.FromSeconds(20) && !p.HasExited) // a deadline can surface as either
            {
                Thread.Sleep(100);
            }
        }
    }
}
