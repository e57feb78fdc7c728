using Wildberries.Core;

namespace Wildberries.Engine.Pipeline;

/// <summary>What a ring slot carries besides the command.</summary>
internal enum SlotKind : byte
{
    /// <summary>A journaled command.</summary>
    Command = 0,

    /// <summary>A read of one order, answered by the writer without journaling.</summary>
    ReadOrder = 1,

    /// <summary>A read of the state hash, answered by the writer without journaling.</summary>
    ReadHash = 2,

    /// <summary>A read of catalog items (one, or a page), answered by the writer without journaling.</summary>
    ReadItems = 4,

    /// <summary>A full audit read (every stock row and order), answered by the writer without journaling.</summary>
    Audit = 5,

    /// <summary>A read of this shard's hold of an order at home elsewhere, answered by the writer without journaling.</summary>
    ReadHold = 6,

    /// <summary>A dry run of a checkout's lines on this shard (what would refuse them), answered without journaling.</summary>
    CheckLines = 7,

    /// <summary>A read of the order a checkout's idempotency key made, answered by the writer without journaling.</summary>
    ReadOrderByKey = 8,

    /// <summary>An entry of the primary's command log applied by a standby: journaled with the primary's number and time.</summary>
    Replicated = 9,

    /// <summary>A read of the cross-shard work this shard's orders still wait for (at promotion), without journaling.</summary>
    ReadRemoteWork = 10,

    /// <summary>The last slot before shutdown: when the apply stage reaches it, everything before is done.</summary>
    Stop = 3,
}

/// <summary>One preallocated ring slot: written in place by a producer, read in place by every stage.</summary>
internal struct CommandSlot
{
    public Command Command;

    // A Reply<T> whose T follows from Kind: CommandResult (or OrderOutcome with WithOrder), OrderView? or ulong.
    public object? Reply;
    public Exception? JournalError;

    // Set by the replicate stage when the command log did not acknowledge this command: applied, not acknowledged.
    public Exception? ReplicationError;
    public SlotKind Kind;

    // A command whose caller also wants the order it concerns, read right after it on the writer: one ring trip.
    public bool WithOrder;

    // Tracing (EngineTracing), set only while an ActivityListener listens: when the producer claimed the slot and when
    // the journal stage took it (Stopwatch timestamps; 0 when not traced), and the caller's activity then.
    public long TraceEnqueued;
    public long TraceJournaled;
    public System.Diagnostics.Activity? TraceParent;
}
