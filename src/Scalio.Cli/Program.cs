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
};
try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or FormatException)
{
    // Bad input (an out-of-range value, a path that cannot be used): one clear line, no stack trace.
    Console.Error.WriteLine($"scalio: {CliErrors.OneLine(e)}");
    return 2;
}
