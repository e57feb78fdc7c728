using Wildberries.Core;

namespace Wildberries.Engine;

/// <summary>
/// Every stock row and every order held, read consistently on each shard's writer thread after an invariant check;
/// an order whose lines span shards with all its lines, and <see cref="Holds"/> the shards' parts of such orders.
/// </summary>
#pragma warning disable CA1819 // A snapshot for audits, not a hot-path type.
public sealed record EngineAudit(StockLevel[] Rows, OrderView[] Orders, OrderView[] Holds);
#pragma warning restore CA1819
