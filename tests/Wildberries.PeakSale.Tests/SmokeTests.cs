using Wildberries.PeakSale;
using Wildberries.PeakSale.Systems;

namespace Wildberries.PeakSale.Tests;

/// <summary>
/// A tiny flash sale against every implementation (PostgreSQL and Redis started by the test): nothing oversold,
/// reserved and committed match the orders, no acknowledged order lost. Correctness only, never timing.
/// </summary>
public class SmokeTests(ITestOutputHelper output)
{
    private static readonly FlashSaleOptions Tiny = new() { Skus = 200, HotSkus = 20, HotStockPerWarehouse = 5, ColdStockPerWarehouse = 50, Visits = 600, Concurrency = 16, Seed = 7 };

    public static TheoryData<string> Systems => ["engine", "http", "binary", "postgres-sync", "postgres-async", "redis-always", "redis-everysec"];

    [Theory]
    [MemberData(nameof(Systems))]
    public async Task A_tiny_sale_balances_its_books(string name)
    {
        await using IReservationSystem system = name switch
        {
            "engine" => new EngineSystem(),
            "http" => new HttpSystem(),
            "binary" => new HttpSystem(binaryProtocol: true),
            "postgres-sync" => new PostgresSystem(synchronousCommit: true),
            "postgres-async" => new PostgresSystem(synchronousCommit: false),
            "redis-always" => new RedisSystem("always"),
            _ => new RedisSystem("everysec"),
        };
        var result = await Runner.RunAsync(system, Tiny, FlashSale.Visits(Tiny));
        output.WriteLine(result.ToString());
        Assert.True(result.Orders > 0, "some checkouts succeed");
        Assert.True(result.ShortCheckouts > 0, "the hot set sells out");
        Assert.Equal(Tiny.Visits, result.Orders + result.ShortCheckouts);
        Assert.Equal(0, result.Oversold);
        Assert.Equal(0, result.ReservedMismatches);
        Assert.Equal(0, result.CommittedMismatches);
        Assert.Equal(0, result.LostOrders);
    }
}
