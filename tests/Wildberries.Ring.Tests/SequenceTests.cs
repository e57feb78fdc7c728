using Wildberries.Ring;

namespace Wildberries.Ring.Tests;

public class SequenceTests
{
    [Fact]
    public void A_sequence_owns_two_cache_lines() =>
        // 56 bytes of padding before the value and 64 after: neighbouring sequences never share a cache line.
        Assert.Equal(128, System.Runtime.InteropServices.Marshal.SizeOf<Sequence>());

    [Fact]
    public void Sequence_operations()
    {
        var s = new Sequence();
        Assert.Equal(Sequence.InitialValue, s.Value);
        Assert.True(s.CompareAndSet(-1, 5));
        Assert.False(s.CompareAndSet(-1, 6));
        Assert.Equal(8, s.AddAndGet(3));
        s.SetVolatile(2);
        Assert.Equal(2, Sequence.Min([s, new Sequence(7)]));
        Assert.Equal(-5, Sequence.Min([], -5));
    }
}
