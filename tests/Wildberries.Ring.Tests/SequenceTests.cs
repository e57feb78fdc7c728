using System.Runtime.CompilerServices;
using Wildberries.Ring;

namespace Wildberries.Ring.Tests;

public class SequenceTests
{
    private const int CacheLineBytes = 64;

    // The raw layout of a managed object: a reference reinterpreted as this class exposes its first field byte.
    private sealed class RawObject
    {
#pragma warning disable CS0649 // Never written: only its address is taken.
        public byte FirstFieldByte;
#pragma warning restore CS0649
    }

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_value")]
    private static extern ref long ValueField(Sequence sequence);

    [Fact]
    public void The_value_sits_alone_on_its_cache_line()
    {
        // Measures the managed layout the runtime really chose (Marshal.SizeOf reports the marshalled size, which
        // StructLayout.Size pins whatever the fields are). A 64-byte line holding the 8-byte value reaches at most
        // 56 bytes before and after it: both must be this object's own padding.
        var sequence = new Sequence();
        ref var first = ref Unsafe.As<RawObject>(sequence).FirstFieldByte;
        ref var value = ref Unsafe.As<long, byte>(ref ValueField(sequence));
        var before = (long)Unsafe.ByteOffset(ref first, ref value);

        // What an instance really occupies on the heap, object header and method table included.
        const int count = 1_000;
        var keep = new Sequence[count];
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < count; i++) keep[i] = new Sequence();
        var perObject = (GC.GetAllocatedBytesForCurrentThread() - allocatedBefore) / count;
        GC.KeepAlive(keep);
        var fieldBytes = perObject - (2 * IntPtr.Size);
        var after = fieldBytes - before - sizeof(long);

        Assert.True(before >= CacheLineBytes - sizeof(long), $"only {before} bytes of padding before the value");
        Assert.True(after >= CacheLineBytes - sizeof(long), $"only {after} bytes of padding after the value ({fieldBytes} field bytes)");
        Assert.Equal(0, before % sizeof(long)); // aligned, so interlocked operations on it are atomic
    }

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
