using Wildberries.Core;

namespace Wildberries.Engine;

/// <summary>
/// Receives the events of each command once it is durable, on the shard's writer thread: copy what you need and
/// return quickly (hand it to a queue, an outbox or a producer), never block.
/// </summary>
public interface IEngineEventListener
{
    /// <summary>The events of one command, in order.</summary>
    void OnEvents(ReadOnlySpan<EngineEvent> events);
}
