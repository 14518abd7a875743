using System.Diagnostics;

namespace Scalio.Tests;

/// <summary>What a finished tool process said: its exit code and its stdout followed by its stderr.</summary>
internal sealed record ToolResult(int ExitCode, string Output)
{
    /// <summary>Fails the test unless the tool exited 0.</summary>
    public void Check(string what) => Assert.True(ExitCode == 0, $"{what} exited {ExitCode}:\n{Output}");
}

/// <summary>Runs a command-line tool (git, dotnet, a script) to completion within a time limit; kills its process tree
/// and fails the test when the limit passes.</summary>
internal static class ToolRun
{
    public static async Task<ToolResult> Run(string dir, TimeSpan limit, string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        if (environment is not null) foreach (var (k, v) in environment) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish within {limit}");
        }
        return new ToolResult(process.ExitCode, await stdout + await stderr);
    }
}
