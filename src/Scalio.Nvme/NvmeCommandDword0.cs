namespace Scalio.Nvme;

/// <summary>FUSE field of Command Dword 0 (bits 9:8); every generated command exposes it as <c>Fuse</c>.</summary>
public enum FusedOperation : byte
{
    /// <summary>Normal operation (00b).</summary>
    Normal = 0,

    /// <summary>First command of a fused operation (01b).</summary>
    First = 1,

    /// <summary>Second command of a fused operation (10b).</summary>
    Second = 2,
}

/// <summary>PRP or SGL for Data Transfer (PSDT) field of Command Dword 0 (bits 15:14); every generated command exposes it as <c>Psdt</c>.</summary>
public enum DataPointerKind : byte
{
    /// <summary>PRPs are used (00b).</summary>
    Prp = 0,

    /// <summary>SGLs are used; MPTR holds the address of a contiguous metadata buffer (01b).</summary>
    SglMetadataBuffer = 1,

    /// <summary>SGLs are used; MPTR holds the address of an SGL segment with one descriptor (10b).</summary>
    SglMetadataSegment = 2,
}
