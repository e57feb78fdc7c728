namespace Wildberries.Core;

/// <summary>
/// The one set of field rules for every command, needing no state: the engine checks them before a command enters
/// the ring (an invalid request costs no journal write), and the state machine checks them again before it applies
/// one (an entry that slipped past the edge can never stop a shard). Numbers beyond the limits that keep every sum
/// within 64 bits are <see cref="ResultCode.OutOfRange"/>; malformed values are <see cref="ResultCode.InvalidArgument"/>.
/// </summary>
public static class CommandRules
{
    /// <summary>Whether <paramref name="command"/> breaks a field rule; <paramref name="refusal"/> says which.</summary>
    public static bool IsRefused(in Command command, StateMachineOptions options, out CommandResult refusal)
    {
        ArgumentNullException.ThrowIfNull(options);
        // Commands on an order or a hold name one the engine could have issued (a payment may not: money for an
        // unknown order is recorded as a refund).
        if (command.Kind is not (CommandKind.UpsertItem or CommandKind.AdjustStock or CommandKind.Checkout or CommandKind.PaymentResult or CommandKind.Tick or CommandKind.None)
            && Enum.IsDefined(command.Kind) && !command.OrderId.IsValid)
        {
            refusal = CommandResult.Invalid("orderId");
            return true;
        }
        var refused = command.Kind switch
        {
            CommandKind.UpsertItem => UpsertItem(command, options),
            CommandKind.AdjustStock => AdjustStock(command, options),
            CommandKind.Checkout => Checkout(command, options),
            CommandKind.AttachPayment => AttachPayment(command, options),
            CommandKind.PaymentResult => PaymentResult(command, options),
            CommandKind.Cancel => Customer(command, options),
            CommandKind.Extend => Extend(command, options),
            CommandKind.Ship or CommandKind.Tick or CommandKind.AbortOrder or CommandKind.RepayOutcome => null,
            CommandKind.ConfirmOrder => ConfirmOrder(command, options),
            CommandKind.HoldStock => HoldStock(command, options),
            CommandKind.ConfirmHold or CommandKind.ReleaseHold or CommandKind.CommitHold or CommandKind.ShipHold => null,
            _ => CommandResult.Invalid("kind"),
        };
        refusal = refused.GetValueOrDefault();
        return refused.HasValue;
    }

    /// <summary>The largest amount an order can have: every line at the highest price and quantity.</summary>
    public static long AmountMax(StateMachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.PriceMax * options.QuantityPerLineMax * options.LinesPerCheckoutMax;
    }

    private static CommandResult? UpsertItem(in Command c, StateMachineOptions o)
    {
        if (c.Sku <= 0) return CommandResult.Invalid("sku");
        if (!Validate.IsText(c.Name, o.NameLengthMax)) return CommandResult.Invalid("name");
        if (c.Price < 0) return CommandResult.Invalid("price");
        if (c.Price > o.PriceMax) return CommandResult.OutOfRange("price");
        if (c.Expected < 1) return CommandResult.Invalid("maxPerOrder");
        if (c.Expected > o.QuantityPerLineMax) return CommandResult.OutOfRange("maxPerOrder");
        return null;
    }

    private static CommandResult? AdjustStock(in Command c, StateMachineOptions o)
    {
        if (c.Sku <= 0) return CommandResult.Invalid("sku");
        if (c.WarehouseId <= 0) return CommandResult.Invalid("warehouseId");
        if (c.Reason is not null && !Validate.IsText(c.Reason, o.NameLengthMax)) return CommandResult.Invalid("reason");
        if (c.Flag)
        {
            if (c.Value < 0) return CommandResult.Invalid("onHand");
            if (c.Value > o.OnHandMax) return CommandResult.OutOfRange("onHand");
            if (c.HasExpected && c.Expected < 0) return CommandResult.Invalid("expectedOnHand");
            if (c.HasExpected && c.Expected > o.OnHandMax) return CommandResult.OutOfRange("expectedOnHand");
            return null;
        }
        if (c.HasExpected) return CommandResult.Invalid("expectedOnHand");
        if (c.Value == 0) return CommandResult.Invalid("delta");
        // Compared without negating: -long.MinValue does not exist.
        if (c.Value < -o.OnHandMax || c.Value > o.OnHandMax) return CommandResult.OutOfRange("delta");
        return null;
    }

    private static CommandResult? Checkout(in Command c, StateMachineOptions o)
    {
        if (!Validate.IsKey(c.IdempotencyKey, o.IdempotencyKeyLengthMax)) return CommandResult.Invalid("idempotencyKey");
        if (!Validate.IsText(c.CustomerId, o.IdentifierLengthMax)) return CommandResult.Invalid("customerId");
        if (c.PaymentMethod is not null && !Validate.IsText(c.PaymentMethod, o.IdentifierLengthMax)) return CommandResult.Invalid("paymentMethod");
        return Cart(c, o);
    }

    private static CommandResult? ConfirmOrder(in Command c, StateMachineOptions o)
    {
        if (c.Value < 0 || c.Value > AmountMax(o)) return CommandResult.OutOfRange("remoteAmount");
        if (c.Expected < 1 || c.Expected > o.LinesPerCheckoutMax) return CommandResult.Invalid("remoteLines");
        return null;
    }

    private static CommandResult? HoldStock(in Command c, StateMachineOptions o)
    {
        if (c.DeadlineMs <= 0 || c.DeadlineMs > StateMachineOptions.TimestampMsMax) return CommandResult.OutOfRange("deadlineMs");
        return Cart(c, o);
    }

    /// <summary>The lines and warehouse preference of a checkout or a hold.</summary>
    private static CommandResult? Cart(in Command c, StateMachineOptions o)
    {
        var lines = c.Lines;
        if (lines is null || lines.Length == 0 || lines.Length > o.LinesPerCheckoutMax) return CommandResult.Invalid("lines");
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Sku <= 0) return CommandResult.Invalid(LineField(i, "sku"));
            if (lines[i].Quantity < 1 || lines[i].Quantity > o.QuantityPerLineMax) return CommandResult.Invalid(LineField(i, "qty"));
            for (var j = 0; j < i; j++)
            {
                if (lines[j].Sku == lines[i].Sku) return new CommandResult { Code = ResultCode.DuplicateSku, Field = LineField(i, "sku") };
            }
        }

        var warehouses = c.Warehouses;
        if (warehouses is null) return null;
        if (warehouses.Length == 0 || warehouses.Length > o.WarehousesPerCheckoutMax) return CommandResult.Invalid("warehouses");
        for (var i = 0; i < warehouses.Length; i++)
        {
            if (warehouses[i] <= 0 || Array.IndexOf(warehouses, warehouses[i], 0, i) >= 0) return CommandResult.Invalid($"warehouses[{i}]");
        }
        return null;
    }

    private static CommandResult? AttachPayment(in Command c, StateMachineOptions o)
    {
        if (!Validate.IsKey(c.PaymentSessionId, o.IdempotencyKeyLengthMax)) return CommandResult.Invalid("paymentSessionId");
        if (c.PaymentUrl is not null && !Validate.IsKey(c.PaymentUrl, StateMachineOptions.PaymentUrlLengthMax)) return CommandResult.Invalid("paymentUrl");
        return null;
    }

    private static CommandResult? PaymentResult(in Command c, StateMachineOptions o)
    {
        if (!Validate.IsKey(c.TransactionId, o.IdempotencyKeyLengthMax)) return CommandResult.Invalid("txId");
        if (c.EventId is not null && !Validate.IsKey(c.EventId, o.IdempotencyKeyLengthMax)) return CommandResult.Invalid("eventId");
        if (c.Amount < 0) return CommandResult.Invalid("amount");
        if (c.Amount > AmountMax(o)) return CommandResult.OutOfRange("amount");
        if (c.Currency is not { Length: 3 } || !c.Currency.All(char.IsAsciiLetterUpper)) return CommandResult.Invalid("currency");
        return null;
    }

    private static CommandResult? Customer(in Command c, StateMachineOptions o) =>
        c.CustomerId is null || Validate.IsText(c.CustomerId, o.IdentifierLengthMax) ? null : CommandResult.Invalid("customerId");

    private static CommandResult? Extend(in Command c, StateMachineOptions o)
    {
        if (c.TtlMs < StateMachineOptions.ReservationTtlMsMin || c.TtlMs > StateMachineOptions.ReservationTtlMsMax) return CommandResult.Invalid("ttlMs");
        return Customer(c, o);
    }

    /// <summary>The field path of a checkout line's field, such as <c>lines[2].qty</c>.</summary>
    public static string LineField(int index, string field) => $"lines[{index}].{field}";
}
