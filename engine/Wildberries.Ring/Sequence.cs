using System.Runtime.InteropServices;

namespace Wildberries.Ring;

/// <summary>
/// A position in the ring, owned by one writer (a producer cursor or a processor) and read by others.
/// </summary>
/// <remarks>
/// The value sits alone on its own cache lines: 56 bytes of padding before it and 64 after, so two sequences
/// written by different threads never share a line (false sharing would cost a cache miss per read).
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 128)]
public sealed class Sequence
{
    /// <summary>The value of a sequence before anything was published: the first slot is 0.</summary>
    public const long InitialValue = -1;

    [FieldOffset(56)]
    private long _value;

    // The runtime ignores StructLayout.Size on classes, so this unused field is what reserves the 64 bytes after the value.
    [FieldOffset(120)]
    private readonly long _paddingEnd;

    /// <summary>Creates a sequence at <paramref name="initialValue"/>.</summary>
    public Sequence(long initialValue = InitialValue) => _value = initialValue;

    /// <summary>
    /// Reads with acquire semantics: what the writer stored before its release-store of this value is visible.
    /// </summary>
    public long Value
    {
        get => Volatile.Read(ref _value);
        // Release store: every slot write before it is visible to a reader that sees the new value.
        set => Volatile.Write(ref _value, value);
    }

    /// <summary>
    /// Stores with a full fence, so that a following load (of another thread's sequence) is not reordered before it.
    /// </summary>
    public void SetVolatile(long value) => Interlocked.Exchange(ref _value, value);

    /// <summary>Atomically replaces <paramref name="expected"/> with <paramref name="next"/>.</summary>
    public bool CompareAndSet(long expected, long next) =>
        Interlocked.CompareExchange(ref _value, next, expected) == expected;

    /// <summary>Atomically adds <paramref name="increment"/> and returns the new value.</summary>
    public long AddAndGet(long increment) => Interlocked.Add(ref _value, increment);

    /// <inheritdoc />
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The smallest value among <paramref name="sequences"/>, or <paramref name="minimum"/> when it is smaller or there are none.</summary>
    public static long Min(Sequence[] sequences, long minimum = long.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        foreach (var s in sequences)
        {
            var v = s.Value;
            if (v < minimum) minimum = v;
        }
        return minimum;
    }
}
