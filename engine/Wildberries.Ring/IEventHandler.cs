namespace Wildberries.Ring;

/// <summary>
/// A pipeline stage: receives every slot in order, with <c>endOfBatch</c> on the last slot available right now,
/// which is where a stage does its per-batch work (a journal commit, a flush).
/// </summary>
public interface IEventHandler<T>
{
    /// <summary>Handles one slot, in place.</summary>
    void OnEvent(ref T data, long sequence, bool endOfBatch);

    /// <summary>Runs on the stage's thread before the first slot.</summary>
    void OnStart()
    {
    }

    /// <summary>Runs on the stage's thread after the last slot, when the stage halts.</summary>
    void OnShutdown()
    {
    }
}
