using System.Text;
using Scalio.Fast;

namespace Scalio.Tests.Storage;

/// <summary>Keys, values and temp directories shared by the storage tests.</summary>
internal static class StorageTestKit
{
    public static byte[] Key(string s) => Encoding.ASCII.GetBytes(s);

    public static byte[] Value(string s)
    {
        var v = new byte[64];
        Encoding.ASCII.GetBytes(s).CopyTo(v, 0);
        return v;
    }

    public static string Text(ReadOnlySpan<byte> value) => Encoding.ASCII.GetString(value).TrimEnd('\0');

    public static long DeviceReads(ScalioStore store) => store.ReadCounters().DeviceReads;

    public static long DeviceWrites(ScalioStore store) => store.ReadCounters().DeviceWrites;
}

/// <summary>A temp directory removed at dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "scalio-storage-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
