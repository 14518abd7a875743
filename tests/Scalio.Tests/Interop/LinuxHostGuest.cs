using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Scalio.Tests.Interop;

/// <summary>
/// One run of the QEMU guest as a Linux NVMe/TCP HOST (<c>tests/interop/nvmet-guest.sh host</c>): the guest's
/// kernel (nvme-tcp) connects to a target listening on 127.0.0.1 of this machine, through a QEMU guestfwd rule whose
/// relay connects to loopback only, runs the steps and powers off. Bounded in time; the script is killed with its
/// process tree (QEMU included) if it overruns.
/// </summary>
internal static partial class LinuxHostGuest
{
    /// <summary>Whole-run bound given to the script (boot is ~10 s under TCG; a cold guest build adds ~20 s).</summary>
    public const int TimeoutSeconds = 300;

    /// <summary>One step's result line: kind, host NQN and the words after them.</summary>
    public sealed record Step(int Number, string Kind, string HostNqn, string[] Result)
    {
        /// <summary>The value of a <c>name=value</c> word of the result, or null.</summary>
        public string? Value(string name) =>
            Result.FirstOrDefault(w => w.StartsWith(name + "=", StringComparison.Ordinal))?[(name.Length + 1)..];

        /// <inheritdoc/>
        public override string ToString() => $"step {Number} {Kind} {HostNqn}: {string.Join(' ', Result)}";
    }

    /// <summary>The steps' results and the script's stderr (console tail included).</summary>
    public sealed record Run(IReadOnlyList<Step> Steps, string Log);

    /// <summary>Boots the guest, runs <paramref name="steps"/> (KIND@HOSTNQN) against 127.0.0.1:<paramref name="port"/>.</summary>
    public static async Task<Run> RunAsync(int port, string subsystemNqn, params string[] steps)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        psi.ArgumentList.Add(FindScript());
        psi.ArgumentList.Add("host");
        psi.ArgumentList.Add("--target-port");
        psi.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        psi.ArgumentList.Add("--subnqn");
        psi.ArgumentList.Add(subsystemNqn);
        psi.ArgumentList.Add("--timeout");
        psi.ArgumentList.Add(TimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (string s in steps)
        {
            psi.ArgumentList.Add("--step");
            psi.ArgumentList.Add(s);
        }

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(TimeoutSeconds + 30));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
            throw new TimeoutException($"nvmet-guest.sh host did not finish within {TimeoutSeconds + 30} s:\n{stderr}");
        }

        p.WaitForExit(); // drains the asynchronous readers
        string log;
        lock (stderr) log = stderr.ToString();
        string output;
        lock (stdout) output = stdout.ToString();
        if (p.ExitCode != 0 || !output.Contains("\ndone", StringComparison.Ordinal) && !output.StartsWith("done", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"nvmet-guest.sh host exited with {p.ExitCode}:\n{output}\n{log}");
        }

        var result = new List<Step>();
        foreach (Match m in StepPattern().Matches(output))
        {
            result.Add(new Step(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), m.Groups[2].Value, m.Groups[3].Value,
                m.Groups[4].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
        }

        if (result.Count != steps.Length)
        {
            throw new InvalidOperationException($"expected {steps.Length} step lines, got {result.Count}:\n{output}\n{log}");
        }

        return new Run(result, log);
    }

    private static string FindScript([System.Runtime.CompilerServices.CallerFilePath] string sourceFile = "")
    {
        string?[] starts = [AppContext.BaseDirectory, Environment.CurrentDirectory, Path.GetDirectoryName(sourceFile)];
        foreach (string? start in starts)
        {
            if (string.IsNullOrEmpty(start) || !Directory.Exists(start)) continue;
            for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
            {
                string candidate = Path.Combine(d.FullName, "tests/interop/nvmet-guest.sh");
                if (File.Exists(candidate)) return candidate;
            }
        }

        throw new FileNotFoundException("tests/interop/nvmet-guest.sh not found");
    }

    [GeneratedRegex(@"^step (\d+) (\S+) (\S+) ?(.*)$", RegexOptions.Multiline)]
    private static partial Regex StepPattern();
}
