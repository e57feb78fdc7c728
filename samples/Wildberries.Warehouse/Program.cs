using System.Runtime.InteropServices;
using Wildberries.Warehouse;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(WarehouseOptions.Usage);
    return 0;
}
var (options, errors) = WarehouseOptions.Parse(args, Environment.GetEnvironmentVariable);
if (options is null)
{
    foreach (var error in errors) Console.Error.WriteLine($"error: {error}");
    Console.Error.WriteLine();
    Console.Error.WriteLine(WarehouseOptions.Usage);
    return 2;
}

using var stop = new CancellationTokenSource();
void Stop(PosixSignalContext context)
{
    context.Cancel = true; // we stop ourselves, after leaving the group
    Console.WriteLine("stopping...");
    stop.Cancel();
}
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
using var worker = new WarehouseWorker(options, line => Console.WriteLine($"{DateTimeOffset.Now:HH:mm:ss.fff} {line}"));
try
{
    await worker.RunAsync(stop.Token);
    return 0;
}
catch (InvalidOperationException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}
