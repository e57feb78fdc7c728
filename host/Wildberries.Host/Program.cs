using Wildberries.Host;
using Wildberries.Host.Import;

// `import` is a command of its own (offline, on the data directory); everything else starts the server.
if (args.Length > 0 && args[0] == "import")
{
    using var stop = new CancellationTokenSource();
    Console.CancelKeyPress += (_, e) =>
    {
        // The first Ctrl+C stops submitting and reports how far the import got; a second one kills the process.
        if (stop.IsCancellationRequested) return;
        e.Cancel = true;
        stop.Cancel();
    };
    return await CatalogImport.RunAsync(args, Console.Out, Console.Error, progressBar: !Console.IsErrorRedirected, cancellation: stop.Token);
}

// `verify` and `inspect` read a stopped server's data directory and write nothing.
if (args.Length > 0 && Wildberries.Host.Operator.OperatorCommands.Handles(args[0]))
{
    return Wildberries.Host.Operator.OperatorCommands.Run(args, Console.Out, Console.Error);
}

try
{
    var app = ServerApp.Build(args);
    await app.RunAsync();
    return 0;
}
catch (ArgumentException ex)
{
    await Console.Error.WriteLineAsync($"Invalid configuration: {ex.Message}");
    return 2;
}
