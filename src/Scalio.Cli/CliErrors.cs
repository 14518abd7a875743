namespace Scalio.Cli;

/// <summary>How the command line reports bad input: one line starting <c>error:</c> on stderr, exit code 2, no stack trace.</summary>
internal static class CliErrors
{
    /// <summary>Exit code of a usage error: an invalid option or value, or a path or port that cannot be used.</summary>
    public const int Usage = 2;

    /// <summary>The first line of <paramref name="e"/>'s message, without the "(Parameter 'x')" suffix .NET appends.</summary>
    public static string OneLine(Exception e)
    {
        string m = Clean(e.Message);
        return e is UnauthorizedAccessException or IOException ? $"{m} ({e.GetType().Name})" : m;
    }

    /// <summary>Writes <c>error: MESSAGE</c> (its first line only) to stderr.</summary>
    public static void Report(string message) => Report(Console.Error, message);

    /// <summary>Writes <c>error: MESSAGE</c> (its first line only) to <paramref name="error"/>.</summary>
    public static void Report(TextWriter error, string message) => error.WriteLine("error: " + Clean(message));

    /// <summary>Reports that another process holds the store in <paramref name="dir"/> and returns <see cref="Usage"/>.</summary>
    public static int DataDirInUse(string dir) => Fail($"--data-dir {dir} is in use by another scalio process (a running server? use --connect ADDRESS:PORT)");

    /// <summary>Reports <paramref name="message"/> and returns <see cref="Usage"/>.</summary>
    public static int Fail(string message)
    {
        Report(message);
        return Usage;
    }

    /// <summary>Creates <paramref name="dir"/> (an option's directory) or says in one line why it cannot be used.</summary>
    public static bool TryCreateDirectory(string option, string dir)
    {
        try
        {
            Directory.CreateDirectory(dir);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            Report($"{option} {dir} cannot be used: {OneLine(e)}");
            return false;
        }
    }

    private static string Clean(string m)
    {
        int nl = m.IndexOf('\n');
        if (nl >= 0) m = m[..nl].TrimEnd('\r');
        int p = m.IndexOf(" (Parameter '", StringComparison.Ordinal);
        if (p > 0) m = m[..p];
        // The "error:" prefix already says who speaks; "scalio server: x" reads as "server: x".
        if (m.StartsWith("scalio ", StringComparison.Ordinal)) m = m["scalio ".Length..];
        return m.Trim();
    }
}
