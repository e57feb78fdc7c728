using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using Wildberries.Ring;

namespace Wildberries.Bench.Ring;

/// <summary>
/// Our ring against the BCL's bounded channel with one reader, moving the same number of values from one or two
/// producer threads to one consumer thread. The ring must beat the channel to keep its place in the engine.
/// </summary>
public class RingVsChannelBenchmarks
{
    private const int Items = 1 << 20;
    private const int Capacity = 1 << 14;

    private RingBuffer<long> _ring = null!;
    private Sink _sink = null!;
    private BatchEventProcessor<long>? _processor;
    private Thread? _consumerThread;

    [Params(1, 2)]
    public int Producers { get; set; }

    // One consumer thread per measured ring, started only for its own benchmark: an idle yielding consumer
    // would otherwise burn a core while the others are measured.
    [GlobalSetup(Target = nameof(RingBlocking))]
    public void SetupBlocking() => Start(new BlockingWaitStrategy());

    [GlobalSetup(Target = nameof(RingPhased))]
    public void SetupPhased() => Start(new PhasedBackoffWaitStrategy());

    [GlobalSetup(Target = nameof(RingBusySpin))]
    public void SetupBusySpin() => Start(new BusySpinWaitStrategy());

    [GlobalSetup(Target = nameof(RingYielding))]
    public void SetupYielding() => Start(new YieldingWaitStrategy());

    [GlobalCleanup]
    public void Cleanup()
    {
        _processor?.Halt();
        _consumerThread?.Join();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Items, Description = "Channel (bounded, single reader)")]
    public long Channel()
    {
        var channel = System.Threading.Channels.Channel.CreateBounded<long>(new BoundedChannelOptions(Capacity)
        {
            SingleReader = true, SingleWriter = Producers == 1, FullMode = BoundedChannelFullMode.Wait,
        });
        long sum = 0;
        var consumer = new Thread(() =>
        {
            var reader = channel.Reader;
            var received = 0;
            while (received < Items)
            {
                while (reader.TryRead(out var v))
                {
                    sum += v;
                    received++;
                }
                if (received < Items && !reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult()) break;
            }
        });
        consumer.Start();
        RunProducers(i =>
        {
            var writer = channel.Writer;
            if (!writer.TryWrite(i)) writer.WriteAsync(i).AsTask().GetAwaiter().GetResult();
        });
        consumer.Join();
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Items, Description = "Ring (multi-producer, phased backoff: the default)")]
    public long RingPhased() => RunRing(_ring, _sink);

    [Benchmark(OperationsPerInvoke = Items, Description = "Ring (multi-producer, blocking wait)")]
    public long RingBlocking() => RunRing(_ring, _sink);

    [Benchmark(OperationsPerInvoke = Items, Description = "Ring (multi-producer, yielding wait)")]
    public long RingYielding() => RunRing(_ring, _sink);

    [Benchmark(OperationsPerInvoke = Items, Description = "Ring (multi-producer, busy-spin wait)")]
    public long RingBusySpin() => RunRing(_ring, _sink);

    private long RunRing(RingBuffer<long> ring, Sink sink)
    {
        sink.Arm(ring.Cursor + Items);
        RunProducers(i =>
        {
            var seq = ring.Next();
            ring[seq] = i;
            ring.Publish(seq);
        });
        sink.Done.Wait();
        return sink.Sum;
    }

    private void RunProducers(Action<long> publish)
    {
        var per = Items / Producers;
        var threads = new Thread[Producers];
        for (var p = 0; p < Producers; p++)
        {
            threads[p] = new Thread(() =>
            {
                for (long i = 0; i < per; i++) publish(i);
            });
            threads[p].Start();
        }
        foreach (var t in threads) t.Join();
    }

    private void Start(IWaitStrategy wait)
    {
        _ring = RingBuffer<long>.CreateMultiProducer(Capacity, wait);
        _sink = new Sink();
        _processor = new BatchEventProcessor<long>(_ring, _ring.NewBarrier(), _sink);
        _ring.AddGatingSequences(_processor.Sequence);
        _consumerThread = new Thread(_processor.Run) { IsBackground = true };
        _consumerThread.Start();
    }

    private sealed class Sink : IEventHandler<long>
    {
        private long _target;
        public long Sum;
        public ManualResetEventSlim Done { get; } = new();

        public void Arm(long target)
        {
            Done.Reset();
            Volatile.Write(ref _target, target);
        }

        public void OnEvent(ref long data, long sequence, bool endOfBatch)
        {
            Sum += data;
            if (sequence == Volatile.Read(ref _target)) Done.Set();
        }
    }
}
