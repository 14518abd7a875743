using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Scalio.Tests.Interop;

/// <summary>
/// A Linux guest under QEMU (TCG) serving the kernel NVMe/TCP target (nvmet + nvmet-tcp) on a 64 MiB RAM disk,
/// started by <c>tests/interop/nvmet-guest.sh run</c> and reachable at 127.0.0.1:<see cref="Port"/>.
/// The guest boots on the first <see cref="EnsureStarted"/> (so skipped tests never boot it) and QEMU is stopped on
/// <see cref="Dispose"/>; if the test process dies, the script sees its standard input close and stops QEMU itself.
/// </summary>
public sealed partial class NvmetGuest : IDisposable
{
    /// <summary>How long the script may take to install what is missing, build the guest and see it ready.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(240);

    private const string ScriptRelativePath = "tests/interop/nvmet-guest.sh";
    private readonly object _gate = new();
    private readonly StringBuilder _stderr = new();
    private Process? _process;
    private Exception? _startFailure;
    private bool _disposed;

    /// <summary>Host port forwarded to the guest's 4420.</summary>
    public int Port { get; private set; }

    /// <summary>The NQN of the subsystem the guest exports (namespace 1, allow any host).</summary>
    public string SubsystemNqn { get; private set; } = "";

    /// <summary>Time from starting the script to the guest's ready line.</summary>
    public TimeSpan StartTime { get; private set; }

    /// <summary>
    /// Why the interop tests cannot run on this machine, or null if they can. Only a missing QEMU that cannot be
    /// installed (not root, or no apt-get) and a non-Linux host count; everything else is a failure of the test.
    /// </summary>
    public static string? WhyUnavailable()
    {
        if (!OperatingSystem.IsLinux())
            return "the Linux nvmet interop test needs a Linux host (QEMU + a Debian kernel package)";
        if (FindOnPath("qemu-system-x86_64") is not null && FindOnPath("modprobe") is not null)
            return null;
        if (Environment.IsPrivilegedProcess && FindOnPath("apt-get") is not null)
            return null; // the script installs qemu-system-x86 and kmod itself
        return "QEMU (qemu-system-x86_64) or kmod is not installed and cannot be installed here (needs root and "
            + "apt-get): apt-get install --no-install-recommends qemu-system-x86 kmod";
    }

    /// <summary>Boots the guest if it is not running yet; throws with the script's output if it cannot.</summary>
    public void EnsureStarted()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_startFailure is not null)
                throw new InvalidOperationException("the nvmet guest failed to start earlier", _startFailure);
            if (_process is not null)
                return;
            try
            {
                Start();
            }
            catch (Exception e)
            {
                _startFailure = e;
                StopProcess();
                throw;
            }
        }
    }

    /// <summary>What the script wrote to stderr so far (progress, QEMU's pid, the console log's path).</summary>
    public string ScriptLog()
    {
        lock (_stderr)
            return _stderr.ToString();
    }

    /// <summary>The last <paramref name="lines"/> lines of the guest's serial console (kernel and nvmet messages).</summary>
    public string ConsoleTail(int lines = 40)
    {
        Match m = ConsolePathPattern().Match(ScriptLog());
        if (!m.Success)
            return "(no console log path reported)";
        string path = m.Groups[1].Value;
        try
        {
            string[] all = File.ReadAllLines(path);
            return string.Join('\n', all.AsSpan(Math.Max(0, all.Length - lines)).ToArray());
        }
        catch (IOException e)
        {
            return $"(console log {path} unreadable: {e.Message})";
        }
    }

    /// <summary>Stops QEMU: closes the script's stdin (it stops QEMU and cleans up), then kills what is left.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            StopProcess();
        }
    }

    private void Start()
    {
        string script = FindScript();
        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add("run");
        psi.ArgumentList.Add("--stdin-lifetime");
        psi.ArgumentList.Add("--timeout");
        psi.ArgumentList.Add(((int)StartTimeout.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture));

        var clock = Stopwatch.StartNew();
        var process = new Process { StartInfo = psi };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (_stderr)
                _stderr.AppendLine(e.Data);
        };
        process.Start();
        _process = process;
        process.BeginErrorReadLine();

        // The script bounds its own wait; this bound covers a script that hangs anyway.
        using var cts = new CancellationTokenSource(StartTimeout + TimeSpan.FromSeconds(30));
        while (true)
        {
            string? line;
            try
            {
                line = process.StandardOutput.ReadLineAsync(cts.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"nvmet-guest.sh printed no ready line within {StartTimeout.TotalSeconds + 30} s:\n{ScriptLog()}");
            }
            if (line is null)
            {
                process.WaitForExit(5000);
                string code = process.HasExited ? process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?";
                throw new InvalidOperationException($"nvmet-guest.sh exited (code {code}) before the target was ready:\n{ScriptLog()}");
            }
            Match m = ReadyPattern().Match(line);
            if (!m.Success)
                continue;
            Port = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            SubsystemNqn = m.Groups[2].Value;
            StartTime = clock.Elapsed;
            return;
        }
    }

    private void StopProcess()
    {
        Process? p = _process;
        _process = null;
        if (p is null)
            return;
        try
        {
            if (!p.HasExited)
            {
                try
                {
                    p.StandardInput.Close();
                }
                catch (IOException)
                {
                    // The pipe is already gone; the kill below still applies.
                }
                if (!p.WaitForExit(10_000))
                    p.Kill(entireProcessTree: true);
                p.WaitForExit(5_000);
            }
        }
        finally
        {
            p.Dispose();
        }
    }

    private static string FindScript([System.Runtime.CompilerServices.CallerFilePath] string sourceFile = "")
    {
        // The build output may live outside the repository (--artifacts-path), so also look above the working
        // directory and above this source file's compile-time path.
        string?[] starts = [AppContext.BaseDirectory, Environment.CurrentDirectory, Path.GetDirectoryName(sourceFile)];
        foreach (string? start in starts)
        {
            if (string.IsNullOrEmpty(start) || !Directory.Exists(start))
                continue;
            for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, ScriptRelativePath);
                if (File.Exists(candidate))
                    return candidate;
            }
        }
        throw new FileNotFoundException(
            $"{ScriptRelativePath} not found above {AppContext.BaseDirectory}, {Environment.CurrentDirectory} or {sourceFile}");
    }

    private static string? FindOnPath(string name)
    {
        string path = (Environment.GetEnvironmentVariable("PATH") ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin";
        foreach (string dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    [GeneratedRegex(@"^ready (\d+) (\S+)$")]
    private static partial Regex ReadyPattern();

    [GeneratedRegex(@"console (\S+)$", RegexOptions.Multiline)]
    private static partial Regex ConsolePathPattern();
}

/// <summary>The interop test classes share one guest (booted once per test run, stopped when the collection ends).</summary>
[CollectionDefinition(Name)]
public sealed class LinuxNvmetCollection : ICollectionFixture<NvmetGuest>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Linux nvmet guest";
}

/// <summary>
/// A fact that runs against the Linux nvmet guest; skipped, with the reason, only where QEMU is missing and cannot be
/// installed (decided when tests are discovered: xunit 2 has no skip from inside a running test).
/// </summary>
public sealed class LinuxNvmetFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when <see cref="NvmetGuest.WhyUnavailable"/> gives a reason.</summary>
    public LinuxNvmetFactAttribute()
    {
        string? reason = NvmetGuest.WhyUnavailable();
        if (reason is not null)
            Skip = reason;
    }
}
