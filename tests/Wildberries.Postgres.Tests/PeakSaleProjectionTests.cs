using Npgsql;
using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Postgres;
using Wildberries.Testing;

namespace Wildberries.Postgres.Tests;

/// <summary>The "done when": after a flash sale, <c>SELECT status, count(*)</c> equals the audit exactly.</summary>
public sealed class PeakSaleProjectionTests(PostgresFixture postgres, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    [Theory]
    [InlineData(ProjectionWriteMethod.Upsert)]
    [InlineData(ProjectionWriteMethod.Copy)]
    public async Task AfterAFlashSale_StatusCountsAndEveryRowEqualTheAudit(ProjectionWriteMethod method)
    {
        var database = await postgres.CreateDatabaseAsync();
        var directory = Directory.CreateTempSubdirectory("wb-pg-sale-").FullName;
        var clock = new ManualClock();
        const int Shards = 2, Skus = 40, Customers = 300, Checkouts = 4_000;
        // The workload (carts, customers, what becomes of each order) comes from the seed; replay it with WB_PEAK_SALE_SEED.
        var seed = TestSeed.Get(output.WriteLine, "WB_PEAK_SALE_SEED");
        try
        {
            await using var engine = ReservationEngine.Open(new EngineOptions { ShardCount = Shards }, new JournalOptions { Directory = directory }, clock);
            await using var projector = PostgresProjector.Start(engine, new PostgresProjectorOptions { ConnectionString = database, WriteMethod = method, BatchSize = 1_000 });
            var skusOf = Enumerable.Range(0, Shards).Select(s => Enumerable.Range(1, Skus).Select(k => (long)k).Where(k => ShardRouter.ShardOf(k, Shards) == s).ToArray()).ToArray();
            for (var sku = 1; sku <= Skus; sku++)
            {
                await engine.UpsertItemAsync(sku, $"item {sku}", 1_000 + sku, maxPerOrder: 4);
                // Scarce stock over three warehouses: the sale sells out, so checkouts are refused and lines split.
                for (var w = 1; w <= 3; w++) await engine.AdjustStockAsync(sku, w, 20 + (sku * w % 15));
            }
            var random = new Random(seed);
            var pending = new List<(OrderId Id, long Amount)>();
            var tasks = new List<Task<CommandResult>>();
            for (var i = 0; i < Checkouts; i++)
            {
                var shard = skusOf[random.Next(Shards)];
                var lines = shard.OrderBy(_ => random.Next()).Take(1 + random.Next(3)).Select(s => new CheckoutLine(s, 1 + random.Next(3))).ToArray();
                tasks.Add(engine.CheckoutAsync($"k{i}", $"customer-{random.Next(Customers)}", lines).AsTask());
            }
            var results = await Task.WhenAll(tasks);
            var created = results.Where(r => r.IsOk).ToArray();
            Assert.True(created.Length > 500, $"only {created.Length} checkouts succeeded (seed {seed})");
            var actions = new List<Task>();
            foreach (var r in created)
            {
                switch (random.Next(5))
                {
                    case 0 or 1: actions.Add(engine.ApplyPaymentAsync(r.OrderId, $"tx-{r.OrderId}", true, r.Amount, "RUB").AsTask()); break;
                    case 2: actions.Add(engine.CancelAsync(r.OrderId).AsTask()); break;
                    case 3: actions.Add(engine.ApplyPaymentAsync(r.OrderId, $"tx-fail-{r.OrderId}", false, r.Amount, "RUB").AsTask()); break;
                    default: pending.Add((r.OrderId, r.Amount)); break;
                }
            }
            await Task.WhenAll(actions);
            // The rest of the reservations run out; a few are paid late (re-reserved, or a refund when the stock is gone).
            clock.Advance(TimeSpan.FromMinutes(16));
            await engine.TickAsync();
            foreach (var (id, amount) in pending.Take(pending.Count / 3)) await engine.ApplyPaymentAsync(id, $"tx-late-{id}", true, amount, "RUB");
            foreach (var r in created.Take(100)) await engine.ShipAsync(r.OrderId);

            var audit = await engine.AuditAsync();
            Assert.Contains(audit.Orders, o => o.Status == OrderStatus.Expired);
            await ReadModel.AssertProjectedAsync(audit, database, TimeSpan.FromSeconds(60));

            // The query of the issue, as an operator would type it.
            await using var connection = new NpgsqlConnection(database);
            await connection.OpenAsync(TestContext.Current.CancellationToken);
            await using var command = new NpgsqlCommand("SELECT status, count(*) FROM wb_orders GROUP BY status", connection);
            var counts = new Dictionary<string, long>(StringComparer.Ordinal);
            await using (var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken)) while (await reader.ReadAsync(TestContext.Current.CancellationToken)) counts[reader.GetString(0)] = reader.GetInt64(1);
            var expected = audit.Orders.GroupBy(o => OrderTransitions.ToWire(o.Status)).ToDictionary(g => g.Key, g => (long)g.Count(), StringComparer.Ordinal);
            Assert.Equal(expected.OrderBy(k => k.Key, StringComparer.Ordinal), counts.OrderBy(k => k.Key, StringComparer.Ordinal));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
