using BenchmarkDotNet.Running;

namespace Wildberries.Bench;

/// <summary>Runs the micro benchmarks (BenchmarkDotNet arguments, e.g. <c>--filter *Ring*</c>) or, with <c>durable</c>, the durability benchmark; with <c>shards</c>, 1 against 2 durable shards; with <c>events</c>, the peak sale with Kafka publishing off against on; with <c>projection</c>, the peak sale with the PostgreSQL projection off against on.</summary>
public static class Program
{
    public static async Task Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "durable")
        {
            await Durable.DurableLoad.RunAsync(args[1..]);
            return;
        }
        if (args.Length > 0 && args[0] == "shards")
        {
            await Durable.ShardScalingLoad.RunAsync(args[1..]);
            return;
        }
        if (args.Length > 0 && args[0] == "peak-sale")
        {
            await PeakSaleCommand.RunAsync(args[1..]);
            return;
        }
        if (args.Length > 0 && args[0] == "events")
        {
            await Events.EventPublishingLoad.RunAsync(args[1..]);
            return;
        }
        if (args.Length > 0 && args[0] == "projection")
        {
            await Projection.ProjectionLoad.RunAsync(args[1..]);
            return;
        }
        if (args.Length > 0 && args[0] == "http")
        {
            await Http.HttpLoad.RunAsync(args[1..]);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchConfig.Create());
    }
}
