using System.Diagnostics.CodeAnalysis;

namespace Scalio.Fast;

/// <summary>Throwing lives here so hot methods stay small and inlinable.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void Argument(string name, string message) => throw new ArgumentException(message, name);

    [DoesNotReturn]
    public static void ArgumentOutOfRange(string name, string message) => throw new ArgumentOutOfRangeException(name, message);

    [DoesNotReturn]
    public static void InvalidOperation(string message) => throw new InvalidOperationException(message);

    [DoesNotReturn]
    public static void Fabric(string message) => throw new ScalioException(message);
}

/// <summary>An operation failed in the fabric, the offload target or the server (not a caller error).</summary>
public class ScalioException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ScalioException(string message) : base(message) { }

    /// <summary>Creates the exception with an inner cause.</summary>
    public ScalioException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Creates the exception.</summary>
    public ScalioException() { }
}
