using Scalio.Fast.Cache;

namespace Scalio.Tests.Protocol;

/// <summary>The header word, bit for bit (SlotHeader is the one place that knows the layout).</summary>
public class SlotHeaderTests
{
    [Fact]
    public void Fields_sit_at_their_documented_bits()
    {
        ulong h = SlotHeader.Make(SlotState.Valid, 0xABCD, 0x1234, 5);
        Assert.Equal(2UL | (0xABCDUL << 2) | (0x1234UL << 18) | (5UL << 34), h);
        Assert.Equal(0, SlotHeader.StateShift);
        Assert.Equal(2, SlotHeader.FingerprintShift);
        Assert.Equal(18, SlotHeader.LeaseShift);
        Assert.Equal(34, SlotHeader.VersionShift);
        // The four fields tile the word exactly: no gaps, no overlaps.
        ulong all = (SlotHeader.StateMask << SlotHeader.StateShift) | (SlotHeader.FingerprintMask << SlotHeader.FingerprintShift)
                  | (SlotHeader.LeaseMask << SlotHeader.LeaseShift) | (SlotHeader.VersionMask << SlotHeader.VersionShift);
        Assert.Equal(ulong.MaxValue, all);
        Assert.Equal(64, System.Numerics.BitOperations.PopCount(SlotHeader.StateMask) + System.Numerics.BitOperations.PopCount(SlotHeader.FingerprintMask)
                       + System.Numerics.BitOperations.PopCount(SlotHeader.LeaseMask) + System.Numerics.BitOperations.PopCount(SlotHeader.VersionMask));
    }

    [Theory]
    [InlineData(SlotState.Free, 0, 0, 0u)]
    [InlineData(SlotState.Filling, 0xFFFF, 0xFFFF, (1u << 30) - 1)]
    [InlineData(SlotState.Orphan, 0x8001, 0x0102, 123456u)]
    public void Make_and_the_accessors_round_trip(SlotState state, int fp, int lease, uint version)
    {
        ulong h = SlotHeader.Make(state, (ushort)fp, (ushort)lease, version);
        Assert.Equal(state, SlotHeader.State(h));
        Assert.Equal((ushort)fp, SlotHeader.Fingerprint(h));
        Assert.Equal((ushort)lease, SlotHeader.Lease(h));
        Assert.Equal(version, SlotHeader.Version(h));
    }

    [Fact]
    public void Every_transition_bumps_the_version_and_it_wraps_within_its_field()
    {
        ulong h = SlotHeader.Make(SlotState.Filling, 7, 9, (1u << 30) - 1);
        ulong v = SlotHeader.Next(h, SlotState.Valid);
        Assert.Equal(0u, SlotHeader.Version(v));
        Assert.Equal(SlotState.Valid, SlotHeader.State(v));
        Assert.Equal((ushort)7, SlotHeader.Fingerprint(v));
        Assert.Equal((ushort)9, SlotHeader.Lease(v));
        Assert.NotEqual(h, v);
        ulong f = SlotHeader.Next(v, SlotState.Free, 0, 0);
        Assert.Equal(1u, SlotHeader.Version(f));
        Assert.Equal(SlotHeader.Make(SlotState.Free, 0, 0, 1), f);
    }
}
