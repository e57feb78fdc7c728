using Wildberries.Core;

namespace Wildberries.Engine;

/// <summary>Every stock row and every order held, read consistently on the writer thread after an invariant check.</summary>
#pragma warning disable CA1819 // A snapshot for audits, not a hot-path type.
public sealed record EngineAudit(StockLevel[] Rows, OrderView[] Orders);
#pragma warning restore CA1819
