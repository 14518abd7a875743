using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Scalio.Cli;

namespace Scalio.Tests.Remote;

/// <summary>
/// A <c>scalio</c> child process (the CLI assembly next to the tests, run with <c>dotnet exec</c>). Output is read
/// asynchronously into a line list (never a blocking read on the child), every wait has a timeout, and
/// <see cref="Dispose"/> kills the process tree if it is still running.
/// </summary>
internal sealed partial class ScalioProcess : IDisposable
{
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private const int SigTerm = 15;

    /// <summary>How to start the <c>scalio</c> CLI next to the tests with <paramref name="args"/>: <c>dotnet exec</c>
    /// with the CLI's runtime config (or the test assembly's), stdin/stdout/stderr redirected.</summary>
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        string cli = typeof(CheckCommand).Assembly.Location;
        string runtimeConfig = Path.ChangeExtension(cli, ".runtimeconfig.json");
        if (!File.Exists(runtimeConfig)) runtimeConfig = Path.ChangeExtension(typeof(ScalioProcess).Assembly.Location, ".runtimeconfig.json");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var psi = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in (string[])["exec", "--runtimeconfig", runtimeConfig, cli, .. args]) psi.ArgumentList.Add(a);
        return psi;
    }

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];

    public ScalioProcess(string name, params string[] args)
    {
        Name = name;
        var psi = StartInfo(args);
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data, "");
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data, "[stderr] ");
        _process.Exited += (_, _) => _exited.TrySetResult();
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the process printed so far (stderr lines prefixed), for assertion messages.</summary>
    public string Output => $"--- {Name} ---\n" + string.Join('\n', _lines);

    public IReadOnlyCollection<string> Lines => _lines;

    private void OnLine(string? line, string prefix)
    {
        if (line is null) return;
        _lines.Enqueue(prefix + line);
        lock (_waiters)
        {
            foreach (var (match, found) in _waiters) if (prefix.Length == 0 && match(line)) found.TrySetResult(line);
        }
    }

    /// <summary>The first stdout line matching <paramref name="match"/>; fails with the output when the process exits first or time runs out.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_waiters)
        {
            foreach (string l in _lines) if (match(l)) return l;
            _waiters.Add((match, found));
        }
        var first = await Task.WhenAny(found.Task, _exited.Task, Task.Delay(timeout));
        if (first == found.Task) return await found.Task;
        if (found.Task.IsCompleted) return await found.Task;
        Assert.Fail(first == _exited.Task
            ? $"{Name} exited ({_process.ExitCode}) before printing the expected line\n{Output}"
            : $"{Name}: no expected line within {timeout.TotalSeconds} s\n{Output}");
        return "";
    }

    /// <summary>Waits for the exit; fails with the output when it takes longer than <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        var first = await Task.WhenAny(_exited.Task, Task.Delay(timeout));
        Assert.True(first == _exited.Task, $"{Name} did not exit within {timeout.TotalSeconds} s\n{Output}");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _process.WaitForExitAsync(cts.Token); // lets the asynchronous readers drain
        return _process.ExitCode;
    }

    /// <summary>Sends SIGTERM (a clean shutdown request).</summary>
    public void Terminate()
    {
        if (!_process.HasExited) Assert.Equal(0, Kill(_process.Id, SigTerm));
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
    }

    /// <summary>A TCP port that was free a moment ago (bind to 0, read it, close).</summary>
    public static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
