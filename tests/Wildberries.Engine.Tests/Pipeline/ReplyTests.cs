using System.Threading.Channels;
using Wildberries.Engine.Pipeline;

namespace Wildberries.Engine.Tests.Pipeline;

/// <summary>
/// The pooled reply. The pool is static per result type, so each test uses a result type of its own: tests that
/// run side by side never rent each other's replies.
/// </summary>
public class ReplyTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly record struct ReuseResult(int Value);

    private readonly record struct PendingResult(int Value);

    private readonly record struct OnceResult(int Value);

    private readonly record struct FailResult(int Value);

    private readonly record struct ConcurrentResult(long Value);

    private readonly record struct OverflowResult(int Value);

    private readonly record struct MisuseResult(int Value);

    [Fact]
    public async Task A_reply_is_reused_after_its_answer_was_taken()
    {
        var reply = Reply<ReuseResult>.Rent();
        var task = reply.Task;
        reply.Complete(new ReuseResult(1));
        Assert.Equal(1, (await task.AsTask().WaitAsync(Patience, TestContext.Current.CancellationToken)).Value);

        var again = Reply<ReuseResult>.Rent();
        Assert.Same(reply, again);
        var second = again.Task;
        again.Complete(new ReuseResult(2));
        Assert.Equal(2, (await second.AsTask().WaitAsync(Patience, TestContext.Current.CancellationToken)).Value);
    }

    [Fact]
    public async Task A_reply_is_not_reused_while_its_answer_is_pending()
    {
        var pending = Reply<PendingResult>.Rent();
        var task = pending.Task;
        var other = Reply<PendingResult>.Rent();
        Assert.NotSame(pending, other);
        pending.Complete(new PendingResult(3));
        Assert.Equal(3, (await task.AsTask().WaitAsync(Patience, TestContext.Current.CancellationToken)).Value);
        other.Complete(default);
        await other.Task;
    }

    [Fact]
    public async Task A_completed_reply_delivers_its_answer_exactly_once()
    {
        var reply = Reply<OnceResult>.Rent();
        var task = reply.Task;
        reply.Complete(new OnceResult(7));
        Assert.Equal(7, (await task.AsTask().WaitAsync(Patience, TestContext.Current.CancellationToken)).Value);

        // The answer was handed over and the reply recycled: its next use starts pending instead of carrying the old
        // answer, and the old one is not delivered a second time when the writer completes the new one.
        var next = Reply<OnceResult>.Rent();
        Assert.Same(reply, next);
        var nextTask = next.Task;
        Assert.False(nextTask.IsCompleted);
        next.Complete(new OnceResult(8));
        Assert.Equal(8, (await nextTask.AsTask().WaitAsync(Patience, TestContext.Current.CancellationToken)).Value);
    }

    [Fact]
    public async Task A_failed_reply_throws_to_its_caller_and_the_next_use_succeeds()
    {
        var reply = Reply<FailResult>.Rent();
        var task = reply.Task;
        reply.Fail(new EngineFaultedException("journal failed"));
        var error = await Assert.ThrowsAsync<EngineFaultedException>(() => task.AsTask().WaitAsync(Patience, TestContext.Current.CancellationToken));
        Assert.Equal("journal failed", error.Message);

        var next = Reply<FailResult>.Rent();
        Assert.Same(reply, next);
        var nextTask = next.Task;
        next.Complete(new FailResult(5));
        Assert.Equal(5, (await nextTask.AsTask().WaitAsync(Patience, TestContext.Current.CancellationToken)).Value);
    }

    [Fact]
    public async Task Many_callers_each_get_their_own_answer()
    {
        // Callers on many threads rent, hand the reply to one writer thread (as the ring does) and await; the writer
        // completes each with its caller's own number. Replies cycle through the pool thousands of times.
        const int callers = 16;
        const int callsEach = 2_000;
        var toWriter = Channel.CreateUnbounded<(Reply<ConcurrentResult> Reply, long Value)>(new UnboundedChannelOptions { SingleReader = true });
        var writer = Task.Factory.StartNew(() =>
        {
            var completed = 0;
            while (completed < callers * callsEach)
            {
                while (toWriter.Reader.TryRead(out var item))
                {
                    item.Reply.Complete(new ConcurrentResult(item.Value));
                    completed++;
                }
                if (completed < callers * callsEach && !toWriter.Reader.WaitToReadAsync().AsTask().Wait(Patience)) throw new TimeoutException("callers stopped");
            }
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        var wrong = 0;
        var callerTasks = Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
        {
            for (var i = 0; i < callsEach; i++)
            {
                var value = ((long)c << 32) | (uint)i;
                var reply = Reply<ConcurrentResult>.Rent();
                var task = reply.Task;
                Assert.True(toWriter.Writer.TryWrite((reply, value)));
                if ((await task).Value != value) Interlocked.Increment(ref wrong);
            }
        }, TestContext.Current.CancellationToken)).ToArray();

        await Task.WhenAll(callerTasks).WaitAsync(Patience, TestContext.Current.CancellationToken);
        await writer.WaitAsync(Patience, TestContext.Current.CancellationToken);
        Assert.Equal(0, wrong);
    }

    [Fact]
    public async Task More_replies_in_flight_than_the_pool_keeps_all_work_and_the_pool_stays_bounded()
    {
        const int poolCapacity = 4096;
        const int inFlight = poolCapacity + 1_000;
        var first = Enumerable.Range(0, inFlight).Select(_ => Reply<OverflowResult>.Rent()).ToArray();
        Assert.Equal(inFlight, first.Distinct().Count());
        var tasks = first.Select(r => r.Task).ToArray();
        for (var i = 0; i < inFlight; i++) first[i].Complete(new OverflowResult(i));
        for (var i = 0; i < inFlight; i++) Assert.Equal(i, (await tasks[i].AsTask().WaitAsync(Patience, TestContext.Current.CancellationToken)).Value);

        // Every reply went back, but the pool kept only its capacity: the next burst reuses that many and no more.
        var second = Enumerable.Range(0, inFlight).Select(_ => Reply<OverflowResult>.Rent()).ToArray();
        var firstSet = first.ToHashSet();
        Assert.Equal(inFlight, second.Distinct().Count());
        Assert.Equal(poolCapacity, second.Count(firstSet.Contains));
        var secondTasks = second.Select(r => r.Task).ToArray();
        for (var i = 0; i < inFlight; i++) second[i].Complete(new OverflowResult(-i));
        for (var i = 0; i < inFlight; i++) Assert.Equal(-i, (await secondTasks[i].AsTask().WaitAsync(Patience, TestContext.Current.CancellationToken)).Value);
    }

    [Fact]
    public async Task Reading_a_spent_answer_again_fails_without_handing_the_reply_to_two_callers()
    {
        var reply = Reply<MisuseResult>.Rent();
        var task = reply.Task;
        reply.Complete(new MisuseResult(1));
        Assert.Equal(1, (await task.AsTask().WaitAsync(Patience, TestContext.Current.CancellationToken)).Value);

        // A caller bug (a ValueTask read twice) must stay that caller's problem.
        Assert.Throws<InvalidOperationException>(() => task.Result);
        var a = Reply<MisuseResult>.Rent();
        var b = Reply<MisuseResult>.Rent();
        Assert.NotSame(a, b);
    }
}
