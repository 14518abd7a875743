using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Scalio.Checking;

/// <summary>
/// Reads and writes histories as JSON Lines, one operation per line:
/// <c>{"client":3,"op":"put","key":"k","value":"v","start":120,"end":480}</c>
/// (see docs/history-format.md).
/// </summary>
public static class HistoryJson
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    /// <summary>Writes <paramref name="operations"/> to <paramref name="stream"/>, one JSON object per line.</summary>
    /// <param name="stream">Destination; left open.</param>
    /// <param name="operations">Operations in the order to write.</param>
    public static void Write(Stream stream, IEnumerable<HistoryOperation> operations)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(operations);
        var buffer = new ArrayBufferWriter<byte>(64 * 1024);
        using var writer = new Utf8JsonWriter(buffer, WriterOptions);
        int index = 0;
        foreach (HistoryOperation op in operations)
        {
            op.Validate(index++);
            writer.Reset(buffer);
            writer.WriteStartObject();
            writer.WriteNumber("client", op.Client);
            writer.WriteString("op", KindName(op.Kind));
            writer.WriteString("key", op.Key);
            if (op.Value is null)
            {
                writer.WriteNull("value");
            }
            else
            {
                writer.WriteString("value", op.Value);
            }

            writer.WriteNumber("start", op.Start);
            if (op.End is long end)
            {
                writer.WriteNumber("end", end);
            }
            else
            {
                writer.WriteNull("end");
            }

            writer.WriteEndObject();
            writer.Flush();
            buffer.GetSpan(1)[0] = (byte)'\n';
            buffer.Advance(1);
            if (buffer.WrittenCount >= 60 * 1024)
            {
                stream.Write(buffer.WrittenSpan);
                buffer.ResetWrittenCount();
            }
        }

        stream.Write(buffer.WrittenSpan);
        stream.Flush();
    }

    /// <summary>Writes <paramref name="operations"/> to the file <paramref name="path"/> (created or replaced).</summary>
    /// <param name="path">File path.</param>
    /// <param name="operations">Operations in the order to write.</param>
    public static void WriteFile(string path, IEnumerable<HistoryOperation> operations)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Write(stream, operations);
    }

    /// <summary>Reads a JSON Lines history. Blank lines are skipped.</summary>
    /// <param name="stream">Source; read to its end and left open.</param>
    /// <returns>The operations in file order.</returns>
    /// <exception cref="HistoryFormatException">A line is malformed; the exception gives its line number.</exception>
    public static List<HistoryOperation> Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] data;
        using (var copy = new MemoryStream())
        {
            stream.CopyTo(copy);
            data = copy.ToArray();
        }

        var result = new List<HistoryOperation>();
        ReadOnlySpan<byte> rest = data;
        if (rest.StartsWith("\uFEFF"u8))
        {
            rest = rest[3..];
        }

        int lineNumber = 0;
        while (!rest.IsEmpty)
        {
            lineNumber++;
            int newline = rest.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line = newline < 0 ? rest : rest[..newline];
            rest = newline < 0 ? default : rest[(newline + 1)..];
            line = line.Trim(" \t\r"u8);
            if (line.IsEmpty)
            {
                continue;
            }

            result.Add(ParseLine(line, lineNumber));
        }

        return result;
    }

    /// <summary>Reads a JSON Lines history from the file <paramref name="path"/>.</summary>
    /// <param name="path">File path.</param>
    /// <returns>The operations in file order.</returns>
    /// <exception cref="HistoryFormatException">A line is malformed; the exception gives its line number.</exception>
    public static List<HistoryOperation> ReadFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return Read(stream);
    }

    internal static string KindName(OperationKind kind) => kind switch
    {
        OperationKind.Get => "get",
        OperationKind.Put => "put",
        OperationKind.Delete => "delete",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown operation kind"),
    };

    private static HistoryOperation ParseLine(ReadOnlySpan<byte> line, int lineNumber)
    {
        try
        {
            return ParseObject(line, lineNumber);
        }
        catch (JsonException e)
        {
            throw new HistoryFormatException(lineNumber, "invalid JSON: " + e.Message, e);
        }
        catch (InvalidOperationException e)
        {
            // Utf8JsonReader.GetString and friends throw this on a token of the wrong type.
            throw new HistoryFormatException(lineNumber, "invalid JSON: " + e.Message, e);
        }
    }

    private static HistoryOperation ParseObject(ReadOnlySpan<byte> line, int lineNumber)
    {
        var reader = new Utf8JsonReader(line, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw new HistoryFormatException(lineNumber, "expected a JSON object");
        }

        int? client = null;
        OperationKind? kind = null;
        string? key = null;
        bool hasKey = false, hasValue = false, hasEnd = false;
        string? value = null;
        long? start = null;
        long? end = null;

        while (true)
        {
            if (!reader.Read())
            {
                throw new HistoryFormatException(lineNumber, "unterminated object");
            }

            if (reader.TokenType == JsonTokenType.EndObject)
            {
                break;
            }

            string name = reader.GetString()!;
            if (!reader.Read())
            {
                throw new HistoryFormatException(lineNumber, $"missing value of field '{name}'");
            }

            switch (name)
            {
                case "client":
                    Duplicate(client.HasValue, name, lineNumber);
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int c) || c < 0)
                    {
                        throw new HistoryFormatException(lineNumber, "'client' must be a non-negative 32-bit integer");
                    }

                    client = c;
                    break;
                case "op":
                    Duplicate(kind.HasValue, name, lineNumber);
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw new HistoryFormatException(lineNumber, "'op' must be a string: \"get\", \"put\" or \"delete\"");
                    }

                    kind = reader.ValueTextEquals("get"u8) ? OperationKind.Get
                        : reader.ValueTextEquals("put"u8) ? OperationKind.Put
                        : reader.ValueTextEquals("delete"u8) ? OperationKind.Delete
                        : throw new HistoryFormatException(lineNumber, $"unknown op '{reader.GetString()}' (expected get, put or delete)");
                    break;
                case "key":
                    Duplicate(hasKey, name, lineNumber);
                    hasKey = true;
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        throw new HistoryFormatException(lineNumber, "'key' must be a string");
                    }

                    key = reader.GetString();
                    break;
                case "value":
                    Duplicate(hasValue, name, lineNumber);
                    hasValue = true;
                    value = reader.TokenType switch
                    {
                        JsonTokenType.Null => null,
                        JsonTokenType.String => reader.GetString(),
                        _ => throw new HistoryFormatException(lineNumber, "'value' must be a string or null"),
                    };
                    break;
                case "start":
                    Duplicate(start.HasValue, name, lineNumber);
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long s) || s < 0)
                    {
                        throw new HistoryFormatException(lineNumber, "'start' must be a non-negative integer (ns)");
                    }

                    start = s;
                    break;
                case "end":
                    Duplicate(hasEnd, name, lineNumber);
                    hasEnd = true;
                    if (reader.TokenType == JsonTokenType.Null)
                    {
                        end = null;
                    }
                    else if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long e) && e >= 0)
                    {
                        end = e;
                    }
                    else
                    {
                        throw new HistoryFormatException(lineNumber, "'end' must be a non-negative integer (ns) or null");
                    }

                    break;
                default:
                    throw new HistoryFormatException(lineNumber, $"unknown field '{name}'");
            }
        }

        if (reader.Read())
        {
            throw new HistoryFormatException(lineNumber, "unexpected content after the object");
        }

        if (client is null) { Missing("client", lineNumber); }
        if (kind is null) { Missing("op", lineNumber); }
        if (!hasKey) { Missing("key", lineNumber); }
        if (!hasValue) { Missing("value", lineNumber); }
        if (start is null) { Missing("start", lineNumber); }
        if (!hasEnd) { Missing("end", lineNumber); }

        if (end < start)
        {
            throw new HistoryFormatException(lineNumber, $"end {end} is before start {start}");
        }

        if (kind == OperationKind.Put && value is null)
        {
            throw new HistoryFormatException(lineNumber, "a put needs a string value");
        }

        if (kind == OperationKind.Delete && value is not null)
        {
            throw new HistoryFormatException(lineNumber, "a delete must have \"value\": null");
        }

        return new HistoryOperation(client!.Value, kind!.Value, key!, value, start!.Value, end);
    }

    private static void Duplicate(bool seen, string name, int lineNumber)
    {
        if (seen)
        {
            throw new HistoryFormatException(lineNumber, $"duplicate field '{name}'");
        }
    }

    private static void Missing(string name, int lineNumber)
        => throw new HistoryFormatException(lineNumber, $"missing field '{name}'");
}
