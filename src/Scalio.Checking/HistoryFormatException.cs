namespace Scalio.Checking;

/// <summary>A history file is malformed; <see cref="LineNumber"/> says where.</summary>
public sealed class HistoryFormatException : FormatException
{
    /// <summary>Creates the exception without a line number.</summary>
    public HistoryFormatException()
    {
    }

    /// <summary>Creates the exception without a line number.</summary>
    /// <param name="message">What is wrong.</param>
    public HistoryFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception without a line number.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The underlying error.</param>
    public HistoryFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for line <paramref name="lineNumber"/>; the message is prefixed with it.</summary>
    /// <param name="lineNumber">1-based line number.</param>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public HistoryFormatException(int lineNumber, string message, Exception? innerException = null)
        : base($"line {lineNumber}: {message}", innerException)
    {
        LineNumber = lineNumber;
    }

    /// <summary>1-based line number of the malformed line, 0 when unknown.</summary>
    public int LineNumber { get; }
}
