using Wildberries.Core;

namespace Wildberries.Bench;

/// <summary>How SKUs are drawn for a cart.</summary>
public enum SkuMix
{
    /// <summary>Every SKU equally likely.</summary>
    Uniform,

    /// <summary>Zipf-skewed (s = 1.1): a few hundred SKUs take most of the traffic, as in a flash sale.</summary>
    Zipf,
}

/// <summary>Deterministic carts for benchmarks: the same seed gives the same carts.</summary>
public static class Workload
{
    /// <summary>Draws <paramref name="count"/> carts of <paramref name="lines"/> distinct SKUs in 1..<paramref name="skus"/>.</summary>
    public static CheckoutLine[][] Carts(int count, int lines, int skus, SkuMix mix, int seed = 42)
    {
#pragma warning disable CA5394 // Benchmark data, not security.
        var random = new Random(seed);
        var cumulative = mix == SkuMix.Zipf ? ZipfCumulative(skus, 1.1) : null;
        var carts = new CheckoutLine[count][];
        for (var i = 0; i < count; i++)
        {
            var cart = new CheckoutLine[lines];
            for (var l = 0; l < lines; l++)
            {
                long sku;
                do
                {
                    sku = cumulative is null ? random.Next(1, skus + 1) : 1 + LowerBound(cumulative, random.NextDouble());
                }
                while (Contains(cart, l, sku));
                cart[l] = new CheckoutLine(sku, 1);
            }
            carts[i] = cart;
        }
#pragma warning restore CA5394
        return carts;
    }

    /// <summary>
    /// Draws <paramref name="count"/> 2-line carts (Zipf SKUs in 1..<paramref name="skus"/>) of which
    /// <paramref name="crossPercent"/> % have their two lines on different shards of a 2-shard engine
    /// (<see cref="ShardRouter"/>) and the rest both lines on one shard. <paramref name="spans"/> tells which carts span.
    /// On one shard the same carts span nothing: the control.
    /// </summary>
    public static CheckoutLine[][] ShardCarts(int count, int skus, int crossPercent, out bool[] spans, int seed = 42)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(crossPercent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(crossPercent, 100);
#pragma warning disable CA5394 // Benchmark data, not security.
        var random = new Random(seed);
        var cumulative = ZipfCumulative(skus, 1.1);
        var carts = new CheckoutLine[count][];
        spans = new bool[count];
        for (var i = 0; i < count; i++)
        {
            var spanning = random.Next(100) < crossPercent;
            var first = 1L + LowerBound(cumulative, random.NextDouble());
            long second;
            do
            {
                second = 1L + LowerBound(cumulative, random.NextDouble());
            }
            while (second == first || (ShardRouter.ShardOf(first, 2) != ShardRouter.ShardOf(second, 2)) != spanning);
            carts[i] = [new CheckoutLine(first, 1), new CheckoutLine(second, 1)];
            spans[i] = spanning;
        }
#pragma warning restore CA5394
        return carts;
    }

    /// <summary>
    /// Fills a fresh state machine with <paramref name="skus"/> items over 3 warehouses, deep enough never to run out,
    /// with room made for <paramref name="orders"/> orders (2 allocations and 16 key bytes each).
    /// </summary>
    public static ReservationStateMachine Catalog(int skus, out long lsn, long nowMs, int orders = 1 << 18)
    {
        var machine = new ReservationStateMachine(new StateMachineOptions { OrdersCapacityHint = orders, SkusCapacityHint = skus });
        lsn = LoadCatalog(machine, skus, nowMs);
        return machine;
    }

    /// <summary>Applies the benchmark catalog to an empty machine from log sequence number 1; returns the last one.</summary>
    public static long LoadCatalog(ReservationStateMachine machine, int skus, long nowMs)
    {
        var events = new EventBuffer();
        long lsn = 0;
        foreach (var command in CatalogCommands(skus))
        {
            var c = command;
            c.Lsn = ++lsn;
            c.TimestampMs = nowMs;
            events.Clear();
            machine.Apply(c, events);
        }
        return lsn;
    }

    /// <summary>The commands that create the benchmark catalog.</summary>
    public static IEnumerable<Command> CatalogCommands(int skus)
    {
        for (long sku = 1; sku <= skus; sku++)
        {
            yield return Command.UpsertItem(sku, $"item {sku}", 100 + (sku % 900), 100, true);
            for (var w = 1; w <= 3; w++) yield return Command.SetStockOnHand(sku, w, 300_000_000);
        }
    }

    private static bool Contains(CheckoutLine[] cart, int count, long sku)
    {
        for (var i = 0; i < count; i++)
        {
            if (cart[i].Sku == sku) return true;
        }
        return false;
    }

    private static double[] ZipfCumulative(int n, double s)
    {
        var c = new double[n];
        double sum = 0;
        for (var k = 1; k <= n; k++)
        {
            sum += 1.0 / Math.Pow(k, s);
            c[k - 1] = sum;
        }
        for (var k = 0; k < n; k++) c[k] /= sum;
        return c;
    }

    private static int LowerBound(double[] cumulative, double x)
    {
        var i = Array.BinarySearch(cumulative, x);
        return Math.Min(i >= 0 ? i : ~i, cumulative.Length - 1);
    }
}
