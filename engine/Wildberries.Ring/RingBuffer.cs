using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Wildberries.Ring;

/// <summary>
/// Preallocated slots indexed by an ever-growing sequence. Producers claim, fill in place and publish; consumers
/// read in place. Nothing is allocated after construction.
/// </summary>
/// <typeparam name="T">The slot type; a struct keeps the slots contiguous in memory.</typeparam>
public sealed class RingBuffer<T>
{
    private readonly T[] _entries;
    private readonly long _indexMask;

    private RingBuffer(Sequencer sequencer, Func<T>? factory)
    {
        Sequencer = sequencer;
        _entries = new T[sequencer.BufferSize];
        _indexMask = sequencer.BufferSize - 1;
        if (factory is not null)
        {
            for (var i = 0; i < _entries.Length; i++) _entries[i] = factory();
        }
    }

    /// <summary>A ring fed by one producer thread.</summary>
    public static RingBuffer<T> CreateSingleProducer(int bufferSize, IWaitStrategy? waitStrategy = null, Func<T>? factory = null) =>
        new(new SingleProducerSequencer(bufferSize, waitStrategy ?? new BlockingWaitStrategy()), factory);

    /// <summary>A ring fed by any number of producer threads.</summary>
    public static RingBuffer<T> CreateMultiProducer(int bufferSize, IWaitStrategy? waitStrategy = null, Func<T>? factory = null) =>
        new(new MultiProducerSequencer(bufferSize, waitStrategy ?? new BlockingWaitStrategy()), factory);

    /// <summary>The sequencer that coordinates producers and consumers of this ring.</summary>
    public Sequencer Sequencer { get; }

    /// <summary>The number of slots.</summary>
    public int BufferSize => _entries.Length;

    /// <summary>The highest claimed sequence.</summary>
    public long Cursor => Sequencer.Cursor.Value;

    /// <summary>The slot for <paramref name="sequence"/>, by reference so it is filled and read in place.</summary>
    public ref T this[long sequence]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        // The mask keeps the index inside the array, so the bounds check the JIT would add is redundant.
        get => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_entries), (nint)(sequence & _indexMask));
    }

    /// <summary>Claims the next slot, waiting while the ring is full.</summary>
    public long Next() => Sequencer.Next(1);

    /// <summary>Claims <paramref name="n"/> slots and returns the highest, waiting while the ring is full.</summary>
    public long Next(int n) => Sequencer.Next(n);

    /// <summary>Claims the next slot unless the ring is full.</summary>
    public bool TryNext(out long sequence) => Sequencer.TryNext(1, out sequence);

    /// <summary>Publishes a filled slot.</summary>
    public void Publish(long sequence) => Sequencer.Publish(sequence);

    /// <summary>Publishes a range of filled slots.</summary>
    public void Publish(long low, long high) => Sequencer.Publish(low, high);

    /// <summary>A barrier after the producers, or after the given stages.</summary>
    public SequenceBarrier NewBarrier(params Sequence[] dependents) => Sequencer.NewBarrier(dependents);

    /// <summary>Stops producers from overtaking these consumers.</summary>
    public void AddGatingSequences(params Sequence[] sequences) => Sequencer.AddGatingSequences(sequences);
}
