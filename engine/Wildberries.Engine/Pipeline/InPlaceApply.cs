using Wildberries.Ring;

namespace Wildberries.Engine.Pipeline;

/// <summary>
/// The journal stage, followed (at the end of a small batch, once it is committed) by the apply stage run on the
/// journal thread itself when the apply thread has applied everything before the batch: at low load a command then
/// costs one hand-off fewer (the apply thread's wake-up: one caller's median was 0.76-0.93x that of handing every
/// batch over, side by side in docs/benchmarks/durable.md, when the stage threads had parked between checkouts).
/// A larger batch, or one behind another still being applied, goes to the apply thread as before, so the journal
/// thread is never held up for long and the two stages still overlap under load.
/// </summary>
/// <remarks>
/// Nothing is answered earlier than before: the apply stage runs after <see cref="JournalStage.OnEvent"/> returned
/// from the batch's commit. The apply stage runs on one thread at a time, in ring order: the apply thread only
/// takes slots the journal stage has passed (<see cref="BatchEventProcessor{T}.TryRunInPlace"/> says why that is
/// enough). Not used with a replicate stage (the apply stage then waits on two stages). Answers still reach callers
/// through the thread pool (<see cref="Reply{T}"/>): no caller's continuation runs on the journal thread.
/// </remarks>
internal sealed class InPlaceApply(JournalStage journal, int maxBatch) : IEventHandler<CommandSlot>
{
    /// <summary>
    /// 4 commands: applying them (a few microseconds each) costs the journal thread about what the apply thread's
    /// wake-up costs. With larger batches (25-50 % of peak: 14-70 commands a commit) applying on the journal thread
    /// delayed the next commit, and the open loop's median was 1.1-1.3x that of handing them over.
    /// </summary>
    public const int MaxBatchDefault = 4;

    private long _first = -1;
    private long _inPlace;

    /// <summary>The apply stage behind the journal (set once, before the threads start).</summary>
    public BatchEventProcessor<CommandSlot>? Apply { get; set; }

    /// <summary>How many batches were applied on the journal thread (for tests and the benchmark).</summary>
    public long InPlaceBatches => Volatile.Read(ref _inPlace);

    public void OnEvent(ref CommandSlot slot, long sequence, bool endOfBatch)
    {
        if (_first < 0) _first = sequence;
        journal.OnEvent(ref slot, sequence, endOfBatch);
        if (!endOfBatch) return;
        var first = _first;
        _first = -1;
        if (sequence - first < maxBatch && Apply!.TryRunInPlace(first, sequence)) Volatile.Write(ref _inPlace, _inPlace + 1);
    }
}
