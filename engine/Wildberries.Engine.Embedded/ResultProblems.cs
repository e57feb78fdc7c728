using Wildberries.Core;
using Wildberries.Protocol;

namespace Wildberries.Engine.Embedded;

/// <summary>
/// The one mapping from a business result to its problem (stable code, HTTP status, title): the HTTP API, the binary
/// protocol and the embedded service all answer through it.
/// </summary>
public static class ResultProblems
{
    /// <summary>The problem for a result that is not a success.</summary>
    public static ProblemBody Describe(CommandResult r)
    {
        var code = ResultCodes.ToWire(r.Code);
        return r.Code switch
        {
            ResultCode.InvalidArgument => new(code, 400, "A field is missing, malformed or out of range.", $"'{r.Field}' is not valid.", r.Field),
            ResultCode.OutOfRange => new(code, 400, "A number is beyond the limits that keep every count and amount exact.", $"'{r.Field}' is out of range.", r.Field),
            ResultCode.InsufficientStock => new(code, 409, "Not enough stock for every line; nothing was reserved.", null, null,
                r.Shortages?.Select(s => new Wildberries.Protocol.Shortage(s.Sku, s.Requested, s.Available)).ToArray()),
            ResultCode.OrderNotFound => new(code, 404, "No such order."),
            ResultCode.InvalidState => new(code, 409, "The order's state does not allow this.", $"The order is {OrderTransitions.ToWire(r.Status)}."),
            ResultCode.OnHandMismatch => new(code, 409, "The on-hand count changed since it was read.", $"The current on-hand count is {r.Value}."),
            ResultCode.IdempotencyKeyReused => new(code, 422, "The idempotency key was used with a different request.", null, "Idempotency-Key"),
            ResultCode.UnknownSku => new(code, 422, "A SKU is not in the catalog.", null, r.Field),
            ResultCode.SkuInactive => new(code, 422, "A SKU is not for sale.", null, r.Field),
            ResultCode.OverMaxPerOrder => new(code, 422, "A line asks for more than the item allows per order.", null, r.Field),
            ResultCode.DuplicateSku => new(code, 422, "Two lines name the same SKU.", null, r.Field),
            ResultCode.AmountMismatch => new(code, 422, "The payment amount differs from the order's; the order is not paid."),
            ResultCode.CurrencyMismatch => new(code, 422, "The payment currency differs from the order's; the order is not paid."),
            ResultCode.WrongShard => new(code, 422, "The SKU or order belongs to another shard than the one asked.", null, r.Field),
            ResultCode.OnHandOutOfRange => new(code, 422, "The adjustment would make on-hand negative or too large.", $"The current on-hand count is {r.Value}."),
            _ => new(code, 409, "The request conflicts with the current state."),
        };
    }
}
