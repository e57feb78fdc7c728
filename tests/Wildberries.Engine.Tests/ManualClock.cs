namespace Wildberries.Engine.Tests;

/// <summary>A wall clock the test moves by hand; timers still run on real time (short intervals in tests).</summary>
internal sealed class ManualClock(long startMs = 1_700_000_000_000) : TimeProvider
{
    private long _nowMs = startMs;

    public long NowMs => Volatile.Read(ref _nowMs);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _nowMs, (long)by.TotalMilliseconds);

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(NowMs);
}

/// <summary>Collects events and lets a test await the first event of a kind.</summary>
internal sealed class EventRecorder : IEngineEventListener
{
    private readonly Lock _gate = new();
    private readonly List<Core.EngineEvent> _events = [];
    private readonly List<(Core.EventKind Kind, TaskCompletionSource<Core.EngineEvent> Done)> _waiters = [];

    public IReadOnlyList<Core.EngineEvent> Events
    {
        get
        {
            lock (_gate) return [.. _events];
        }
    }

    public Task<Core.EngineEvent> Next(Core.EventKind kind)
    {
        var tcs = new TaskCompletionSource<Core.EngineEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate) _waiters.Add((kind, tcs));
        return tcs.Task;
    }

    /// <summary>Completes with every event of <paramref name="kind"/> once <paramref name="count"/> of them were seen.</summary>
    public Task<Core.EngineEvent[]> WhenCount(Core.EventKind kind, int count)
    {
        var tcs = new TaskCompletionSource<Core.EngineEvent[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _counters.Add((kind, count, tcs));
            Check();
        }
        return tcs.Task;
    }

    private readonly List<(Core.EventKind Kind, int Count, TaskCompletionSource<Core.EngineEvent[]> Done)> _counters = [];

    private void Check()
    {
        foreach (var c in _counters.ToList())
        {
            var seen = _events.Where(e => e.Kind == c.Kind).ToArray();
            if (seen.Length < c.Count) continue;
            _counters.Remove(c);
            c.Done.TrySetResult(seen);
        }
    }

    public void OnEvents(ReadOnlySpan<Core.EngineEvent> events)
    {
        lock (_gate)
        {
            foreach (var e in events)
            {
                _events.Add(e);
                Check();
                foreach (var w in _waiters.Where(w => w.Kind == e.Kind).ToList())
                {
                    _waiters.Remove(w);
                    w.Done.TrySetResult(e);
                }
            }
        }
    }
}
