using System.Data.Common;
using Npgsql;
using Wildberries.Engine.Events;
using Wildberries.Engine.Postgres.Internal;

namespace Wildberries.Engine.Postgres;

/// <summary>How far one shard's projection is behind the engine.</summary>
/// <param name="Shard">The shard.</param>
/// <param name="Projected">The last event committed to PostgreSQL.</param>
/// <param name="LagEntries">Committed journal entries not yet read for projecting.</param>
/// <param name="LagSeconds">Age of the oldest event read but not yet committed to PostgreSQL (0 when none waits).</param>
/// <param name="LastError">The last error PostgreSQL reported, if any (the projector keeps trying).</param>
public sealed record ProjectionLag(int Shard, EventPosition Projected, long LagEntries, double LagSeconds, string? LastError);

/// <summary>
/// Applies every shard's events to PostgreSQL (orders, lines with allocations, status history, stock per SKU and
/// warehouse), read straight from the durable journal through a named event feed. Exactly once: a batch's rows and
/// the shard's last applied position are one transaction, and events at or below the stored position are skipped; the
/// feed's slot is acknowledged only after the commit, so the journal is kept until PostgreSQL has it. It never slows
/// the writer; while PostgreSQL is down the engine serves on, the lag grows, and it catches up when it returns.
/// </summary>
public sealed class PostgresProjector : IAsyncDisposable
{
    /// <summary>
    /// The projector's meter: the package's name. Its gauges, per shard: <c>wb.projection.lag.entries</c> and
    /// <c>wb.projection.lag</c> (seconds).
    /// </summary>
    public const string MeterName = "Wildberries.Engine.Postgres";

    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresProjectorOptions _options;
    private readonly CancellationTokenSource _stop = new();
    private readonly ShardState[] _shards;
    private readonly Task[] _loops;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _migrating = new(1, 1);
    private bool _migrated;
    private readonly FeedLagMetrics _metrics;

    private sealed class ShardState(int shard, EventFeed feed)
    {
        public int Shard { get; } = shard;
        public EventFeed Feed { get; } = feed;
        public EventPosition Projected;
        public long OldestWaitingMs;
        public volatile string? LastError;
        public long Events;
    }

    private PostgresProjector(ReservationEngine engine, PostgresProjectorOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        _dataSource = NpgsqlDataSource.Create(options.ConnectionString);
        _shards = [.. Enumerable.Range(0, engine.ShardCount).Select(s => new ShardState(s, engine.OpenEventFeed(s, options.SlotName)))];
        _loops = [.. _shards.Select(s => Task.Run(() => ProjectAsync(s, _stop.Token)))];
        _metrics = new FeedLagMetrics(options.MeterFactory, MeterName, "wb.projection", "PostgreSQL projector", () => Lag.Select(l => new FeedLag(l.Shard, l.LagEntries, l.LagSeconds)));
    }

    /// <summary>
    /// Starts projecting every shard of <paramref name="engine"/> (a durable engine keeps each shard's place across
    /// restarts). Returns at once: the schema is migrated and the first batch written in the background, so an
    /// unreachable PostgreSQL never delays the engine.
    /// </summary>
    public static PostgresProjector Start(ReservationEngine engine, PostgresProjectorOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new PostgresProjector(engine, options, time ?? TimeProvider.System);
    }

    /// <summary>Creates or migrates the read model's schema (what the projector does at start); for tools and tests.</summary>
    public static async Task MigrateAsync(string connectionString, CancellationToken cancellation = default)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await SchemaMigrator.MigrateAsync(dataSource, cancellation).ConfigureAwait(false);
    }

    /// <summary>How far each shard's projection is behind: for metrics and readiness detail.</summary>
    public IReadOnlyList<ProjectionLag> Lag
    {
        get
        {
            var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
            return [.. _shards.Select(s =>
            {
                var oldest = Volatile.Read(ref s.OldestWaitingMs);
                return new ProjectionLag(s.Shard, s.Projected, s.Feed.LagEntries, oldest == 0 ? 0 : Math.Max(0, nowMs - oldest) / 1000.0, s.LastError);
            })];
        }
    }

    /// <summary>Events committed to PostgreSQL since start, over all shards (skipped duplicates not counted).</summary>
    public long ProjectedEvents => _shards.Sum(s => Interlocked.Read(ref s.Events));

    private async Task ProjectAsync(ShardState shard, CancellationToken cancellation)
    {
        IReadOnlyList<FeedEvent>? pending = null;
        var delay = _options.RetryDelayMin;
        while (!cancellation.IsCancellationRequested)
        {
            try
            {
                await EnsureSchemaAsync(cancellation).ConfigureAwait(false);
                // One connection per shard for as long as it works: its prepared statements and staging tables stay.
                await using var connection = await _dataSource.OpenConnectionAsync(cancellation).ConfigureAwait(false);
                var writer = new BatchWriter(connection, _options.WriteMethod);
                var stored = await writer.OpenAsync(shard.Shard, cancellation).ConfigureAwait(false);
                shard.Projected = stored;
                shard.LastError = null;
                delay = _options.RetryDelayMin;
                while (true)
                {
                    if (pending is null)
                    {
                        try
                        {
                            pending = await shard.Feed.ReadAsync(_options.BatchSize, cancellation).ConfigureAwait(false);
                        }
                        catch (Exception ex) when (ex is not OperationCanceledException)
                        {
                            // The journal no longer reaches back to the slot (created after a truncation, damaged data), or a
                            // bug: this shard projects nothing more, and says why in the lag's last error.
                            shard.LastError = "projection stopped: " + ex.Message;
                            return;
                        }
                        Volatile.Write(ref shard.OldestWaitingMs, pending[0].Event.TimestampMs);
                    }
                    var rows = ProjectionBatch.Of(pending, stored);
                    if (rows.Events > 0)
                    {
                        if (!await writer.WriteAsync(shard.Shard, rows, cancellation).ConfigureAwait(false))
                        {
                            // Someone else (an earlier run, another projector on the same database) moved the position: skip what it has.
                            stored = await writer.ReadPositionAsync(shard.Shard, cancellation).ConfigureAwait(false);
                            continue;
                        }
                        stored = rows.Last;
                        Interlocked.Add(ref shard.Events, rows.Events);
                    }
                    // Only now, with the rows committed, may the journal before this batch go.
                    shard.Projected = stored;
                    shard.Feed.Acknowledge(pending[^1].Position);
                    pending = null;
                    Volatile.Write(ref shard.OldestWaitingMs, 0);
                    shard.LastError = null;
                }
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is DbException or IOException or TimeoutException or System.Net.Sockets.SocketException or InvalidOperationException or OperationCanceledException)
            {
                // PostgreSQL is down, restarting, or refused the batch: nothing of it was committed. The batch waits in
                // memory and goes again on a new connection after a growing pause.
                shard.LastError = ex.Message;
                try
                {
                    await Task.Delay(delay, _time, cancellation).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                delay = TimeSpan.FromTicks(Math.Min(_options.RetryDelayMax.Ticks, delay.Ticks * 2));
            }
        }
    }

    private async Task EnsureSchemaAsync(CancellationToken cancellation)
    {
        if (Volatile.Read(ref _migrated)) return;
        await _migrating.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            if (_migrated) return;
            await SchemaMigrator.MigrateAsync(_dataSource, cancellation).ConfigureAwait(false);
            Volatile.Write(ref _migrated, true);
        }
        finally
        {
            _migrating.Release();
        }
    }

    /// <summary>Stops projecting (a batch in flight is rolled back and goes again at the next start) and closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        _metrics.Dispose();
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A write stuck on a dead server: the transaction never commits, the next start writes the batch again.
        }
        foreach (var shard in _shards) shard.Feed.Dispose();
        await _dataSource.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _migrating.Dispose();
    }
}
