using Wildberries.Ring;

namespace Wildberries.Ring.Tests;

public class PipelineTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private struct Slot
    {
        public long Value;
        public int Producer;
        public long Journaled;
        public long Replicated;
    }

    private sealed class Recorder(Action<long, Slot>? check = null) : IEventHandler<Slot>
    {
        public readonly List<Slot> Seen = [];
        public readonly List<bool> EndOfBatch = [];
        public int Batches;
        public long Expected = -1;
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnEvent(ref Slot data, long sequence, bool endOfBatch)
        {
            check?.Invoke(sequence, data);
            Seen.Add(data);
            EndOfBatch.Add(endOfBatch);
            if (endOfBatch) Batches++;
            if (sequence == Expected) Done.TrySetResult();
        }
    }

    // Completes a task when a given sequence arrives; the next one can be armed after.
    private sealed class Arrivals : IEventHandler<Slot>
    {
        private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _target = -1;

        public Task Expect(long sequence)
        {
            var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _arrived, arrived);
            Volatile.Write(ref _target, sequence);
            return arrived.Task;
        }

        public void OnEvent(ref Slot data, long sequence, bool endOfBatch)
        {
            if (sequence == Volatile.Read(ref _target)) Volatile.Read(ref _arrived).TrySetResult();
        }
    }

    private sealed class Stamp(bool journal) : IEventHandler<Slot>
    {
        public void OnEvent(ref Slot data, long sequence, bool endOfBatch)
        {
            if (journal) data.Journaled = sequence + 1;
            else data.Replicated = sequence + 1;
        }
    }

    public static TheoryData<string> Strategies => ["blocking", "yielding", "busy-spin", "phased"];

    private static IWaitStrategy Strategy(string name) => name switch
    {
        "yielding" => new YieldingWaitStrategy(),
        "busy-spin" => new BusySpinWaitStrategy(),
        "phased" => new PhasedBackoffWaitStrategy(),
        _ => new BlockingWaitStrategy(),
    };

    private static Thread Run<T>(BatchEventProcessor<T> p)
    {
        var t = new Thread(p.Run) { IsBackground = true };
        t.Start();
        return t;
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Every_value_from_every_producer_arrives_once_in_per_producer_order(string strategy)
    {
        const int producers = 4;
        const int perProducer = 50_000;
        var ring = RingBuffer<Slot>.CreateMultiProducer(1024, Strategy(strategy));
        var consumer = new Recorder { Expected = (producers * perProducer) - 1 };
        var processor = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(), consumer);
        ring.AddGatingSequences(processor.Sequence);
        var thread = Run(processor);

        var tasks = Enumerable.Range(0, producers).Select(p => Task.Factory.StartNew(() =>
        {
            for (long i = 0; i < perProducer; i++)
            {
                var seq = ring.Next();
                ring[seq] = new Slot { Value = i, Producer = p };
                ring.Publish(seq);
            }
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        await Task.WhenAll(tasks).WaitAsync(Patience, TestContext.Current.CancellationToken);
        await consumer.Done.Task.WaitAsync(Patience, TestContext.Current.CancellationToken);
        processor.Halt();
        thread.Join();

        Assert.Equal(producers * perProducer, consumer.Seen.Count);
        for (var p = 0; p < producers; p++)
        {
            var values = consumer.Seen.Where(s => s.Producer == p).Select(s => s.Value).ToList();
            Assert.Equal(Enumerable.Range(0, perProducer).Select(i => (long)i), values);
        }
        Assert.Null(processor.Fault);
    }

    [Fact]
    public async Task A_consumer_that_fell_behind_takes_everything_waiting_as_one_batch()
    {
        // Group commit rests on this: the journal stage, held up by one fsync, finds the slots published meanwhile
        // and takes them all as a single batch with endOfBatch on the last one only.
        const int behind = 99;
        var ring = RingBuffer<Slot>.CreateSingleProducer(128);
        using var gate = new ManualResetEventSlim(false);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new Recorder((sequence, _) =>
        {
            if (sequence != 0) return;
            entered.TrySetResult();
            if (!gate.Wait(Patience)) throw new TimeoutException("the test never opened the gate");
        }) { Expected = behind };
        var processor = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(), consumer);
        ring.AddGatingSequences(processor.Sequence);
        var thread = Run(processor);

        ring.Publish(ring.Next());
        await entered.Task.WaitAsync(Patience, TestContext.Current.CancellationToken);
        for (var i = 1; i <= behind; i++)
        {
            var seq = ring.Next();
            ring[seq] = new Slot { Value = i };
            ring.Publish(seq);
        }
        gate.Set();
        await consumer.Done.Task.WaitAsync(Patience, TestContext.Current.CancellationToken);
        processor.Halt();
        thread.Join();

        Assert.Null(processor.Fault);
        Assert.Equal(Enumerable.Range(0, behind + 1).Select(i => (long)i), consumer.Seen.Select(s => s.Value));
        // The first slot alone, then the 99 that waited as one batch.
        bool[] expected = [true, .. Enumerable.Repeat(false, behind - 1), true];
        Assert.Equal(expected, consumer.EndOfBatch);
        Assert.Equal(2, consumer.Batches);
    }

    [Fact]
    public async Task Journal_and_replicate_run_side_by_side_and_apply_only_sees_slots_both_finished()
    {
        const int count = 100_000;
        var ring = RingBuffer<Slot>.CreateSingleProducer(256);
        var journal = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(), new Stamp(journal: true));
        var replicate = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(), new Stamp(journal: false));
        var violations = 0;
        var apply = new Recorder((seq, slot) =>
        {
            if (slot.Journaled != seq + 1 || slot.Replicated != seq + 1) Interlocked.Increment(ref violations);
        }) { Expected = count - 1 };
        var applyProcessor = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(journal.Sequence, replicate.Sequence), apply);
        ring.AddGatingSequences(applyProcessor.Sequence);
        var threads = new[] { Run(journal), Run(replicate), Run(applyProcessor) };

        for (long i = 0; i < count; i++)
        {
            var seq = ring.Next();
            ring[seq] = new Slot { Value = i };
            ring.Publish(seq);
        }
        await apply.Done.Task.WaitAsync(Patience, TestContext.Current.CancellationToken);
        foreach (var p in new[] { journal, replicate, applyProcessor }) p.Halt();
        foreach (var t in threads) t.Join();

        Assert.Equal(0, violations);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), apply.Seen.Select(s => s.Value));
    }

    // The journal stage of the in-place test: stamps each slot, and at the end of some batches (chosen by the seed)
    // runs the apply stage itself when that stage lets it.
    private sealed class JournalRunningApply(int seed) : IEventHandler<Slot>
    {
        private readonly Random _random = new(seed);
        private long _first = -1;

        public BatchEventProcessor<Slot>? Apply { get; set; }

        public int InPlace { get; private set; }

        public void OnEvent(ref Slot data, long sequence, bool endOfBatch)
        {
            data.Journaled = sequence + 1;
            if (_first < 0) _first = sequence;
            if (!endOfBatch) return;
            var first = _first;
            _first = -1;
            if (_random.Next(4) != 0 && Apply!.TryRunInPlace(first, sequence)) InPlace++;
        }
    }

    [Fact]
    public async Task A_stage_run_in_place_by_the_stage_before_it_still_sees_every_slot_once_in_order_on_one_thread_at_a_time()
    {
        // A small ring wraps many times, so a stage thread waiting for a sequence the other thread already ran in
        // place is a whole lap behind: it must start after what was run, and never wait for a slot's old lap.
        var seed = Wildberries.Testing.TestSeed.Get(line => TestContext.Current.TestOutputHelper?.WriteLine(line), "WB_PIPELINE_SEED");
        const int count = 200_000;
        var ring = RingBuffer<Slot>.CreateMultiProducer(64, new PhasedBackoffWaitStrategy());
        var journalHandler = new JournalRunningApply(seed);
        var journal = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(), journalHandler);
        var inside = 0;
        var overlaps = 0;
        var outOfOrder = 0;
        long last = -1;
        var apply = new Recorder((sequence, slot) =>
        {
            if (Interlocked.Increment(ref inside) != 1) Interlocked.Increment(ref overlaps);
            if (sequence != last + 1 || slot.Journaled != sequence + 1) Interlocked.Increment(ref outOfOrder);
            last = sequence;
            Interlocked.Decrement(ref inside);
        }) { Expected = count - 1 };
        var applyProcessor = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(journal.Sequence), apply);
        journalHandler.Apply = applyProcessor;
        ring.AddGatingSequences(applyProcessor.Sequence);
        var threads = new[] { Run(journal), Run(applyProcessor) };

        var pauses = new Random(seed + 1);
        for (long i = 0; i < count; i++)
        {
            var seq = ring.Next();
            ring[seq] = new Slot { Value = i };
            ring.Publish(seq);
            // Now and then a gap, so the stream has small batches the journal stage may run in place.
            if (pauses.Next(64) == 0) Thread.SpinWait(pauses.Next(2_000));
        }
        await apply.Done.Task.WaitAsync(Patience, TestContext.Current.CancellationToken);
        journal.Halt();
        applyProcessor.Halt();
        foreach (var t in threads) t.Join();

        Assert.Null(journal.Fault);
        Assert.Null(applyProcessor.Fault);
        Assert.Equal(0, overlaps);
        Assert.Equal(0, outOfOrder);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i), apply.Seen.Select(s => s.Value));
        Assert.True(journalHandler.InPlace > 0, "no batch was run in place");
        Assert.Equal(count - 1, applyProcessor.Sequence.Value);
    }

    [Fact]
    public async Task Running_a_stage_in_place_is_refused_while_it_is_behind_and_taken_while_it_is_idle()
    {
        var ring = RingBuffer<Slot>.CreateSingleProducer(16);
        var upstream = new Sequence();
        var recorder = new Recorder();
        var processor = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(upstream), recorder);
        ring.AddGatingSequences(processor.Sequence);
        for (var i = 0; i < 6; i++)
        {
            var seq = ring.Next();
            ring[seq] = new Slot { Value = i };
            ring.Publish(seq);
        }
        Assert.False(processor.TryRunInPlace(0, 1)); // not running yet
        var thread = Run(processor);
        await Wildberries.Testing.Eventually.UntilAsync(() => processor.IsRunning, TimeSpan.FromSeconds(30), () => "the processor's thread to start", TestContext.Current.CancellationToken);

        Assert.False(processor.TryRunInPlace(1, 2)); // behind: slot 0 is not done
        Assert.Empty(recorder.Seen);
        Assert.True(processor.TryRunInPlace(0, 1)); // idle and caught up: runs here
        Assert.Equal([0L, 1L], recorder.Seen.Select(s => s.Value));
        Assert.Equal(1, processor.Sequence.Value);
        Assert.False(processor.TryRunInPlace(0, 1)); // done already

        // The stage's own thread goes on after what was run in place.
        recorder.Expected = 5;
        upstream.Value = 5;
        ring.Sequencer.WaitStrategy.SignalAllWhenBlocking();
        await recorder.Done.Task.WaitAsync(Patience, TestContext.Current.CancellationToken);
        processor.Halt();
        thread.Join();
        Assert.Equal([0L, 1L, 2L, 3L, 4L, 5L], recorder.Seen.Select(s => s.Value));
    }

    [Fact]
    public async Task Halt_stops_an_idle_processor_and_it_cannot_run_twice()
    {
        var ring = RingBuffer<Slot>.CreateSingleProducer(8);
        var recorder = new Recorder { Expected = 0 };
        var processor = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(), recorder);
        var thread = Run(processor);
        ring.Publish(ring.Next());
        await recorder.Done.Task.WaitAsync(Patience, TestContext.Current.CancellationToken);
        processor.Halt();
        await Task.Run(thread.Join, TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.False(processor.IsRunning);
        Assert.Throws<InvalidOperationException>(processor.Run);
    }

    [Fact]
    public async Task A_throwing_handler_records_its_fault()
    {
        var ring = RingBuffer<Slot>.CreateSingleProducer(8);
        var processor = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(), new Recorder((_, _) => throw new InvalidOperationException("boom")));
        var thread = new Thread(() =>
        {
            try
            {
                processor.Run();
            }
            catch (InvalidOperationException)
            {
            }
        });
        thread.Start();
        ring.Publish(ring.Next());
        await Task.Run(thread.Join, TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.Equal("boom", processor.Fault?.Message);
    }

    [Fact]
    public async Task An_idle_consumer_with_the_phased_strategy_parks_and_a_publish_wakes_it()
    {
        var wait = new PhasedBackoffWaitStrategy();
        var ring = RingBuffer<Slot>.CreateMultiProducer(8, wait);
        var seen = new Arrivals();
        var processor = new BatchEventProcessor<Slot>(ring, ring.NewBarrier(), seen);
        ring.AddGatingSequences(processor.Sequence);
        var thread = Run(processor);
        var first = seen.Expect(0);
        ring.Publish(ring.Next());
        await first.WaitAsync(Patience, TestContext.Current.CancellationToken);

        // Idle now: the consumer must end up parked on the monitor (not spinning or yielding). The wait is for a
        // state, not a duration: a consumer that never parks fails here however long it is given.
        Assert.True(SpinWait.SpinUntil(() => wait.Parked == 1, Patience), "the idle consumer never parked");
        var parks = wait.ParkCount;
        Assert.True(parks >= 1);

        var second = seen.Expect(1);
        ring.Publish(ring.Next());
        await second.WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.True(SpinWait.SpinUntil(() => wait.Parked == 1 && wait.ParkCount > parks, Patience), "the consumer did not park again after the wake-up");

        processor.Halt();
        await Task.Run(thread.Join, TestContext.Current.CancellationToken).WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.Equal(0, wait.Parked);
    }
}
