using System.Diagnostics.CodeAnalysis;

namespace Scalio.Nvme;

/// <summary>Throw helpers for the NVMe area, so hot methods stay small.</summary>
internal static class NvmeThrow
{
    [DoesNotReturn]
    public static void ArgumentOutOfRange(string name, string message) => throw new ArgumentOutOfRangeException(name, message);

    [DoesNotReturn]
    public static void Argument(string name, string message) => throw new ArgumentException(message, name);

    [DoesNotReturn]
    public static void ObjectDisposed(string name) => throw new ObjectDisposedException(name);

    [DoesNotReturn]
    public static void InvalidOperation(string message) => throw new InvalidOperationException(message);
}
