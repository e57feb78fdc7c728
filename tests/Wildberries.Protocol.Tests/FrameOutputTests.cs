using System.IO.Pipelines;

namespace Wildberries.Protocol.Tests;

/// <summary>The output side: a peer that does not read cannot make it buffer without bound.</summary>
public class FrameOutputTests
{
    [Fact]
    public async Task Writes_behind_a_stalled_flush_wait_once_the_pending_bytes_pass_the_cap()
    {
        // A pipe whose reader reads nothing: the first flush stalls once 1 KiB is unread.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 1024, resumeWriterThreshold: 512, useSynchronizationContext: false));
        var output = new FrameOutput(pipe.Writer, pendingBytesMax: 4096);
        var body = new string('x', 300);
        var tasks = new List<Task>();
        for (var i = 0; i < 100; i++) tasks.Add(output.WriteAsync(FrameType.GetItem, (uint)i, body, static (ref MessagePack.MessagePackWriter w, string s) => w.Write(s)));

        // The writes flush at once until the unread 1 KiB stalls a flush; that write's task waits with it. The
        // writes after it queue and return at once until 4 KiB wait, then every write waits for the flush (its
        // caller keeps its in-flight slot, so a peer that does not read stops being served).
        var stalled = tasks.FindIndex(t => !t.IsCompleted);
        Assert.InRange(stalled, 0, 10);
        Assert.True(tasks[stalled + 1].IsCompleted, "a write behind a stalled flush under the cap returns at once");
        var firstWaiting = tasks.FindIndex(stalled + 1, t => !t.IsCompleted);
        Assert.InRange(firstWaiting, stalled + 10, stalled + 20); // about 4 KiB of 310-byte frames
        Assert.All(tasks.Skip(firstWaiting), t => Assert.False(t.IsCompleted));

        // The peer reads: everything leaves and every write completes.
        var drained = Task.Run(async () =>
        {
            while (true)
            {
                var read = await pipe.Reader.ReadAsync();
                pipe.Reader.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted) return;
            }
        }, TestContext.Current.CancellationToken);
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        await output.FlushedAsync();
        await pipe.Writer.CompleteAsync();
        await drained.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }
}
