using BenchmarkDotNet.Running;

namespace Wildberries.Bench;

/// <summary>
/// Runs the micro benchmarks (BenchmarkDotNet arguments, e.g. <c>--filter *Ring*</c>), or one of the load benchmarks
/// named by the first argument (see <see cref="Loads"/>).
/// </summary>
public static class Program
{
    /// <summary>The load benchmarks: <c>dotnet run -c Release --project bench/Wildberries.Bench -- NAME [options]</c>.</summary>
    private static readonly Dictionary<string, Func<string[], Task>> Loads = new(StringComparer.Ordinal)
    {
        // The durability benchmark.
        ["durable"] = Durable.DurableLoad.RunAsync,
        // 1 against 2 durable shards.
        ["shards"] = Durable.ShardScalingLoad.RunAsync,
        // The flash sale: the engine against PostgreSQL and Redis.
        ["peak-sale"] = PeakSaleCommand.RunAsync,
        // The peak sale with Kafka publishing off against on.
        ["events"] = Events.EventPublishingLoad.RunAsync,
        // The bulk catalog import's rate.
        ["import"] = Import.ImportLoad.RunAsync,
        // Durable checkouts with no command log against Kafka replication in local and replicated mode; the lag at half load.
        ["replication"] = Replication.ReplicationLoad.RunAsync,
        // The peak sale with the PostgreSQL projection off against on (upsert and COPY).
        ["projection"] = Projection.ProjectionLoad.RunAsync,
        // HTTP checkouts through the real server.
        ["http"] = Http.HttpLoad.RunAsync,
        // The server under an external generator (wrk, bench/wrk/*.lua): checkouts against catalog reads and a bare Kestrel endpoint.
        ["http-wrk"] = Http.WrkLoad.RunAsync,
        // Durable checkouts through the binary protocol's client against HTTP, at 64 and 256 in flight.
        ["protocol"] = Protocol.ProtocolLoad.RunAsync,
        // The state machine with millions of live orders: heap and RSS an order, GC pauses, replay and restore in memory.
        ["memory"] = Core.MemoryLoad.RunAsync,
    };

    public static async Task Main(string[] args)
    {
        if (args.Length > 0 && Loads.TryGetValue(args[0], out var load))
        {
            await load(args[1..]);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchConfig.Create());
    }
}
