namespace Wildberries.Core;

/// <summary>A catalog item in a snapshot.</summary>
public readonly record struct SnapshotItem(long Sku, bool InCatalog, string Name, long Price, int MaxPerOrder, bool Active);

/// <summary>A stock row in a snapshot.</summary>
public readonly record struct SnapshotRow(long Sku, int WarehouseId, long OnHand, long Reserved, long Committed);

/// <summary>An allocation of an order in a snapshot, in the order's line order.</summary>
public readonly record struct SnapshotAllocation(long Sku, int WarehouseId, int Quantity, long UnitPrice);

/// <summary>An order in a snapshot. <see cref="Held"/> is false for an evicted order kept alive by its idempotency key.</summary>
public sealed record SnapshotOrder(
    OrderId Id,
    OrderStatus Status,
    bool Held,
    string CustomerId,
    string IdempotencyKey,
    string? PaymentMethod,
    string? PaymentSessionId,
    string? PaidTransactionId,
    long Amount,
    long CreatedAtMs,
    long ReservedUntilMs,
    long TerminalAtMs,
    ulong Fingerprint,
    int LineCount,
    SnapshotAllocation[] Allocations,
    bool CheckoutAborted = false,
    string? PaymentUrl = null,
    int[]? RemoteShards = null,
    long RemoteAmount = 0,
    int RemoteLineCount = 0,
    bool IsHold = false,
    bool HoldConfirmed = false);

/// <summary>A remembered idempotency key in a snapshot.</summary>
public readonly record struct SnapshotKey(string Key, OrderId OrderId, ulong Fingerprint, long ExpiresAtMs);

/// <summary>
/// A remembered payment transaction and its first answer to one verdict (<see cref="Succeeded"/>) in a snapshot; a
/// transaction that failed and then succeeded has two.
/// </summary>
public readonly record struct SnapshotTransaction(
    string TransactionId, OrderId OrderId, long ExpiresAtMs, ResultCode Code, OrderStatus Status, long Value, long ReservedUntilMs, string? Field, string? PaymentSessionId,
    bool Succeeded);

/// <summary>
/// The whole state of one shard as plain data: what a snapshot file holds. Queues and indexes are not stored;
/// they are derived again on restore, so a restored machine hashes equal to the one captured.
/// </summary>
public sealed record StateSnapshot(
    int ShardId,
    long Lsn,
    long NowMs,
    long OrderSequence,
    SnapshotItem[] Items,
    SnapshotRow[] Rows,
    SnapshotOrder[] Orders,
    SnapshotKey[] Keys,
    SnapshotTransaction[] Transactions);
