using Wildberries.Core;
using Wildberries.Engine.Journal;

namespace Wildberries.Engine.Tests.Pipeline;

/// <summary>The journal thread applying small batches itself while the apply thread is idle.</summary>
public class InPlaceApplyTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task One_caller_gets_the_same_answers_and_state_whichever_thread_applies(bool separateApplyThread)
    {
        var options = new EngineOptions { SeparateApplyThread = separateApplyThread };
        var journal = new InMemoryJournal();
        await using var engine = ReservationEngine.Start(options, _ => journal);
        await engine.UpsertItemAsync(7, "Item", 100, maxPerOrder: 3);
        await engine.AdjustStockAsync(7, 1, 10);

        var codes = new List<ResultCode>();
        for (var i = 0; i < 8; i++)
        {
            codes.Add((await engine.CheckoutAsync($"k{i}", "c", [new CheckoutLine(7, 2)])).Code);
        }

        // 10 units in 2s: five orders, then refusals, in the order asked, whichever thread applied them.
        Assert.Equal([.. Enumerable.Repeat(ResultCode.Ok, 5), .. Enumerable.Repeat(ResultCode.InsufficientStock, 3)], codes);
        Assert.Equal(0, engine.Availability.GetAvailable(7));
        Assert.Equal(10, journal.LastLsn);
        // One caller waits for each answer: every batch is one command, and the apply thread is idle for each.
        if (separateApplyThread) Assert.Equal(0, engine.InPlaceBatches);
        else Assert.True(engine.InPlaceBatches >= 8, $"only {engine.InPlaceBatches} batches applied on the journal thread");
    }
}
