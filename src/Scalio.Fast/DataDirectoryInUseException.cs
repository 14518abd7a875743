namespace Scalio.Fast;

/// <summary>
/// A store's data directory is held by another open store: another process (a running server), or another
/// <see cref="ScalioStore"/> of this one. Two stores writing one set of device files would corrupt both.
/// </summary>
public sealed class DataDirectoryInUseException : IOException
{
    /// <summary>Creates the exception for <paramref name="directory"/>.</summary>
    /// <param name="directory">The data directory.</param>
    /// <param name="inner">The error from taking the directory's lock file.</param>
    public DataDirectoryInUseException(string directory, Exception? inner = null)
        : base($"data directory {directory} is in use by another open store (a running server?)", inner)
        => Directory = directory;

    /// <summary>The data directory.</summary>
    public string Directory { get; }
}

/// <summary>The lock file an open store holds, exclusively, in its data directory.</summary>
internal static class DataDirectoryLock
{
    public const string FileName = "scalio.lock";

    // Advisory and whole-file: another holder fails at once, and a crashed holder holds nothing.
    public static FileStream Acquire(string directory)
    {
        try
        {
            return new FileStream(Path.Combine(directory, FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new DataDirectoryInUseException(directory, e);
        }
    }
}
