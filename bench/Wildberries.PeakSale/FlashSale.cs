namespace Wildberries.PeakSale;

/// <summary>What a customer does after a successful checkout.</summary>
public enum Payment
{
    /// <summary>Pays: the reservation is committed.</summary>
    Pays,

    /// <summary>The bank declines: the reservation is released.</summary>
    Fails,

    /// <summary>Walks away: the reservation stays until it expires.</summary>
    Never,
}

/// <summary>One customer's visit: a cart and what happens to the payment.</summary>
public sealed record Visit(int Customer, (long Sku, int Qty)[] Lines, Payment Payment);

/// <summary>The size and mix of a flash sale; the same seed gives the same sale.</summary>
public sealed record FlashSaleOptions
{
    /// <summary>Catalog size (100,000 SKUs by default).</summary>
    public int Skus { get; init; } = 100_000;

    /// <summary>Warehouses each SKU is stocked in.</summary>
    public int Warehouses { get; init; } = 3;

    /// <summary>The hot set everyone wants (300 SKUs drawn with a Zipf skew).</summary>
    public int HotSkus { get; init; } = 300;

    /// <summary>Units per warehouse of a hot SKU: small, so the hot set sells out during the sale.</summary>
    public long HotStockPerWarehouse { get; init; } = 40;

    /// <summary>Units per warehouse of the rest of the catalog.</summary>
    public long ColdStockPerWarehouse { get; init; } = 1_000;

    /// <summary>Customer visits (one checkout each).</summary>
    public int Visits { get; init; } = 100_000;

    /// <summary>Concurrent customers.</summary>
    public int Concurrency { get; init; } = 256;

    /// <summary>Share of customers who never pay (their reservations stay until expiry).</summary>
    public double NeverPay { get; init; } = 0.15;

    /// <summary>Share whose payment fails.</summary>
    public double PaymentFails { get; init; } = 0.05;

    /// <summary>The seed of the sale.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>A sale small enough for a smoke test or <c>--quick</c>.</summary>
    public static FlashSaleOptions Quick => new() { Skus = 5_000, HotSkus = 100, Visits = 10_000, Concurrency = 64 };
}

/// <summary>Draws the visits of a sale: carts of 1 to 5 lines, most lines from the Zipf-skewed hot set.</summary>
public static class FlashSale
{
    public static Visit[] Visits(FlashSaleOptions o)
    {
        ArgumentNullException.ThrowIfNull(o);
#pragma warning disable CA5394 // Benchmark data, not security.
        var random = new Random(o.Seed);
        var zipf = new double[o.HotSkus];
        double sum = 0;
        for (var k = 0; k < o.HotSkus; k++) zipf[k] = sum += 1.0 / Math.Pow(k + 1, 1.1);
        var visits = new Visit[o.Visits];
        for (var v = 0; v < visits.Length; v++)
        {
            var lines = new List<(long, int)>();
            var count = random.Next(1, 6);
            while (lines.Count < count)
            {
                long sku = random.NextDouble() < 0.7
                    ? 1 + Math.Min(o.HotSkus - 1, ~Array.BinarySearch(zipf, random.NextDouble() * sum) is var i && i >= 0 ? i : ~i)
                    : random.Next(o.HotSkus + 1, o.Skus + 1);
                if (lines.All(l => l.Item1 != sku)) lines.Add((sku, random.Next(1, 3)));
            }
            var roll = random.NextDouble();
            var payment = roll < o.NeverPay ? Payment.Never : roll < o.NeverPay + o.PaymentFails ? Payment.Fails : Payment.Pays;
            visits[v] = new Visit(v, [.. lines], payment);
        }
#pragma warning restore CA5394
        return visits;
    }

    /// <summary>Price of a SKU in minor units (the same for every system).</summary>
    public static long Price(long sku) => 100_00 + (sku % 500) * 100;

    /// <summary>Stock of a SKU in one warehouse.</summary>
    public static long Stock(FlashSaleOptions o, long sku) => sku <= o.HotSkus ? o.HotStockPerWarehouse : o.ColdStockPerWarehouse;
}
