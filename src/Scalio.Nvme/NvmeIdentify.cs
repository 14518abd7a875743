using System.Buffers.Binary;
using System.Text;

namespace Scalio.Nvme;

/// <summary>What a host needs from an Identify Namespace data structure.</summary>
/// <param name="Size">Namespace Size (NSZE) in logical blocks.</param>
/// <param name="Capacity">Namespace Capacity (NCAP) in logical blocks.</param>
/// <param name="Utilization">Namespace Utilization (NUSE) in logical blocks.</param>
/// <param name="LbaSize">Logical block size in bytes of the format selected by FLBAS.</param>
public readonly record struct IdentifyNamespaceSummary(ulong Size, ulong Capacity, ulong Utilization, int LbaSize);

/// <summary>Fields of the Identify Controller data structure that <see cref="NvmeIdentify.WriteController"/> fills.</summary>
public sealed class NvmeControllerIdentity
{
    /// <summary>PCI Vendor ID (VID), bytes 1:0.</summary>
    public ushort VendorId { get; init; }

    /// <summary>PCI Subsystem Vendor ID (SSVID), bytes 3:2.</summary>
    public ushort SubsystemVendorId { get; init; }

    /// <summary>Serial Number (SN), bytes 23:4: printable ASCII, at most 20 characters, space padded.</summary>
    public string SerialNumber { get; init; } = "0";

    /// <summary>Model Number (MN), bytes 63:24: printable ASCII, at most 40 characters, space padded.</summary>
    public string ModelNumber { get; init; } = "Scalio.Fast NVMe";

    /// <summary>Firmware Revision (FR), bytes 71:64: printable ASCII, at most 8 characters, space padded.</summary>
    public string FirmwareRevision { get; init; } = "1.0";

    /// <summary>Maximum Data Transfer Size (MDTS), byte 77: a power of two in units of the minimum page size; 0 = no limit.</summary>
    public byte MaxDataTransferSize { get; init; }

    /// <summary>Controller ID (CNTLID), bytes 79:78.</summary>
    public ushort ControllerId { get; init; }

    /// <summary>Version (VER), bytes 83:80: major in bits 31:16, minor 15:8, tertiary 7:0. Default 2.0.0.</summary>
    public uint Version { get; init; } = 0x0002_0000;

    /// <summary>Controller Type (CNTRLTYPE), byte 111: 1 = I/O controller.</summary>
    public byte ControllerType { get; init; } = 1;

    /// <summary>Keep Alive Support (KAS), bytes 321:320, granularity in units of 100 ms; 0 = not supported.</summary>
    public ushort KeepAliveGranularity { get; init; } = 10;

    /// <summary>Maximum Outstanding Commands (MAXCMD), bytes 515:514.</summary>
    public ushort MaxOutstandingCommands { get; init; } = 128;

    /// <summary>Number of Namespaces (NN), bytes 519:516.</summary>
    public uint NamespaceCount { get; init; } = 1;

    /// <summary>Volatile Write Cache present (VWC bit 0), byte 525.</summary>
    public bool VolatileWriteCache { get; init; } = true;

    /// <summary>SGL Support (SGLS), bytes 539:536. Default: SGLs supported (bit 0), Keyed SGL Data Block (bit 2), offsets in Data Block addresses (bit 20).</summary>
    public uint SglSupport { get; init; } = 0x0010_0005;

    /// <summary>NVM Subsystem NVMe Qualified Name (SUBNQN), bytes 1023:768: UTF-8, at most 223 bytes, NUL terminated.</summary>
    public string SubsystemNqn { get; init; } = "nqn.2014-08.org.nvmexpress:scalio";

    /// <summary>In-capsule data bytes an I/O command capsule may carry (fabrics); sets IOCCSZ (bytes 1795:1792) to (64 + this) / 16.</summary>
    public int InCapsuleDataSize { get; init; }

    /// <summary>Optional Asynchronous Events Supported (OAES), bytes 95:92; bit 8 = Namespace Attribute Notices (Changed Namespace List).</summary>
    public uint AsyncEventsSupported { get; init; }

    /// <summary>Abort Command Limit (ACL), byte 258, zero-based: Abort commands outstanding at once.</summary>
    public byte AbortCommandLimit { get; init; }

    /// <summary>Asynchronous Event Request Limit (AERL), byte 259, zero-based: AERs the controller holds at once.</summary>
    public byte AsyncEventRequestLimit { get; init; }

    /// <summary>Firmware Updates (FRMW), byte 260: bit 0 slot 1 read-only, bits 3:1 number of slots.</summary>
    public byte FirmwareUpdates { get; init; }

    /// <summary>Log Page Attributes (LPA), byte 261: bit 2 = extended Get Log Page (NUMDU, offsets).</summary>
    public byte LogPageAttributes { get; init; }

    /// <summary>Error Log Page Entries (ELPE), byte 262, zero-based.</summary>
    public byte ErrorLogEntries { get; init; }

    /// <summary>Maximum SGL Data Block Descriptors (MSDBD), byte 1807 (fabrics); 0 = no limit reported.</summary>
    public byte MaxSglDescriptors { get; init; }
}

/// <summary>
/// Encoders (and a small decoder) for the 4096-byte Identify data structures
/// (NVM Express Base Specification 2.0, Figure "Identify Controller Data Structure"; NVM Command Set Specification,
/// Figure "Identify Namespace Data Structure"; Linux <c>struct nvme_id_ctrl</c> / <c>struct nvme_id_ns</c>).
/// </summary>
public static class NvmeIdentify
{
    /// <summary>Size of an Identify data structure.</summary>
    public const int DataSize = 4096;

    /// <summary>Identify Namespace: NSZE offset.</summary>
    public const int NszeOffset = 0;

    /// <summary>Identify Namespace: NCAP offset.</summary>
    public const int NcapOffset = 8;

    /// <summary>Identify Namespace: NUSE offset.</summary>
    public const int NuseOffset = 16;

    /// <summary>Identify Namespace: NLBAF offset (number of LBA formats, zero-based).</summary>
    public const int NlbafOffset = 25;

    /// <summary>Identify Namespace: FLBAS offset (formatted LBA size).</summary>
    public const int FlbasOffset = 26;

    /// <summary>Identify Namespace: LBA Format 0 (LBAF0) offset; LBADS is in its bits 23:16.</summary>
    public const int Lbaf0Offset = 128;

    /// <summary>Identify Controller: SUBNQN offset.</summary>
    public const int SubnqnOffset = 768;

    /// <summary>Writes Identify Namespace data for <paramref name="ns"/> into the first 4096 bytes of <paramref name="destination"/>.</summary>
    /// <param name="ns">The namespace.</param>
    /// <param name="destination">At least 4096 bytes.</param>
    public static void WriteNamespace(NvmeNamespace ns, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(ns);
        WriteNamespace(ns.LbaCount, ns.LbaSize, destination);
        if (ns.IsReadOnly)
        {
            destination[NsattrOffset] |= 1; // NSATTR bit 0: Write Protected
        }
    }

    /// <summary>Offset of NSATTR (Namespace Attributes) in Identify Namespace data; bit 0 is Write Protected.</summary>
    public const int NsattrOffset = 99;

    /// <summary>
    /// Writes Identify Namespace data: NSZE = NCAP = NUSE = <paramref name="lbaCount"/>, one LBA format (NLBAF 0,
    /// FLBAS 0) whose LBADS is log2(<paramref name="lbaSize"/>), no metadata. Everything else is zero.
    /// </summary>
    /// <param name="lbaCount">Number of logical blocks.</param>
    /// <param name="lbaSize">Logical block size, a power of two of at least 512.</param>
    /// <param name="destination">At least 4096 bytes.</param>
    public static void WriteNamespace(ulong lbaCount, int lbaSize, Span<byte> destination)
    {
        CheckDestination(destination);
        if (lbaSize < 512 || (lbaSize & (lbaSize - 1)) != 0)
        {
            NvmeThrow.ArgumentOutOfRange(nameof(lbaSize), "The LBA size must be a power of two of at least 512.");
        }

        Span<byte> d = destination.Slice(0, DataSize);
        d.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(NszeOffset), lbaCount);
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(NcapOffset), lbaCount);
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(NuseOffset), lbaCount);
        d[NlbafOffset] = 0;
        d[FlbasOffset] = 0;
        uint lbaf0 = (uint)System.Numerics.BitOperations.Log2((uint)lbaSize) << 16; // MS = 0, LBADS in bits 23:16, RP = 0
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(Lbaf0Offset), lbaf0);
    }

    /// <summary>Reads NSZE, NCAP, NUSE and the LBA size of the format selected by FLBAS.</summary>
    /// <param name="data">An Identify Namespace data structure (4096 bytes).</param>
    public static IdentifyNamespaceSummary ReadNamespace(ReadOnlySpan<byte> data)
    {
        if (data.Length < DataSize)
        {
            NvmeThrow.Argument(nameof(data), "Identify Namespace data is 4096 bytes.");
        }

        byte flbas = data[FlbasOffset];
        int format = (flbas & 0x0F) | (((flbas >> 5) & 0x3) << 4); // FLBAS bits 3:0 low, bits 6:5 high (more than 16 formats)
        if (format > data[NlbafOffset])
        {
            throw new InvalidDataException($"FLBAS selects LBA format {format} but NLBAF says only {data[NlbafOffset] + 1} formats exist.");
        }

        int lbads = data[Lbaf0Offset + (4 * format) + 2];
        if (lbads is < 9 or > 30)
        {
            throw new InvalidDataException($"LBA format {format} has LBADS {lbads}; valid values are 9 (512 B) and above.");
        }

        return new IdentifyNamespaceSummary(
            BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(NszeOffset)),
            BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(NcapOffset)),
            BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(NuseOffset)),
            1 << lbads);
    }

    /// <summary>Writes Identify Controller data into the first 4096 bytes of <paramref name="destination"/>; unset fields are zero.</summary>
    /// <param name="identity">Field values.</param>
    /// <param name="destination">At least 4096 bytes.</param>
    public static void WriteController(NvmeControllerIdentity identity, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(identity);
        CheckDestination(destination);
        if (identity.InCapsuleDataSize < 0 || identity.InCapsuleDataSize % 16 != 0)
        {
            NvmeThrow.Argument(nameof(identity), $"InCapsuleDataSize must be a non-negative multiple of 16, not {identity.InCapsuleDataSize}.");
        }

        Span<byte> d = destination.Slice(0, DataSize);
        d.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(0), identity.VendorId);
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(2), identity.SubsystemVendorId);
        WriteAscii(d.Slice(4, 20), identity.SerialNumber, nameof(identity.SerialNumber));
        WriteAscii(d.Slice(24, 40), identity.ModelNumber, nameof(identity.ModelNumber));
        WriteAscii(d.Slice(64, 8), identity.FirmwareRevision, nameof(identity.FirmwareRevision));
        d[77] = identity.MaxDataTransferSize;
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(78), identity.ControllerId);
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(80), identity.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(92), identity.AsyncEventsSupported);
        d[111] = identity.ControllerType;
        d[258] = identity.AbortCommandLimit;
        d[259] = identity.AsyncEventRequestLimit;
        d[260] = identity.FirmwareUpdates;
        d[261] = identity.LogPageAttributes;
        d[262] = identity.ErrorLogEntries;
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(320), identity.KeepAliveGranularity);
        d[512] = 0x66; // SQES: required and maximum entry size 2^6 = 64 bytes
        d[513] = 0x44; // CQES: 2^4 = 16 bytes
        BinaryPrimitives.WriteUInt16LittleEndian(d.Slice(514), identity.MaxOutstandingCommands);
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(516), identity.NamespaceCount);
        d[525] = identity.VolatileWriteCache ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(536), identity.SglSupport);
        WriteNqn(d.Slice(SubnqnOffset, 256), identity.SubsystemNqn);
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(1792), (uint)((SubmissionQueueEntry.WireSize + identity.InCapsuleDataSize) / 16)); // IOCCSZ
        BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(1796), NvmeCompletion.WireSize / 16); // IORCSZ
        d[1807] = identity.MaxSglDescriptors;
    }

    /// <summary>Identify Namespace: NGUID offset (bytes 119:104).</summary>
    public const int NguidOffset = 104;

    /// <summary>Namespace Identifier Type (NIDT) values of a Namespace Identification Descriptor.</summary>
    public const byte NidtEui64 = 1, NidtNguid = 2, NidtUuid = 3, NidtCsi = 4;

    /// <summary>
    /// Writes Identify Namespace data for <paramref name="ns"/> with its NGUID (bytes 119:104), so that CNS 00h and
    /// CNS 03h report the same identifier.
    /// </summary>
    /// <param name="ns">The namespace.</param>
    /// <param name="nguid">16 bytes, not all zero.</param>
    /// <param name="destination">At least 4096 bytes.</param>
    public static void WriteNamespace(NvmeNamespace ns, ReadOnlySpan<byte> nguid, Span<byte> destination)
    {
        CheckNguid(nguid);
        WriteNamespace(ns, destination);
        nguid.CopyTo(destination.Slice(NguidOffset, 16));
    }

    /// <summary>
    /// Writes a Namespace Identification Descriptor list (Identify CNS 03h; NVMe Base 2.0, Figure "Namespace
    /// Identification Descriptor": NIDT byte 0, NIDL byte 1, bytes 3:2 reserved, NID from byte 4): an NGUID, a UUID
    /// (RFC 4122 byte order) and the Command Set Identifier, then zeros, which end the list.
    /// </summary>
    /// <param name="nguid">16 bytes, not all zero.</param>
    /// <param name="uuid">The namespace UUID, not empty.</param>
    /// <param name="csi">Command Set Identifier (0 = NVM Command Set).</param>
    /// <param name="destination">At least 4096 bytes.</param>
    /// <returns>Bytes of descriptors written before the terminating zeros.</returns>
    public static int WriteNamespaceDescriptors(ReadOnlySpan<byte> nguid, Guid uuid, byte csi, Span<byte> destination)
    {
        CheckDestination(destination);
        CheckNguid(nguid);
        if (uuid == Guid.Empty)
        {
            NvmeThrow.Argument(nameof(uuid), "A namespace UUID must not be the nil UUID.");
        }

        Span<byte> d = destination.Slice(0, DataSize);
        d.Clear();
        int at = 0;
        d[at] = NidtNguid;
        d[at + 1] = 16;
        nguid.CopyTo(d.Slice(at + 4));
        at += 4 + 16;
        d[at] = NidtUuid;
        d[at + 1] = 16;
        uuid.TryWriteBytes(d.Slice(at + 4, 16), bigEndian: true, out _);
        at += 4 + 16;
        d[at] = NidtCsi;
        d[at + 1] = 1;
        d[at + 4] = csi;
        at += 4 + 1; // descriptors are packed (each is 4 + NIDL bytes); the zeros after the last end the list
        return at;
    }

    private static void CheckNguid(ReadOnlySpan<byte> nguid)
    {
        if (nguid.Length != 16 || nguid.IndexOfAnyExcept((byte)0) < 0)
        {
            NvmeThrow.Argument(nameof(nguid), "An NGUID is 16 bytes, not all zero.");
        }
    }

    private static void CheckDestination(Span<byte> destination)
    {
        if (destination.Length < DataSize)
        {
            NvmeThrow.Argument(nameof(destination), $"Identify data is {DataSize} bytes; the destination has {destination.Length}.");
        }
    }

    private static void WriteAscii(Span<byte> field, string value, string name)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        if (value.Length > field.Length)
        {
            NvmeThrow.Argument(name, $"{name} holds at most {field.Length} ASCII characters; '{value}' has {value.Length}.");
        }

        field.Fill((byte)' ');
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c is < ' ' or > '~')
            {
                NvmeThrow.Argument(name, $"{name} must be printable ASCII; '{value}' has U+{(int)c:X4} at {i}.");
            }

            field[i] = (byte)c;
        }
    }

    private static void WriteNqn(Span<byte> field, string nqn)
    {
        ArgumentException.ThrowIfNullOrEmpty(nqn);
        int count = Encoding.UTF8.GetByteCount(nqn);
        if (count > 223)
        {
            NvmeThrow.Argument(nameof(nqn), $"An NQN is at most 223 bytes of UTF-8; '{nqn}' has {count}.");
        }

        Encoding.UTF8.GetBytes(nqn, field); // the rest of the 256-byte field stays zero, which terminates it
    }
}
