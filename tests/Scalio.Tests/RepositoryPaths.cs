namespace Scalio.Tests;

/// <summary>Where the repository's checkout is, for tests that run its scripts or pack its projects.</summary>
internal static class RepositoryPaths
{
    /// <summary>The directory holding Scalio.Fast.sln: found above this source file (builds with --artifacts-path put
    /// the test assembly outside the tree), else above the test assembly.</summary>
    public static string Root([System.Runtime.CompilerServices.CallerFilePath] string sourceFile = "")
    {
        foreach (string start in new[] { Path.GetDirectoryName(sourceFile) ?? string.Empty, AppContext.BaseDirectory })
        {
            for (DirectoryInfo? dir = start.Length > 0 ? new(start) : null; dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Scalio.Fast.sln"))) return dir.FullName;
            }
        }
        throw new InvalidOperationException("Scalio.Fast.sln not found above " + sourceFile + " or " + AppContext.BaseDirectory);
    }
}
