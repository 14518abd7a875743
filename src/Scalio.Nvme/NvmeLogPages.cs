using System.Buffers.Binary;

namespace Scalio.Nvme;

/// <summary>Counters reported in the SMART / Health Information log page.</summary>
public readonly record struct SmartHealthCounters
{
    /// <summary>Bytes read by host Read commands (reported as Data Units Read, thousands of 512-byte units, rounded up).</summary>
    public long BytesRead { get; init; }

    /// <summary>Bytes written by host Write commands (Data Units Written).</summary>
    public long BytesWritten { get; init; }

    /// <summary>Read commands completed (Host Read Commands).</summary>
    public long ReadCommands { get; init; }

    /// <summary>Write commands completed (Host Write Commands).</summary>
    public long WriteCommands { get; init; }

    /// <summary>Whole hours the controller has been up (Power On Hours).</summary>
    public long PowerOnHours { get; init; }

    /// <summary>Commands that completed with a media or data integrity error (Media and Data Integrity Errors).</summary>
    public long MediaErrors { get; init; }

    /// <summary>True when every namespace is read-only (Critical Warning bit 3: media placed in read-only mode).</summary>
    public bool ReadOnly { get; init; }
}

/// <summary>
/// Encoders of the log pages a host reads with Get Log Page (NVM Express Base Specification 2.0, §5.16.1): Error
/// Information, SMART / Health Information, Firmware Slot Information and Changed Namespace List. Each writes the
/// whole page into a caller's buffer; the target copies the requested window (offset, length) out of it.
/// </summary>
public static class NvmeLogPages
{
    /// <summary>Size of one Error Information log entry.</summary>
    public const int ErrorEntrySize = 64;

    /// <summary>Size of the SMART / Health Information log page.</summary>
    public const int SmartHealthSize = 512;

    /// <summary>Size of the Firmware Slot Information log page.</summary>
    public const int FirmwareSlotSize = 512;

    /// <summary>Size of the Changed Namespace List log page (1024 NSIDs).</summary>
    public const int ChangedNamespaceListSize = 4096;

    /// <summary>Spare capacity reported (Available Spare, %), and the threshold below which it would warn.</summary>
    public const byte AvailableSpare = 100, AvailableSpareThreshold = 10;

    /// <summary>
    /// Writes <paramref name="entries"/> Error Information entries with Error Count 0, which marks an entry as
    /// invalid: this controller records no errors in the log (the command's completion status carries them).
    /// </summary>
    /// <param name="entries">Entries (ELPE + 1).</param>
    /// <param name="destination">At least 64 × <paramref name="entries"/> bytes.</param>
    public static void WriteErrorInformation(int entries, Span<byte> destination)
    {
        if (entries < 1 || destination.Length < entries * ErrorEntrySize)
        {
            NvmeThrow.Argument(nameof(destination), $"{entries} error log entries need {entries * ErrorEntrySize} bytes; the destination has {destination.Length}.");
        }

        destination.Slice(0, entries * ErrorEntrySize).Clear();
    }

    /// <summary>
    /// Writes the SMART / Health Information page (NVMe Base 2.0, Figure "SMART / Health Information Log Page"):
    /// Critical Warning byte 0, Composite Temperature 2:1 (0: a software target has no sensor, as Linux nvmet
    /// reports), Available Spare 3, Threshold 4, Percentage Used 5, Data Units Read 47:32, Data Units Written 63:48,
    /// Host Read Commands 79:64, Host Write Commands 95:80, Power Cycles 127:112 (1), Power On Hours 143:128, Media
    /// and Data Integrity Errors 175:160; the 128-bit counters are little-endian and their high halves zero.
    /// </summary>
    /// <param name="counters">Counter values.</param>
    /// <param name="destination">At least 512 bytes.</param>
    public static void WriteSmartHealth(in SmartHealthCounters counters, Span<byte> destination)
    {
        if (destination.Length < SmartHealthSize)
        {
            NvmeThrow.Argument(nameof(destination), $"The SMART / Health page is {SmartHealthSize} bytes; the destination has {destination.Length}.");
        }

        Span<byte> d = destination.Slice(0, SmartHealthSize);
        d.Clear();
        d[0] = counters.ReadOnly ? (byte)0x08 : (byte)0;
        d[3] = AvailableSpare;
        d[4] = AvailableSpareThreshold;
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(32), DataUnits(counters.BytesRead));
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(48), DataUnits(counters.BytesWritten));
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(64), (ulong)Math.Max(0, counters.ReadCommands));
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(80), (ulong)Math.Max(0, counters.WriteCommands));
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(112), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(128), (ulong)Math.Max(0, counters.PowerOnHours));
        BinaryPrimitives.WriteUInt64LittleEndian(d.Slice(160), (ulong)Math.Max(0, counters.MediaErrors));
    }

    /// <summary>Data units as the SMART page counts them: thousands of 512-byte units, rounded up.</summary>
    /// <param name="bytes">Bytes moved.</param>
    public static ulong DataUnits(long bytes) => bytes <= 0 ? 0 : (ulong)((bytes + 511_999) / 512_000);

    /// <summary>
    /// Writes the Firmware Slot Information page (NVMe Base 2.0, Figure "Firmware Slot Information Log Page"): AFI
    /// byte 0 = slot 1 active (bits 2:0), no slot pending for the next reset; FRS1 bytes 15:8 = the revision, ASCII,
    /// space padded; the other slots empty.
    /// </summary>
    /// <param name="firmwareRevision">Revision of slot 1 (as Identify Controller FR), at most 8 printable ASCII characters.</param>
    /// <param name="destination">At least 512 bytes.</param>
    public static void WriteFirmwareSlot(string firmwareRevision, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(firmwareRevision);
        if (destination.Length < FirmwareSlotSize)
        {
            NvmeThrow.Argument(nameof(destination), $"The Firmware Slot page is {FirmwareSlotSize} bytes; the destination has {destination.Length}.");
        }

        if (firmwareRevision.Length > 8 || firmwareRevision.Any(c => c is < ' ' or > '~'))
        {
            NvmeThrow.Argument(nameof(firmwareRevision), $"A firmware revision is at most 8 printable ASCII characters, not '{firmwareRevision}'.");
        }

        Span<byte> d = destination.Slice(0, FirmwareSlotSize);
        d.Clear();
        d[0] = 0x01;
        Span<byte> frs1 = d.Slice(8, 8);
        frs1.Fill((byte)' ');
        for (int i = 0; i < firmwareRevision.Length; i++)
        {
            frs1[i] = (byte)firmwareRevision[i];
        }
    }

    /// <summary>
    /// Writes the Changed Namespace List page: up to 1024 NSIDs, ascending, zero-filled; more than 1024 changes are
    /// reported as FFFFFFFFh in the first entry and zeros after it.
    /// </summary>
    /// <param name="changed">NSIDs whose attributes changed since the page was last read (ascending).</param>
    /// <param name="destination">At least 4096 bytes.</param>
    public static void WriteChangedNamespaceList(ReadOnlySpan<uint> changed, Span<byte> destination)
    {
        if (destination.Length < ChangedNamespaceListSize)
        {
            NvmeThrow.Argument(nameof(destination), $"The Changed Namespace List page is {ChangedNamespaceListSize} bytes; the destination has {destination.Length}.");
        }

        Span<byte> d = destination.Slice(0, ChangedNamespaceListSize);
        d.Clear();
        if (changed.Length > 1024)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(d, 0xFFFF_FFFF);
            return;
        }

        for (int i = 0; i < changed.Length; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(d.Slice(4 * i), changed[i]);
        }
    }
}
