namespace Wildberries.PeakSale.Servers;

/// <summary>
/// A real PostgreSQL 15 server in a temporary directory on a loopback port: initdb, pg_ctl start, and stop and
/// delete at the end. initdb refuses root, so as root it runs as the postgres user.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string Bin = "/usr/lib/postgresql/15/bin";
    private readonly string _directory;

    private PostgresServer(string directory, int port)
    {
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The connection string of the superuser over TCP on 127.0.0.1.</summary>
    public string ConnectionString(int maxPool) =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Maximum Pool Size={maxPool};No Reset On Close=true;Timeout=30;Command Timeout=60";

    public static async Task<PostgresServer> StartAsync()
    {
        var initdb = LocalProcess.Find("initdb", $"{Bin}/initdb");
        var pgctl = LocalProcess.Find("pg_ctl", $"{Bin}/pg_ctl");
        var directory = Path.Combine(Path.GetTempPath(), $"wb-pg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var data = Path.Combine(directory, "data");
        var port = LocalProcess.FreePort();
        if (LocalProcess.IsRoot) await LocalProcess.RunAsync("chown", "-R", "postgres:postgres", directory);
        await As(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync");
        var options = $"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB -c fsync=on -c full_page_writes=on";
        await As(pgctl, "-D", data, "-o", options, "-l", Path.Combine(directory, "server.log"), "-w", "-t", "60", "start");
        return new PostgresServer(directory, port);
    }

    private static Task As(string file, params string[] args) =>
        LocalProcess.IsRoot ? LocalProcess.RunAsync("runuser", ["-u", "postgres", "--", file, .. args]) : LocalProcess.RunAsync(file, args);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await As($"{Bin}/pg_ctl", "-D", Path.Combine(_directory, "data"), "-m", "immediate", "-w", "stop");
        }
        finally
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
