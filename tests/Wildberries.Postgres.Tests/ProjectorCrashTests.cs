using System.Globalization;
using Wildberries.Engine;
using Wildberries.Engine.Journal;
using Wildberries.Engine.Postgres;
using Wildberries.Testing;

namespace Wildberries.Postgres.Tests;

/// <summary>Exactly once across kill -9: the host dies mid-batch again and again, and the tables still equal the audit.</summary>
public sealed class ProjectorCrashTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task KilledMidBatchManyTimes_TablesEqualTheAuditAndNoEventIsAppliedTwice()
    {
        var cancellation = TestContext.Current.CancellationToken;
        var database = await postgres.CreateDatabaseAsync();
        var directory = Directory.CreateTempSubdirectory("wb-pg-crash-").FullName;
        try
        {
            var acknowledged = new List<string>();
            var projectedAtKill = new List<long>();
            for (var run = 0; run < 4; run++)
            {
                var lines = await CrashChildProcess.RunAndKillAsync(
                    [directory, run.ToString(CultureInfo.InvariantCulture), "4", "postgres=" + database],
                    // Killed while clients check out and the projector commits batches of 200: after a number of
                    // acknowledged checkouts that differs from run to run (not after a time, which a slow machine
                    // could spend starting up), and from the second run on once the projector has committed something.
                    async (output, ct) =>
                    {
                        await output.UntilAsync("C ", 40 + (run * 37 % 80), TimeSpan.FromSeconds(60), ct);
                        if (run > 0)
                        {
                            await Eventually.UntilAsync(() => output.Any(IsProjecting), TimeSpan.FromSeconds(60), () => $"run {run}: the projector has not committed", ct);
                        }
                    },
                    $"run {run}", cancellation);
                acknowledged.AddRange(lines.Where(l => l.StartsWith("C ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2]));
                var lag = lines.LastOrDefault(l => l.StartsWith("L ", StringComparison.Ordinal));
                if (lag is not null) projectedAtKill.Add(long.Parse(lag.Split(' ')[3], CultureInfo.InvariantCulture));
            }
            Assert.True(acknowledged.Count > 100, $"only {acknowledged.Count} checkouts were acknowledged before the kills");
            // The projector was working when killed: some runs had projected something (not only at the start).
            Assert.Contains(projectedAtKill, p => p > 0);

            // Restarted in this process: it resumes from the slot, skips what PostgreSQL has, and catches up.
            await using var engine = ReservationEngine.Open(new EngineOptions(), new JournalOptions { Directory = directory });
            await using var projector = PostgresProjector.Start(engine, new PostgresProjectorOptions { ConnectionString = database });
            var audit = await engine.AuditAsync();
            await ReadModel.AssertProjectedAsync(audit, database, TimeSpan.FromSeconds(30));
            var projected = await ReadModel.OrderIdsAsync(database);
            Assert.All(acknowledged, id => Assert.Contains(id, projected));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>A lag line "L shard lagEntries projectedLsn" with something projected.</summary>
    private static bool IsProjecting(string line) =>
        line.StartsWith("L ", StringComparison.Ordinal) && long.Parse(line.Split(' ')[3], CultureInfo.InvariantCulture) > 0;
}
