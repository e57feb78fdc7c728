using Wildberries.Core;

namespace Wildberries.Engine;

/// <summary>
/// Receives the events of each command once it is durable, on the shard's writer (one thread at a time, in order:
/// the apply thread, or the journal thread when it applies a small batch itself): copy what you need and return
/// quickly (hand it to a queue, an outbox or a producer), never block: a slow listener holds up the next commit.
/// </summary>
public interface IEngineEventListener
{
    /// <summary>The events of one command, in order.</summary>
    void OnEvents(ReadOnlySpan<EngineEvent> events);
}
