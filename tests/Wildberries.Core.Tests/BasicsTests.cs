using System.Runtime.CompilerServices;
using Wildberries.Core;

namespace Wildberries.Core.Tests;

public class BasicsTests
{
    [Fact]
    public void The_command_struct_keeps_its_size()
    {
        // A ring slot holds one command; growing it costs memory bandwidth on every command. Change deliberately.
        Assert.Equal(96, Unsafe.SizeOf<Command>());
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(3, 12345)]
    [InlineData(65535, (1L << 48) - 1)]
    public void Order_ids_round_trip_through_text(int shard, long sequence)
    {
        var id = OrderId.Create(shard, sequence);
        var text = id.ToString();
        Assert.True(text.Length <= 13);
        Assert.Matches("^[0-9a-z]+$", text);
        Assert.True(OrderId.TryParse(text, out var parsed));
        Assert.Equal(id, parsed);
        Assert.Equal((shard, sequence), (parsed.Shard, parsed.Sequence));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("01")]
    [InlineData("ABC")]
    [InlineData("i")]
    [InlineData("zzzzzzzzzzzzzz")]
    public void Order_id_text_that_the_engine_never_issues_does_not_parse(string? text) =>
        Assert.False(OrderId.TryParse(text, out _));

    [Fact]
    public void Options_are_validated_with_the_name_of_the_bad_option()
    {
        Assert.Contains("ReservationTtlMs", Assert.Throws<ArgumentException>(() => new StateMachineOptions { ReservationTtlMs = 59_999 }.Validate()).Message);
        Assert.Contains("Currency", Assert.Throws<ArgumentException>(() => new StateMachineOptions { Currency = "rub" }.Validate()).Message);
        Assert.Contains("ShardId", Assert.Throws<ArgumentException>(() => new StateMachineOptions { ShardCount = 2, ShardId = 2 }.Validate()).Message);
        Assert.Contains("PriceMax", Assert.Throws<ArgumentException>(() => new StateMachineOptions { PriceMax = 1_000_000_000_000, QuantityPerLineMax = 1_000_000 }.Validate()).Message);
        new StateMachineOptions().Validate();
    }

    [Fact]
    public void Every_result_code_has_a_distinct_snake_case_wire_code()
    {
        var codes = ResultCodes.All.Select(ResultCodes.ToWire).ToList();
        Assert.Equal(codes.Count, codes.Distinct().Count());
        Assert.All(codes, c => Assert.Matches("^[a-z_]+$", c));
        Assert.Equal("insufficient_stock", ResultCodes.ToWire(ResultCode.InsufficientStock));
    }

    [Fact]
    public void Order_transitions_follow_the_diagram_only()
    {
        var all = Enum.GetValues<OrderStatus>();
        var allowed = all.SelectMany(f => all.Where(t => OrderTransitions.IsAllowed(f, t)).Select(t => $"{f}->{t}")).ToHashSet();
        Assert.Equal(
            new HashSet<string>
            {
                "None->PendingPayment", "PendingPayment->Paid", "PendingPayment->Cancelled", "PendingPayment->Expired",
                "Paid->Fulfilled", "Cancelled->Paid", "Cancelled->RefundRequired", "Expired->Paid", "Expired->RefundRequired",
                // cross-shard orders: prepared, then confirmed; a late payment waits for every shard's answer
                "None->Preparing", "Preparing->PendingPayment", "Preparing->Aborted", "Cancelled->Repaying", "Expired->Repaying", "Repaying->Paid", "Repaying->RefundRequired",
            },
            allowed);
    }

    [Fact]
    public void A_gap_in_the_log_is_a_bug_not_a_result()
    {
        var m = new ReservationStateMachine();
        Assert.Throws<InvariantViolationException>(() => m.Apply(new Command { Kind = CommandKind.Tick, Lsn = 2 }, new EventBuffer()));
    }
}
