namespace Wildberries.Postgres.Tests;

/// <summary>A wall clock the test moves by hand; timers still run on real time.</summary>
internal sealed class ManualClock : TimeProvider
{
    private long _nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public void Advance(TimeSpan by) => Interlocked.Add(ref _nowMs, (long)by.TotalMilliseconds);

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(Volatile.Read(ref _nowMs));
}
