using System.CommandLine;
using Scalio.Cli;
using Spectre.Console;

// Tables stay readable when the output goes to a file or a CI log (Spectre falls back to 80 columns there).
if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 220;

var root = new RootCommand("scalio: the Scalio.Fast key-value store for DPU-based JBOF servers (OSDI 2025), in C#")
{
    YcsbCommand.Create(),
    ServerCommand.Create(),
    NvmeCommand.Create(),
    TargetCommand.Create(),
    CheckCommand.Create(),
    SoakCommand.Create(),
    SweepCommand.Create(),
    FiguresCommand.Create(),
    FuzzCommand.Create(),
    ClusterCommand.Create(),
    RemoteHitBenchCommand.Create(),
};
foreach (var data in DataCommand.Create()) root.Subcommands.Add(data);
try
{
    var parsed = root.Parse(args);
    // An unknown option or an unparsable value: one "error:" line and exit 2 (System.CommandLine's own report is several lines, exit 1).
    if (parsed.Errors.Count > 0 && parsed.CommandResult.Command.Action is not { ClearsParseErrors: true })
        return CliErrors.Fail(parsed.Errors[0].Message);
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or FormatException or System.Net.Sockets.SocketException)
{
    // Bad input (an out-of-range value, a path or port that cannot be used): one clear line, no stack trace.
    return CliErrors.Fail(CliErrors.OneLine(e));
}
