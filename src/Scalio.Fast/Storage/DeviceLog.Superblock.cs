using System.Buffers.Binary;
using System.IO.Hashing;
using Scalio.Nvme;

namespace Scalio.Fast.Storage;

// The superblock and the two checkpoint slots: format, check, write.
internal sealed unsafe partial class DeviceLog
{
    /// <summary>Layout version written to the superblock: a log that may hold value records is version 2, so a build
    /// that only knows bucket blocks refuses it instead of ending its replay at the first value record.</summary>
    private uint Version => _valuePages > 0 ? ValueLogFormatVersion : FormatVersion;

    private ulong CheckpointPage(int slot) => 1 + (ulong)(slot * _checkpointPages);

    private void Format()
    {
        _epoch = 1;
        _counter = 0;
        _lastSequence = _epoch << EpochShift;
        _head = 0;
        _free = _logPages;
        Array.Clear(_owner);
        for (int i = 0; i < _localBuckets; i++) _store.Publish(i * _deviceCount + _device, default);
        // Both checkpoint slots first (so a crash right after formatting recovers), the superblock last.
        _checkpointSlot = 0;
        WriteCheckpoint();
        WriteCheckpoint();
        WriteSuperblock();
        Recovery = new RecoveryReport(true, _epoch, 0, 0, 0);
    }

    private void WriteSuperblock()
    {
        var sb = new Span<byte>(_scratch, _pageSize);
        sb.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(sb, SuperMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[4..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[16..], (uint)_pageSize);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[20..], (uint)_device);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[24..], (uint)_deviceCount);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[28..], (uint)_bucketCount);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[32..], _logStart);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[40..], (ulong)_logPages);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[48..], _epoch);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[56..], (uint)_checkpointPages);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[8..], XxHash3.HashToUInt64(sb[16..SuperHeaderBytes]));
        if (!WritePages(0, 1, sb).IsSuccess) throw new IOException($"device {_device}: cannot write the superblock");
    }

    /// <summary>Page size, device index and device count of an intact superblock (magic and checksum hold); false
    /// otherwise. The one reader of page 0's identity, for this log and for the NVMe/TCP target over its files.</summary>
    internal static bool TryReadSuperblockIdentity(ReadOnlySpan<byte> sb, out uint pageSize, out uint device, out uint devices)
    {
        pageSize = device = devices = 0;
        if (sb.Length < SuperHeaderBytes || BinaryPrimitives.ReadUInt32LittleEndian(sb) != SuperMagic
            || BinaryPrimitives.ReadUInt64LittleEndian(sb[8..]) != XxHash3.HashToUInt64(sb[16..SuperHeaderBytes]))
            return false;
        pageSize = BinaryPrimitives.ReadUInt32LittleEndian(sb[16..]);
        device = BinaryPrimitives.ReadUInt32LittleEndian(sb[20..]);
        devices = BinaryPrimitives.ReadUInt32LittleEndian(sb[24..]);
        return true;
    }

    private void CheckSuperblock(ReadOnlySpan<byte> sb)
    {
        if (!TryReadSuperblockIdentity(sb, out _, out _, out _))
            throw new InvalidDataException($"device {_device} ({_ns}): page 0 is not an intact Scalio superblock; refusing to overwrite it (use an empty file or directory)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(sb[4..]);
        if (version != Version)
            throw new InvalidDataException($"device {_device}: layout version {version}, but this schema needs {Version} " +
                $"({(Version == ValueLogFormatVersion ? "with" : "without")} a value log); open it with the schema it was created with");
        var found = (Page: BinaryPrimitives.ReadUInt32LittleEndian(sb[16..]), Device: BinaryPrimitives.ReadUInt32LittleEndian(sb[20..]),
            Devices: BinaryPrimitives.ReadUInt32LittleEndian(sb[24..]), Buckets: BinaryPrimitives.ReadUInt32LittleEndian(sb[28..]),
            LogStart: BinaryPrimitives.ReadUInt64LittleEndian(sb[32..]), LogPages: BinaryPrimitives.ReadUInt64LittleEndian(sb[40..]));
        var expected = (Page: (uint)_pageSize, Device: (uint)_device, Devices: (uint)_deviceCount, Buckets: (uint)_bucketCount, LogStart: _logStart, LogPages: (ulong)_logPages);
        if (found != expected)
            throw new InvalidDataException($"device {_device}: the store on it was made with a different geometry (page size, device, devices, buckets, log start, log pages) = {found}, now {expected}; open it with the options it was created with");
    }

    private bool VerifyCheckpoint(ReadOnlySpan<byte> area)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(area) != CheckpointMagic) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(area[40..]) != (uint)_localBuckets) return false;
        int bytes = CheckpointHeaderBytes + 16 * _localBuckets;
        return BinaryPrimitives.ReadUInt64LittleEndian(area[8..]) == XxHash3.HashToUInt64(area[16..bytes]);
    }

    /// <summary>Writes the location index of this device's buckets and the log head to the next checkpoint slot.
    /// Caller holds <see cref="Gate"/>.</summary>
    private void WriteCheckpoint()
    {
        if (!TryWriteCheckpoint()) throw new IOException($"device {_device}: cannot write checkpoint slot {_checkpointSlot}");
    }

    /// <summary>As <see cref="WriteCheckpoint"/>; false on an I/O error (the previous checkpoint stays valid).</summary>
    private bool TryWriteCheckpoint()
    {
        int bytes = CheckpointHeaderBytes + 16 * _localBuckets;
        var area = new Span<byte>(_checkpoint, _checkpointPages * _pageSize);
        area.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(area, CheckpointMagic);
        BinaryPrimitives.WriteUInt64LittleEndian(area[16..], _lastSequence);
        BinaryPrimitives.WriteUInt64LittleEndian(area[24..], (ulong)_head);
        BinaryPrimitives.WriteUInt64LittleEndian(area[32..], _epoch);
        BinaryPrimitives.WriteUInt32LittleEndian(area[40..], (uint)_localBuckets);
        BinaryPrimitives.WriteUInt32LittleEndian(area[44..], (uint)_device);
        for (int i = 0; i < _localBuckets; i++)
        {
            var loc = _store.LocationOf(i * _deviceCount + _device);
            if (!loc.Exists) continue;
            BinaryPrimitives.WriteUInt64LittleEndian(area[(CheckpointHeaderBytes + 16 * i)..], loc.Page);
            BinaryPrimitives.WriteUInt64LittleEndian(area[(CheckpointHeaderBytes + 16 * i + 8)..], loc.Sequence);
        }
        BinaryPrimitives.WriteUInt64LittleEndian(area[8..], XxHash3.HashToUInt64(area[16..bytes]));
        if (!WritePages(CheckpointPage(_checkpointSlot), _checkpointPages, area).IsSuccess) return false;
        _checkpointSlot ^= 1;
        _pagesSinceCheckpoint = 0;
        Interlocked.Increment(ref _checkpoints);
        return true;
    }

    /// <summary>Writes a checkpoint now (clean shutdown; tests).</summary>
    public void Checkpoint()
    {
        lock (Gate) WriteCheckpoint();
    }
}
