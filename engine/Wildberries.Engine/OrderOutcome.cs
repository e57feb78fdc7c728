using Wildberries.Core;

namespace Wildberries.Engine;

/// <summary>
/// A command's result together with the order it concerns as of that command (null when it names no order the
/// shard holds): what a server needs to answer a checkout, cancel or shipment without a second trip to the writer.
/// </summary>
public sealed record OrderOutcome(CommandResult Result, OrderView? Order);
