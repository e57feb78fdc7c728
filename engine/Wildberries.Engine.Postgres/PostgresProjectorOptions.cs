namespace Wildberries.Engine.Postgres;

/// <summary>How a batch of rows reaches PostgreSQL; both are measured side by side in docs/benchmarks/projection.md.</summary>
public enum ProjectionWriteMethod
{
    /// <summary>Each column as an array parameter, expanded by <c>unnest</c> into multi-row upserts, every statement in one round trip.</summary>
    Upsert = 0,

    /// <summary>Binary COPY into temporary staging tables, then the same upserts from them.</summary>
    Copy = 1,
}

/// <summary>The projector's settings. Immutable; validated once at start.</summary>
public sealed record PostgresProjectorOptions
{
    /// <summary>The Npgsql connection string of the database that holds the read model.</summary>
    public required string ConnectionString { get; init; }

    /// <summary>
    /// Where the projector's meter (<see cref="PostgresProjector.MeterName"/>: its lag) comes from: the embedding
    /// service's <see cref="System.Diagnostics.Metrics.IMeterFactory"/>, or null for a meter of its own.
    /// </summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }

    /// <summary>
    /// The event feed slot the projector reads through (each shard keeps its journal for it until PostgreSQL has
    /// committed the rows): <c>postgres</c>. Two projections into two databases need two names.
    /// </summary>
    public string SlotName { get; init; } = "postgres";

    /// <summary>
    /// 5,000 events per feed read and transaction: large enough that a transaction's round trips and commit fsync are
    /// shared by thousands of events during a peak sale, small enough that one transaction stays well under a second
    /// and its arrays a few megabytes.
    /// </summary>
    public int BatchSize { get; init; } = 5_000;

    /// <summary><see cref="ProjectionWriteMethod.Upsert"/>: the faster of the two here (docs/benchmarks/projection.md).</summary>
    public ProjectionWriteMethod WriteMethod { get; init; } = ProjectionWriteMethod.Upsert;

    /// <summary>100 ms: the first wait after PostgreSQL failed, so a restart of the server costs little lag.</summary>
    public TimeSpan RetryDelayMin { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>5 seconds: the longest wait between attempts while PostgreSQL is down, so it is not hammered and the lag after it returns stays short.</summary>
    public TimeSpan RetryDelayMax { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public PostgresProjectorOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString)) throw new ArgumentException("PostgresProjectorOptions.ConnectionString must be set.", nameof(ConnectionString));
        try
        {
            _ = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"PostgresProjectorOptions.ConnectionString is not a valid Npgsql connection string: {ex.Message}", nameof(ConnectionString), ex);
        }
        if (string.IsNullOrWhiteSpace(SlotName)) throw new ArgumentException("PostgresProjectorOptions.SlotName must be set.", nameof(SlotName));
        if (BatchSize is < 1 or > 100_000) throw new ArgumentException("PostgresProjectorOptions.BatchSize must be 1 to 100000.", nameof(BatchSize));
        if (!Enum.IsDefined(WriteMethod)) throw new ArgumentException("PostgresProjectorOptions.WriteMethod is not a known method.", nameof(WriteMethod));
        if (RetryDelayMin <= TimeSpan.Zero || RetryDelayMax < RetryDelayMin || RetryDelayMax > TimeSpan.FromMinutes(5))
        {
            throw new ArgumentException("PostgresProjectorOptions.RetryDelayMin must be positive and at most RetryDelayMax, which is at most 5 minutes.", nameof(RetryDelayMax));
        }
        return this;
    }
}
