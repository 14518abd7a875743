namespace Scalio.Cli;

/// <summary>How the command line reports bad input: one line, no stack trace.</summary>
internal static class CliErrors
{
    /// <summary>The first line of <paramref name="e"/>'s message, without the "(Parameter 'x')" suffix .NET appends.</summary>
    public static string OneLine(Exception e)
    {
        string m = e.Message;
        int nl = m.IndexOf('\n');
        if (nl >= 0) m = m[..nl].TrimEnd('\r');
        int p = m.IndexOf(" (Parameter '", StringComparison.Ordinal);
        if (p > 0) m = m[..p];
        return e is UnauthorizedAccessException or IOException ? $"{m} ({e.GetType().Name})" : m;
    }
}
