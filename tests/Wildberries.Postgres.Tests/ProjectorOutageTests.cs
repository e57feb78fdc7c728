using Wildberries.Core;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Postgres;
using Wildberries.Testing;

namespace Wildberries.Postgres.Tests;

/// <summary>PostgreSQL stopped and started mid-stream: the engine serves on, the lag grows, then the projection catches up.</summary>
public sealed class ProjectorOutageTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task PostgresRestartedMidStream_EngineKeepsServing_LagGrows_ThenCatchesUp()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var database = await postgres.CreateDatabaseAsync();
        var directory = Directory.CreateTempSubdirectory("wb-pg-outage-").FullName;
        try
        {
            await using var engine = ReservationEngine.Open(new EngineOptions(), new JournalOptions { Directory = directory });
            await using var projector = PostgresProjector.Start(engine, new PostgresProjectorOptions
            {
                ConnectionString = database, BatchSize = 500, RetryDelayMax = TimeSpan.FromMilliseconds(300),
            });
            for (var sku = 1; sku <= 20; sku++)
            {
                await engine.UpsertItemAsync(sku, $"item {sku}", 100 * sku, maxPerOrder: 5);
                await engine.AdjustStockAsync(sku, 1 + (sku % 3), 100_000);
            }
            var checkouts = 0;
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            var load = Task.WhenAll(Enumerable.Range(0, 4).Select(client => Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    var r = await engine.CheckoutAsync($"c{client}-{i}", $"customer-{client}", [new CheckoutLine(1 + ((client * 5 + i) % 20), 1)]);
                    Assert.True(r.IsOk, r.Code.ToString());
                    Interlocked.Increment(ref checkouts);
                    if (i % 2 == 0) Assert.True((await engine.ApplyPaymentAsync(r.OrderId, $"tx-{client}-{i}", true, r.Amount, "RUB")).IsOk);
                    await Task.Yield();
                }
            }, CancellationToken.None)));

            await WaitUntil(() => projector.ProjectedEvents > 200, "the projection never started");
            await postgres.Server.StopAsync(cancellation);
            var before = Volatile.Read(ref checkouts);
            // The engine answers all along: checkouts go on while nothing can be projected (liveness, not a rate:
            // how far the lag has grown when they have depends on how fast each side runs).
            await WaitUntil(() => Volatile.Read(ref checkouts) > before + 200, "the engine stopped taking checkouts while PostgreSQL was down");
            await WaitUntil(() => projector.Lag[0].LastError is not null && projector.Lag[0].LagEntries > 500, "the lag did not grow while PostgreSQL was down");
            Assert.True(projector.Lag[0].LagSeconds > 0);

            await postgres.Server.StartAsync(cancellation);
            await stop.CancelAsync();
            await load;
            var audit = await engine.AuditAsync();
            await ReadModel.AssertProjectedAsync(audit, database, TimeSpan.FromSeconds(30));
            await WaitUntil(() => projector.Lag[0] is { LagEntries: 0, LastError: null }, "the lag did not come back to zero");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static Task WaitUntil(Func<bool> condition, string failure) =>
        Eventually.UntilAsync(condition, TimeSpan.FromSeconds(30), () => failure, TestContext.Current.CancellationToken);
}
