using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Scalio.Cli;
using Scalio.Fast;
using Scalio.Fast.Cache;
using Scalio.Fast.Storage;
using Scalio.Tests.Storage;
using Scalio.Verbs;
using Scalio.Nvme;
using Scalio.Offload;
using static Scalio.Tests.Storage.StorageTestKit;

namespace Scalio.Tests.OffloadTcp;

/// <summary>
/// <c>scalio target</c> as a real child process over the files of a store open in this process (the server), read
/// by this process through NVMe/TCP; stopped with SIGTERM. The child's output is read with events and every wait is
/// bounded; the child is killed in <c>finally</c> whatever happens.
/// </summary>
[Collection(nameof(OffloadTcpCollection))]
public sealed partial class TargetProcessTests
{
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private const int SigTerm = 15;

    private static ProcessStartInfo Scalio(params string[] args) => global::Scalio.Tests.Remote.ScalioProcess.StartInfo(args);

    [Fact]
    public async Task Scalio_target_serves_the_servers_files_prints_ready_and_stops_on_SIGTERM()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        using var store = new ScalioStore(new ScalioStoreOptions { ExpectedRecords = 1000, Devices = 2, DataDirectory = dir.Path, BatchSize = 1 });
        using (var c = store.OpenClient())
        {
            for (int i = 0; i < 50; i++) Assert.Equal(OpStatus.Ok, c.Put(Key($"key{i}"), Value($"v{i}")));
        }

        var lines = new ConcurrentQueue<string>();
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var child = new Process { StartInfo = Scalio("target", "--data-dir", dir.Path, "--listen", "127.0.0.1:0", "--threads", "1"), EnableRaisingEvents = true };
        child.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lines.Enqueue(e.Data);
            if (e.Data.Contains("ready", StringComparison.Ordinal)) ready.TrySetResult(e.Data);
        };
        child.ErrorDataReceived += (_, e) => { if (e.Data is not null) lines.Enqueue("stderr: " + e.Data); };
        child.Exited += (_, _) => exited.TrySetResult();
        try
        {
            Assert.True(child.Start());
            child.BeginOutputReadLine();
            child.BeginErrorReadLine();
            Task first = await Task.WhenAny(ready.Task, exited.Task, Task.Delay(TimeSpan.FromSeconds(30)));
            Assert.True(first == ready.Task, "no ready line within 30 s; output:\n" + string.Join('\n', lines));
            string line = await ready.Task;
            Match m = Regex.Match(line, @"listening on 127\.0\.0\.1:(\d+), subsystem (\S+),");
            Assert.True(m.Success, line);
            int port = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(NvmeTcpOffloadReadPath.DefaultSubsystemNqn, m.Groups[2].Value);
            Assert.Contains("2 namespace(s) read-only", line);

            // This process is the server; the child serves its files; a key's block read from the child holds the value.
            using var path = NvmeTcpOffloadReadPath.Connect("127.0.0.1", port, NvmeTcpOffloadReadPath.DefaultSubsystemNqn,
                new NvmeTcpOffloadReadPathOptions { CommandTimeout = TimeSpan.FromSeconds(5), ConnectTimeout = TimeSpan.FromSeconds(10) });
            using var domain = store.Fabric.CreateDomain();
            using var region = domain.Allocate(8192, MemoryAccess.LocalWrite, 4096);
            var ssd = store.Server.Store;
            foreach (int i in new[] { 0, 17, 49 })
            {
                byte[] key = Key($"key{i}");
                int bucket = new KeyHash(key).SsdBucket(ssd.BucketCount);
                Location loc = ssd.LocationOf(bucket);
                Assert.Equal(NvmeStatus.Success, path.Read((uint)loc.Device + 1, ssd.LbaOf(loc.Device, loc.Page), ssd.LbasPerPage(loc.Device), 4096, region, 0));
                Assert.Equal(BlockLookup.Found, BucketBlock.Find(region.Slice(0, 4096), (uint)bucket, loc.Sequence, key, out ReadOnlySpan<byte> value));
                Assert.Equal($"v{i}", Text(value));
            }

            Assert.Equal(NvmeStatus.InvalidNamespace, path.Read(3, 0, 1, 4096, region, 0));
            path.Dispose();

            Assert.Equal(0, Kill(child.Id, SigTerm));
            Task done = await Task.WhenAny(exited.Task, Task.Delay(TimeSpan.FromSeconds(15)));
            Assert.True(done == exited.Task, "the target did not stop within 15 s of SIGTERM; output:\n" + string.Join('\n', lines));
            if (child.WaitForExit(5000)) child.WaitForExit(); // only the untimed wait drains the asynchronous readers
            Assert.True(child.ExitCode == 0, $"exit code {child.ExitCode}; output:\n" + string.Join('\n', lines));
            string? stopping = lines.FirstOrDefault(l => l.Contains("scalio target: stopping", StringComparison.Ordinal));
            Assert.True(stopping is not null, "no 'stopping' line; output:\n" + string.Join('\n', lines));
            Match served = Regex.Match(stopping, @"(\d+) commands");
            Assert.True(served.Success && int.Parse(served.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 3, stopping);
        }
        finally
        {
            try
            {
                if (!child.HasExited) child.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Never started.
            }
        }
    }

    [Fact]
    public async Task Scalio_target_refuses_a_directory_without_a_store_with_exit_code_2()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDir();
        var output = new ConcurrentQueue<string>();
        using var child = new Process { StartInfo = Scalio("target", "--data-dir", dir.Path, "--listen", "127.0.0.1:0") };
        child.OutputDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        child.ErrorDataReceived += (_, e) => { if (e.Data is not null) output.Enqueue(e.Data); };
        try
        {
            child.Start();
            child.BeginOutputReadLine();
            child.BeginErrorReadLine();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await child.WaitForExitAsync(cts.Token);
            Assert.Equal(2, child.ExitCode);
            Assert.Contains(output, l => l.Contains("holds no store namespace file", StringComparison.Ordinal));
            Assert.Empty(Directory.GetFiles(dir.Path));
        }
        finally
        {
            try
            {
                if (!child.HasExited) child.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
        }
    }
}
