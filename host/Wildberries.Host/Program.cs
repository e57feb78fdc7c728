using Wildberries.Host;

// The operator's command line (HostCommandLine): the server by default, beside it import, verify, inspect, backup
// and snapshot. `--help` lists every switch with its default; an unknown switch exits 2 before anything starts.
return await HostCommandLine.RunAsync(args, Console.Out, Console.Error);
