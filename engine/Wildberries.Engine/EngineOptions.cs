using Wildberries.Core;
using Wildberries.Ring;

namespace Wildberries.Engine;

/// <summary>How the engine waits for work when idle.</summary>
public enum WaitStrategyKind
{
    /// <summary>Sleep until signalled (after a microsecond's spin): the least CPU, a wake-up on almost every batch.</summary>
    Blocking = 0,

    /// <summary>Yield the core while waiting: lower latency, busier CPU.</summary>
    Yielding = 1,

    /// <summary>Spin: lowest latency, needs a core per stage thread.</summary>
    BusySpin = 2,

    /// <summary>
    /// The default: spin a microsecond, yield for up to a millisecond, then sleep until signalled. Fast under load
    /// and idle when idle, right for machines with few cores.
    /// </summary>
    PhasedBackoff = 3,
}

/// <summary>The engine's options: the state machine's limits plus the pipeline's sizes. Validated once at start.</summary>
public sealed record EngineOptions
{
    /// <summary>The shard state machine's limits and windows.</summary>
    public StateMachineOptions StateMachine { get; init; } = new();

    /// <summary>256 shards: two threads each, so more than any host has cores for; bounds the fan-out of merged reads.</summary>
    public const int ShardCountMax = 256;

    /// <summary>
    /// Shards (one ring, journal, apply thread, snapshots and directory each), stock partitioned by SKU with
    /// <see cref="ShardRouter"/>. 1 by default: the fast path. A data directory keeps the count it was created with.
    /// </summary>
    public int ShardCount { get; init; } = 1;

    /// <summary>
    /// 64 Ki slots per shard: at a million commands a second that is 65 ms of backlog before producers wait,
    /// about 8 MiB of slots.
    /// </summary>
    public int RingSize { get; init; } = 65_536;

    /// <summary>How the stages wait for work.</summary>
    public WaitStrategyKind WaitStrategy { get; init; } = WaitStrategyKind.PhasedBackoff;

    /// <summary>
    /// 1 second: how often the engine checks whether a reservation deadline has come and, if so, journals a tick.
    /// A reservation may outlive its deadline by up to this much when no other command arrives.
    /// </summary>
    public TimeSpan ExpiryCheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Where the engine's <see cref="System.Diagnostics.Metrics.Meter"/> comes from: the embedding service's
    /// <see cref="System.Diagnostics.Metrics.IMeterFactory"/> (from its dependency injection container), so its
    /// OpenTelemetry pipeline sees this engine's measurements and not another container's. Null (the default): the
    /// engine creates and disposes its own meter.
    /// </summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }

    /// <summary>
    /// Every batch applied on the shard's apply thread, also a small one while that thread is idle: the pipeline before
    /// issue 15's last round (one more wake-up per command at low load), kept for the durable benchmark's comparison.
    /// </summary>
    internal bool SeparateApplyThread { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option out of range.</summary>
    public EngineOptions Validate()
    {
        StateMachine.Validate();
        if (ShardCount is < 1 or > ShardCountMax) throw new ArgumentException($"EngineOptions.ShardCount must be 1 to {ShardCountMax}.", nameof(ShardCount));
        if (RingSize < 64 || RingSize > (1 << 24) || (RingSize & (RingSize - 1)) != 0)
        {
            throw new ArgumentException("EngineOptions.RingSize must be a power of two from 64 to 16777216.", nameof(RingSize));
        }
        if (ExpiryCheckInterval < TimeSpan.FromMilliseconds(10) || ExpiryCheckInterval > TimeSpan.FromMinutes(1))
        {
            throw new ArgumentException("EngineOptions.ExpiryCheckInterval must be 10 ms to 1 minute.", nameof(ExpiryCheckInterval));
        }
        return this;
    }

    /// <summary>The state machine options of one shard.</summary>
    internal StateMachineOptions ShardOptions(int shard) => StateMachine with { ShardId = shard, ShardCount = ShardCount };

    internal IWaitStrategy CreateWaitStrategy() => WaitStrategy switch
    {
        WaitStrategyKind.Yielding => new YieldingWaitStrategy(),
        WaitStrategyKind.BusySpin => new BusySpinWaitStrategy(),
        WaitStrategyKind.Blocking => new BlockingWaitStrategy(),
        _ => new PhasedBackoffWaitStrategy(),
    };
}
