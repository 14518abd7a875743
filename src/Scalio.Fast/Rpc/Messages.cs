using System.Buffers.Binary;

namespace Scalio.Fast.Rpc;

/// <summary>Operation of a two-sided request to the server.</summary>
internal enum RpcOp : byte
{
    /// <summary>Store a value (durable before the reply).</summary>
    Put = 1,
    /// <summary>Remove a key (durable before the reply).</summary>
    Delete = 2,
    /// <summary>Read through the server CPU (a server-side GET; Scalio clients read one-sided instead).</summary>
    Get = 3,
}

/// <summary>
/// Wire format of requests and replies (little-endian):
/// <code>
/// request: op (1) | reserved (1) | key length (2) | value length (4) | request id (8) | key | value
/// reply:   status (1) | reserved (3) | value length (4) | request id (8) | value
/// </code>
/// </summary>
internal static class RpcFormat
{
    /// <summary>Bytes before the key in a request.</summary>
    public const int RequestHeaderSize = 16;
    /// <summary>Bytes before the value in a reply.</summary>
    public const int ReplyHeaderSize = 16;

    /// <summary>Encodes a request; returns its length.</summary>
    public static int WriteRequest(Span<byte> buffer, RpcOp op, ulong requestId, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        buffer[0] = (byte)op;
        buffer[1] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[2..], (ushort)key.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[4..], (uint)value.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[8..], requestId);
        key.CopyTo(buffer[RequestHeaderSize..]);
        value.CopyTo(buffer[(RequestHeaderSize + key.Length)..]);
        return RequestHeaderSize + key.Length + value.Length;
    }

    /// <summary>Decodes a request received in <paramref name="message"/>; false when it is malformed.</summary>
    public static bool TryReadRequest(ReadOnlySpan<byte> message, out RpcOp op, out ulong requestId, out ReadOnlySpan<byte> key, out ReadOnlySpan<byte> value)
    {
        op = default; requestId = 0; key = default; value = default;
        if (message.Length < RequestHeaderSize) return false;
        op = (RpcOp)message[0];
        int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(message[2..]);
        uint valueLength = BinaryPrimitives.ReadUInt32LittleEndian(message[4..]);
        requestId = BinaryPrimitives.ReadUInt64LittleEndian(message[8..]);
        if (op is not (RpcOp.Put or RpcOp.Delete or RpcOp.Get)) return false;
        if ((ulong)RequestHeaderSize + (ulong)keyLength + valueLength != (ulong)message.Length) return false;
        key = message.Slice(RequestHeaderSize, keyLength);
        value = message.Slice(RequestHeaderSize + keyLength, (int)valueLength);
        return true;
    }

    /// <summary>Encodes a reply; returns its length.</summary>
    public static int WriteReply(Span<byte> buffer, OpStatus status, ulong requestId, ReadOnlySpan<byte> value)
    {
        buffer[0] = (byte)status;
        buffer[1] = buffer[2] = buffer[3] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[4..], (uint)value.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(buffer[8..], requestId);
        value.CopyTo(buffer[ReplyHeaderSize..]);
        return ReplyHeaderSize + value.Length;
    }

    /// <summary>Decodes a reply; false when it is malformed.</summary>
    public static bool TryReadReply(ReadOnlySpan<byte> message, out OpStatus status, out ulong requestId, out ReadOnlySpan<byte> value)
    {
        status = default; requestId = 0; value = default;
        if (message.Length < ReplyHeaderSize) return false;
        status = (OpStatus)message[0];
        uint valueLength = BinaryPrimitives.ReadUInt32LittleEndian(message[4..]);
        requestId = BinaryPrimitives.ReadUInt64LittleEndian(message[8..]);
        if ((ulong)ReplyHeaderSize + valueLength != (ulong)message.Length) return false;
        value = message.Slice(ReplyHeaderSize, (int)valueLength);
        return true;
    }
}
