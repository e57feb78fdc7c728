using Wildberries.Ring;

namespace Wildberries.Ring.Tests;

/// <summary>The behaviour every sequencer must have; subclassed once per implementation.</summary>
public abstract class SequencerContract
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan HeldFor = TimeSpan.FromMilliseconds(250);

    protected abstract Sequencer Create(int bufferSize, IWaitStrategy waitStrategy);

    private Sequencer CreateGated(int size, out Sequence gate)
    {
        var sequencer = Create(size, new BlockingWaitStrategy());
        gate = new Sequence();
        sequencer.AddGatingSequences(gate);
        return sequencer;
    }

    [Fact]
    public void Claims_start_at_zero_and_are_contiguous()
    {
        var s = CreateGated(8, out _);
        Assert.Equal(0, s.Next());
        Assert.Equal(1, s.Next());
        Assert.Equal(4, s.Next(3));
    }

    [Fact]
    public void A_claimed_slot_is_not_available_until_published()
    {
        var s = CreateGated(8, out _);
        var seq = s.Next();
        Assert.False(s.IsAvailable(seq));
        s.Publish(seq);
        Assert.True(s.IsAvailable(seq));
    }

    [Fact]
    public void A_full_ring_refuses_TryNext_until_the_gate_moves()
    {
        var s = CreateGated(4, out var gate);
        for (var i = 0; i < 4; i++)
        {
            Assert.True(s.TryNext(1, out var seq));
            s.Publish(seq);
        }
        Assert.False(s.TryNext(1, out _));
        Assert.Equal(0, s.RemainingCapacity);
        gate.Value = 0;
        Assert.True(s.TryNext(1, out var next));
        Assert.Equal(4, next);
    }

    [Fact]
    public async Task Next_waits_while_the_ring_is_full_and_resumes_when_the_consumer_moves_far_enough()
    {
        var s = CreateGated(4, out var gate);
        for (var i = 0; i < 4; i++) s.Publish(s.Next());
        // Claiming two more slots (4 and 5) overwrites slots 0 and 1: the consumer must have finished slot 1.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var claim = Task.Factory.StartNew(() =>
        {
            started.SetResult();
            return s.Next(2);
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        await started.Task.WaitAsync(Patience, TestContext.Current.CancellationToken);

        // Showing that something does NOT happen needs a bounded wait: a claim that does not wait returns within
        // microseconds of starting, so 250 ms without an answer means the producer is held.
        await AssertStillWaiting(claim);
        gate.Value = 0; // one slot freed, two needed
        await AssertStillWaiting(claim);
        gate.Value = 1;
        Assert.Equal(5, await claim.WaitAsync(Patience, TestContext.Current.CancellationToken));
    }

    private static async Task AssertStillWaiting(Task<long> claim)
    {
        var first = await Task.WhenAny(claim, Task.Delay(HeldFor, TestContext.Current.CancellationToken));
        Assert.False(first == claim, "the claim returned while the ring was full");
    }

    [Fact]
    public void A_barrier_sees_every_published_slot_as_one_batch()
    {
        var s = CreateGated(16, out _);
        var barrier = s.NewBarrier();
        var hi = s.Next(5);
        s.Publish(hi - 4, hi);
        Assert.Equal(4, barrier.WaitFor(0));
    }

    [Fact]
    public void Claims_beyond_the_ring_size_are_bugs()
    {
        var s = CreateGated(4, out _);
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Next(5));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Next(0));
    }

    [Fact]
    public void The_ring_size_must_be_a_power_of_two() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Create(6, new BlockingWaitStrategy()));
}

public sealed class SingleProducerSequencerTests : SequencerContract
{
    protected override Sequencer Create(int bufferSize, IWaitStrategy waitStrategy) => new SingleProducerSequencer(bufferSize, waitStrategy);
}

public sealed class MultiProducerSequencerTests : SequencerContract
{
    protected override Sequencer Create(int bufferSize, IWaitStrategy waitStrategy) => new MultiProducerSequencer(bufferSize, waitStrategy);

    [Fact]
    public void Slots_published_out_of_order_are_consumed_only_up_to_the_first_gap()
    {
        var s = new MultiProducerSequencer(8, new BlockingWaitStrategy());
        s.AddGatingSequences(new Sequence());
        var a = s.Next();
        var b = s.Next();
        var c = s.Next();
        s.Publish(a);
        s.Publish(c);
        Assert.Equal(a, s.GetHighestPublishedSequence(a, c));
        s.Publish(b);
        Assert.Equal(c, s.GetHighestPublishedSequence(a, c));
    }
}
