namespace Scalio.Fast;

/// <summary>Status of an operation, as returned to the caller.</summary>
public enum OpStatus : byte
{
    /// <summary>Done.</summary>
    Ok = 0,
    /// <summary>The key is not stored.</summary>
    NotFound = 1,
    /// <summary>The request was malformed or over the schema's limits.</summary>
    InvalidArgument = 2,
    /// <summary>The SSD bucket or device has no room; nothing acknowledged was lost.</summary>
    StorageFull = 3,
    /// <summary>A block failed its checksum: the data is not returned.</summary>
    Corrupt = 4,
    /// <summary>The device reported an I/O error.</summary>
    IoError = 5,
    /// <summary>The operation did not finish in time (peer dead or overloaded).</summary>
    Timeout = 6,
    /// <summary>The server is shutting down or the connection is gone.</summary>
    Unavailable = 7,
    /// <summary>The client's credential does not allow the operation (a reader's PUT or DELETE); nothing was changed.</summary>
    Forbidden = 8,
    /// <summary>The server does not own the key under its current cluster map (a sharded cluster: the key is moving to,
    /// or has moved to, another server); nothing was changed. The caller refreshes its map and retries.</summary>
    WrongOwner = 9,
}
