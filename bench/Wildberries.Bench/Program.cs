using BenchmarkDotNet.Running;

namespace Wildberries.Bench;

/// <summary>Runs the micro benchmarks; pass BenchmarkDotNet arguments, e.g. <c>--filter *Ring*</c>.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchConfig.Create());
}
