namespace Wildberries.Testing;

/// <summary>
/// A real PostgreSQL 15 server in a temporary directory on a loopback port: initdb, pg_ctl start, and stop and
/// delete at the end. initdb refuses root, so as root it runs as the postgres user.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string Bin = "/usr/lib/postgresql/15/bin";
    private readonly string _directory;
    private readonly string _options;

    private PostgresServer(string directory, int port, string options)
    {
        _directory = directory;
        _options = options;
        Port = port;
    }

    /// <summary>The loopback port it listens on.</summary>
    public int Port { get; }

    /// <summary>The connection string of the superuser over TCP on 127.0.0.1.</summary>
    public string ConnectionString(int maxPool, string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Maximum Pool Size={maxPool};No Reset On Close=true;Timeout=30;Command Timeout=60";

    /// <summary>Initialises a new cluster in a temporary directory and starts it.</summary>
    public static async Task<PostgresServer> StartAsync()
    {
        var initdb = LocalProcess.Find("initdb", $"{Bin}/initdb");
        var pgctl = LocalProcess.Find("pg_ctl", $"{Bin}/pg_ctl");
        var directory = Path.Combine(Path.GetTempPath(), $"wb-pg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var data = Path.Combine(directory, "data");
        if (LocalProcess.IsRoot) await LocalProcess.RunAsync("chown", "-R", "postgres:postgres", directory);
        await As(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync");
        for (var attempt = 1; ; attempt++)
        {
            // A free port found now may be taken by someone else before the server binds it: another port, then.
            var port = LocalProcess.FreePort();
            var options = $"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB -c fsync=on -c full_page_writes=on";
            var server = new PostgresServer(directory, port, options);
            try
            {
                await server.StartAsync(CancellationToken.None);
                return server;
            }
            catch (Exception ex) when (attempt < 3 && ex is not OperationCanceledException)
            {
                var log = Path.Combine(directory, "server.log");
                Console.Error.WriteLine($"PostgreSQL did not start on port {port} (attempt {attempt}): {ex.Message}\n{(File.Exists(log) ? File.ReadAllText(log) : "")}");
            }
        }
    }

    /// <summary>Starts the stopped server again on the same port and data (pg_ctl start, waiting until it accepts connections).</summary>
    public Task StartAsync(CancellationToken cancellation) =>
        As($"{Bin}/pg_ctl", "-D", Path.Combine(_directory, "data"), "-o", _options, "-l", Path.Combine(_directory, "server.log"), "-w", "-t", "60", "start");

    /// <summary>Stops the server at once, as a crash would (pg_ctl stop -m immediate): clients see their connections drop.</summary>
    public Task StopAsync(CancellationToken cancellation) =>
        As($"{Bin}/pg_ctl", "-D", Path.Combine(_directory, "data"), "-m", "immediate", "-w", "stop");

    private static Task As(string file, params string[] args) =>
        LocalProcess.IsRoot ? LocalProcess.RunAsync("runuser", ["-u", "postgres", "--", file, .. args]) : LocalProcess.RunAsync(file, args);

    /// <summary>Stops the server and deletes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            // A test that failed while it had the server stopped leaves nothing to stop.
            if (File.Exists(Path.Combine(_directory, "data", "postmaster.pid"))) await StopAsync(CancellationToken.None);
        }
        finally
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
