using Wildberries.Core;

namespace Wildberries.Core.Tests;

/// <summary>
/// A state machine plus what the journal stage would do for it: number the commands and stamp their time.
/// Checks every invariant after every command.
/// </summary>
internal sealed class Shard
{
    public const long T0 = 1_700_000_000_000;

    public Shard(StateMachineOptions? options = null)
    {
        Machine = new ReservationStateMachine((options ?? new StateMachineOptions()) with { VerifyInvariantsEveryCommand = true });
        NowMs = T0;
    }

    public ReservationStateMachine Machine { get; }

    public EventBuffer Events { get; } = new();

    public List<Command> Log { get; } = [];

    public long NowMs { get; set; }

    public CommandResult Apply(Command command)
    {
        command.Lsn = Machine.LastLsn + 1;
        command.TimestampMs = NowMs;
        Log.Add(command);
        Events.Clear();
        return Machine.Apply(command, Events);
    }

    public CommandResult Advance(long ms)
    {
        NowMs += ms;
        return Apply(Command.Tick());
    }

    public void Item(long sku, long price = 100, int maxPerOrder = 100, bool active = true) =>
        Assert.Equal(ResultCode.Ok, Apply(Command.UpsertItem(sku, $"item {sku}", price, maxPerOrder, active)).Code);

    public void Stock(long sku, int warehouse, long onHand) =>
        Assert.Equal(ResultCode.Ok, Apply(Command.SetStockOnHand(sku, warehouse, onHand)).Code);

    private int _keys;

    public CommandResult Checkout(string customer, params CheckoutLine[] lines) =>
        Apply(Command.Checkout($"key-{++_keys}", customer, lines));

    public CommandResult Buy(long sku, int qty, string customer = "c1", int[]? warehouses = null) =>
        Apply(Command.Checkout($"key-{++_keys}", customer, [new CheckoutLine(sku, qty)], warehouses));

    public StockLevel Row(long sku, int warehouse) => Machine.GetStock(sku, warehouse);

    public OrderView Order(OrderId id)
    {
        Assert.True(Machine.TryGetOrder(id, out var view));
        return view;
    }

    public IReadOnlyList<EventKind> EventKinds()
    {
        var list = new List<EventKind>();
        foreach (var e in Events.Events) list.Add(e.Kind);
        return list;
    }
}
