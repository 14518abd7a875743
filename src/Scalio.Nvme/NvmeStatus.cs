using System.Runtime.CompilerServices;

namespace Scalio.Nvme;

/// <summary>Status Code Type (SCT) values of a completion status field.</summary>
public enum NvmeStatusCodeType : byte
{
    /// <summary>Generic Command Status (0h).</summary>
    Generic = 0,

    /// <summary>Command Specific Status (1h).</summary>
    CommandSpecific = 1,

    /// <summary>Media and Data Integrity Errors (2h).</summary>
    MediaAndDataIntegrity = 2,

    /// <summary>Path Related Status (3h).</summary>
    PathRelated = 3,

    /// <summary>Vendor Specific (7h).</summary>
    VendorSpecific = 7,
}

/// <summary>
/// An NVMe command status: the completion queue entry's status field without its phase bit, i.e. bits 15:1
/// shifted down by one (SC in bits 7:0, SCT in bits 10:8, CRD in 12:11, M in 13, DNR in 14), which is the
/// same encoding as Linux's <c>NVME_SC_*</c> values. <c>default</c> is <see cref="Success"/>.
/// </summary>
public readonly struct NvmeStatus : IEquatable<NvmeStatus>
{
    private const ushort DoNotRetryBit = 1 << 14;
    private const ushort MoreBit = 1 << 13;

    private readonly ushort _value;

    /// <summary>Creates a status from its type and code.</summary>
    /// <param name="type">Status Code Type.</param>
    /// <param name="code">Status Code.</param>
    /// <param name="doNotRetry">The Do Not Retry (DNR) bit.</param>
    public NvmeStatus(NvmeStatusCodeType type, byte code, bool doNotRetry = false)
    {
        if ((byte)type > 7)
        {
            NvmeThrow.ArgumentOutOfRange(nameof(type), "The status code type is a 3-bit field (0..7).");
        }

        _value = (ushort)(code | ((int)type << 8) | (doNotRetry ? DoNotRetryBit : 0));
    }

    private NvmeStatus(ushort value) => _value = value;

    /// <summary>Successful Completion (SCT 0, SC 00h).</summary>
    public static NvmeStatus Success => default;

    /// <summary>Invalid Command Opcode (SCT 0, SC 01h), DNR set.</summary>
    public static NvmeStatus InvalidOpcode => new(0x01 | DoNotRetryBit);

    /// <summary>Invalid Field in Command (SCT 0, SC 02h), DNR set.</summary>
    public static NvmeStatus InvalidField => new(0x02 | DoNotRetryBit);

    /// <summary>Data Transfer Error (SCT 0, SC 04h).</summary>
    public static NvmeStatus DataTransferError => new(0x04);

    /// <summary>Internal Error (SCT 0, SC 06h).</summary>
    public static NvmeStatus InternalError => new(0x06);

    /// <summary>Invalid Namespace or Format (SCT 0, SC 0Bh), DNR set.</summary>
    public static NvmeStatus InvalidNamespace => new(0x0B | DoNotRetryBit);

    /// <summary>Command Sequence Error (SCT 0, SC 0Ch).</summary>
    public static NvmeStatus CommandSequenceError => new(0x0C);

    /// <summary>
    /// Data SGL Length Invalid (SCT 0, SC 0Fh), DNR set: the data buffer does not match the transfer length
    /// (what Linux's nvmet returns for a length mismatch).
    /// </summary>
    public static NvmeStatus DataSglLengthInvalid => new(0x0F | DoNotRetryBit);

    /// <summary>Namespace is Write Protected (SCT 0, SC 20h), DNR set: a write to a read-only namespace.</summary>
    public static NvmeStatus NamespaceWriteProtected => new(0x20 | DoNotRetryBit);

    /// <summary>Transient Transport Error (SCT 0, SC 22h): a transport error the target reports; a retry may succeed.</summary>
    public static NvmeStatus TransientTransportError => new(0x22);

    /// <summary>
    /// Host Pathing Error (SCT 3, SC 70h): the host found no usable path to the controller (connection lost,
    /// refused, or terminated), so the command was not executed or its result is unknown. Set by the host, never
    /// by a controller; Linux's NVMe host uses it the same way.
    /// </summary>
    public static NvmeStatus HostPathingError => new(0x370);

    /// <summary>Command Aborted By Host (SCT 3, SC 71h): the host gave up on the command (its timeout expired).</summary>
    public static NvmeStatus CommandAbortedByHost => new(0x371);

    /// <summary>LBA Out of Range (SCT 0, SC 80h), DNR set.</summary>
    public static NvmeStatus LbaOutOfRange => new(0x80 | DoNotRetryBit);

    /// <summary>Capacity Exceeded (SCT 0, SC 81h), DNR set.</summary>
    public static NvmeStatus CapacityExceeded => new(0x81 | DoNotRetryBit);

    /// <summary>Namespace Not Ready (SCT 0, SC 82h).</summary>
    public static NvmeStatus NamespaceNotReady => new(0x82);

    /// <summary>Connect Invalid Parameters (SCT 1, SC 82h), DNR set.</summary>
    public static NvmeStatus ConnectInvalidParameters => new(0x182 | DoNotRetryBit);

    /// <summary>Connect Invalid Host (SCT 1, SC 84h), DNR set: the host NQN is not allowed to use the subsystem.</summary>
    public static NvmeStatus ConnectInvalidHost => new(0x184 | DoNotRetryBit);

    /// <summary>Command Abort Requested (SCT 0, SC 07h): the command was aborted by an Abort command.</summary>
    public static NvmeStatus CommandAbortRequested => new(0x07);

    /// <summary>Asynchronous Event Request Limit Exceeded (SCT 1, SC 05h), DNR set.</summary>
    public static NvmeStatus AsyncEventRequestLimitExceeded => new(0x105 | DoNotRetryBit);

    /// <summary>Invalid Log Page (SCT 1, SC 09h), DNR set: the Log Page Identifier is not supported.</summary>
    public static NvmeStatus InvalidLogPage => new(0x109 | DoNotRetryBit);

    /// <summary>Feature Identifier Not Saveable (SCT 1, SC 0Dh), DNR set: Save was set, and nothing is saved across resets here.</summary>
    public static NvmeStatus FeatureNotSaveable => new(0x10D | DoNotRetryBit);

    /// <summary>Feature Not Changeable (SCT 1, SC 0Eh), DNR set.</summary>
    public static NvmeStatus FeatureNotChangeable => new(0x10E | DoNotRetryBit);

    /// <summary>Write Fault (SCT 2, SC 80h).</summary>
    public static NvmeStatus WriteFault => new(0x280);

    /// <summary>Unrecovered Read Error (SCT 2, SC 81h).</summary>
    public static NvmeStatus UnrecoveredReadError => new(0x281);

    /// <summary>Status Code (SC, 8 bits).</summary>
    public byte StatusCode => (byte)_value;

    /// <summary>Status Code Type (SCT, 3 bits).</summary>
    public NvmeStatusCodeType StatusCodeType => (NvmeStatusCodeType)((_value >> 8) & 0x7);

    /// <summary>Command Retry Delay (CRD, 2 bits).</summary>
    public int CommandRetryDelay => (_value >> 11) & 0x3;

    /// <summary>The More (M) bit.</summary>
    public bool More => (_value & MoreBit) != 0;

    /// <summary>The Do Not Retry (DNR) bit.</summary>
    public bool DoNotRetry => (_value & DoNotRetryBit) != 0;

    /// <summary>True when SCT and SC are both zero (other bits ignored).</summary>
    public bool IsSuccess
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (_value & 0x7FF) == 0;
    }

    /// <summary>The 15-bit raw value (status field bits 15:1).</summary>
    public ushort Value => _value;

    /// <summary>Creates a status from a 15-bit raw value (status field bits 15:1).</summary>
    /// <param name="value">The raw value; bit 15 must be clear.</param>
    public static NvmeStatus FromValue(ushort value)
    {
        if ((value & 0x8000) != 0)
        {
            NvmeThrow.ArgumentOutOfRange(nameof(value), "A status value has 15 bits; bit 15 must be zero (the phase bit is not part of the status).");
        }

        return new NvmeStatus(value);
    }

    /// <summary>The same status with the DNR bit set or cleared.</summary>
    /// <param name="doNotRetry">The new DNR bit.</param>
    public NvmeStatus WithDoNotRetry(bool doNotRetry) =>
        new((ushort)(doNotRetry ? _value | DoNotRetryBit : _value & ~DoNotRetryBit));

    /// <inheritdoc/>
    public bool Equals(NvmeStatus other) => _value == other._value;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is NvmeStatus other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => _value;

    /// <summary>Equality of the full 15-bit value.</summary>
    public static bool operator ==(NvmeStatus left, NvmeStatus right) => left._value == right._value;

    /// <summary>Inequality of the full 15-bit value.</summary>
    public static bool operator !=(NvmeStatus left, NvmeStatus right) => left._value != right._value;

    /// <summary>A readable name, e.g. "LBA Out of Range (SCT 0h, SC 80h, DNR)".</summary>
    public override string ToString()
    {
        string name = (StatusCodeType, StatusCode) switch
        {
            (NvmeStatusCodeType.Generic, 0x00) => "Successful Completion",
            (NvmeStatusCodeType.Generic, 0x01) => "Invalid Command Opcode",
            (NvmeStatusCodeType.Generic, 0x02) => "Invalid Field in Command",
            (NvmeStatusCodeType.Generic, 0x04) => "Data Transfer Error",
            (NvmeStatusCodeType.Generic, 0x06) => "Internal Error",
            (NvmeStatusCodeType.Generic, 0x0B) => "Invalid Namespace or Format",
            (NvmeStatusCodeType.Generic, 0x0C) => "Command Sequence Error",
            (NvmeStatusCodeType.Generic, 0x0F) => "Data SGL Length Invalid",
            (NvmeStatusCodeType.Generic, 0x20) => "Namespace is Write Protected",
            (NvmeStatusCodeType.Generic, 0x22) => "Transient Transport Error",
            (NvmeStatusCodeType.PathRelated, 0x70) => "Host Pathing Error",
            (NvmeStatusCodeType.PathRelated, 0x71) => "Command Aborted By Host",
            (NvmeStatusCodeType.Generic, 0x80) => "LBA Out of Range",
            (NvmeStatusCodeType.Generic, 0x81) => "Capacity Exceeded",
            (NvmeStatusCodeType.Generic, 0x82) => "Namespace Not Ready",
            (NvmeStatusCodeType.CommandSpecific, 0x82) => "Connect Invalid Parameters",
            (NvmeStatusCodeType.CommandSpecific, 0x84) => "Connect Invalid Host",
            (NvmeStatusCodeType.Generic, 0x07) => "Command Abort Requested",
            (NvmeStatusCodeType.CommandSpecific, 0x05) => "Asynchronous Event Request Limit Exceeded",
            (NvmeStatusCodeType.CommandSpecific, 0x09) => "Invalid Log Page",
            (NvmeStatusCodeType.CommandSpecific, 0x0D) => "Feature Identifier Not Saveable",
            (NvmeStatusCodeType.CommandSpecific, 0x0E) => "Feature Not Changeable",
            (NvmeStatusCodeType.MediaAndDataIntegrity, 0x80) => "Write Fault",
            (NvmeStatusCodeType.MediaAndDataIntegrity, 0x81) => "Unrecovered Read Error",
            _ => "Status",
        };
        return $"{name} (SCT {(int)StatusCodeType:X}h, SC {StatusCode:X2}h{(DoNotRetry ? ", DNR" : "")})";
    }
}
