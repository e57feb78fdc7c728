using Wildberries.Core;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Snapshots;

namespace Wildberries.Engine.Events;

/// <summary>Where an event sits in its shard's log: the command's log sequence number and the event's index in it.</summary>
/// <param name="Lsn">The log sequence number of the command that produced the event (0: before the first).</param>
/// <param name="Index">The event's position among that command's events.</param>
public readonly record struct EventPosition(long Lsn, int Index) : IComparable<EventPosition>
{
    /// <summary>Before every event.</summary>
    public static EventPosition Start => default;

    /// <inheritdoc />
    public int CompareTo(EventPosition other) => Lsn != other.Lsn ? Lsn.CompareTo(other.Lsn) : Index.CompareTo(other.Index);

    /// <summary>Whether <paramref name="a"/> comes before <paramref name="b"/>.</summary>
    public static bool operator <(EventPosition a, EventPosition b) => a.CompareTo(b) < 0;

    /// <summary>Whether <paramref name="a"/> comes after <paramref name="b"/>.</summary>
    public static bool operator >(EventPosition a, EventPosition b) => a.CompareTo(b) > 0;

    /// <summary>Whether <paramref name="a"/> comes before or is <paramref name="b"/>.</summary>
    public static bool operator <=(EventPosition a, EventPosition b) => a.CompareTo(b) <= 0;

    /// <summary>Whether <paramref name="a"/> comes after or is <paramref name="b"/>.</summary>
    public static bool operator >=(EventPosition a, EventPosition b) => a.CompareTo(b) >= 0;

    /// <summary>The exact id consumers de-duplicate by: <c>shard-lsn-index</c>.</summary>
    public string Id(int shard) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{shard}-{Lsn}-{Index}");
}

/// <summary>
/// One event as the outbox hands it out: the event, its position, and for order events the order as it stood right
/// after the command (customer, amount, lines and allocations on this shard).
/// </summary>
/// <param name="Event">The event.</param>
/// <param name="Order">The order right after the command, for order events (null for stock events and for money
/// received for an order the shard does not hold).</param>
public sealed record FeedEvent(EngineEvent Event, OrderView? Order)
{
    /// <summary>Where the event sits in its shard's log.</summary>
    public EventPosition Position => new(Event.Lsn, Event.Index);
}

/// <summary>
/// The journal as the outbox: derives a shard's events from its durable journal, in log order, by applying the
/// committed entries to a state machine of its own (never the writer's), so an event exists exactly when its command
/// was committed and a reader never slows the writer. It starts after any position whose state it can rebuild (the
/// newest snapshot before it, then the journal); the engine keeps the journal and that snapshot for as long as the
/// position a reader <see cref="Acknowledge">acknowledged</see> in its named slot needs them, across restarts.
/// </summary>
public sealed class EventFeed : IDisposable
{
    // 1 ms between looks at an idle journal: an event is readable about a millisecond after its commit.
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(1);

    private readonly ICommandJournal _journal;
    private readonly ReservationStateMachine _shadow;
    private readonly EventBuffer _events = new();
    private readonly Action<EventPosition> _acknowledged;
    private readonly EventPosition _startAfter;
    private long _address;
    private int _disposed;

    internal EventFeed(int shard, StateMachineOptions options, ICommandJournal journal, SnapshotStore? store, EventPosition after, Action<EventPosition> acknowledged)
    {
        Shard = shard;
        _journal = journal;
        _acknowledged = acknowledged;
        _startAfter = after;
        // The state just before the command of the position: its remaining events are derived again.
        var loaded = store?.LoadLatest(options, [], lsnBelow: Math.Max(1, after.Lsn));
        _shadow = loaded?.Machine ?? new ReservationStateMachine(options);
        _address = loaded?.File.JournalAddress ?? 0;
        Position = after;
    }

    /// <summary>The shard whose events this feed reads.</summary>
    public int Shard { get; }

    /// <summary>The last event handed out (or the position the feed started after).</summary>
    public EventPosition Position { get; private set; }

    /// <summary>Entries committed to the journal that this feed has not yet read: the outbox's lag in entries.</summary>
    public long LagEntries => Math.Max(0, _journal.LastLsn - _shadow.LastLsn);

    /// <summary>
    /// The next events after <see cref="Position"/>, at most <paramref name="max"/> (fewer when the journal has no
    /// more); waits until at least one is committed. Events internal to the engine are not handed out.
    /// </summary>
    public async ValueTask<IReadOnlyList<FeedEvent>> ReadAsync(int max, CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var batch = new List<FeedEvent>();
        while (true)
        {
            ReadCommitted(batch, max);
            if (batch.Count > 0) return batch;
            await Task.Delay(IdlePoll, cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The reader has made everything up to <paramref name="position"/> safe (published, projected): the journal
    /// and snapshots before it may go. Never ahead of what the reader really has.
    /// </summary>
    public void Acknowledge(EventPosition position) => _acknowledged(position);

    private void ReadCommitted(List<FeedEvent> batch, int max)
    {
        if (_journal.LastLsn <= _shadow.LastLsn) return;
        foreach (var entry in _journal.ReadAfter(_shadow.LastLsn, _address))
        {
            _events.Clear();
            _shadow.Apply(entry.Command, _events);
            _address = entry.NextAddress;
            foreach (var e in _events.Events)
            {
                if (e.IsInternal || new EventPosition(e.Lsn, e.Index) <= _startAfter) continue;
                OrderView? order = null;
                if (e.Sku == 0 && e.OrderId.IsValid) _shadow.TryGetOrder(e.OrderId, out order);
                batch.Add(new FeedEvent(e, order));
                Position = new EventPosition(e.Lsn, e.Index);
            }
            if (batch.Count >= max) return;
        }
    }

    /// <summary>Stops reading. The feed's slot stays: the journal is kept for it until it is read again.</summary>
    public void Dispose() => Interlocked.Exchange(ref _disposed, 1);
}
