using System.Globalization;
using System.Reflection;
using Npgsql;

namespace Wildberries.Engine.Postgres.Internal;

/// <summary>
/// Applies the embedded versioned scripts (<c>Migrations/NNNN_name.sql</c>) in order, each in its own transaction
/// with its row in <c>wb_schema_migrations</c>, under an advisory lock so that two servers starting at once apply
/// each script once.
/// </summary>
internal static class SchemaMigrator
{
    /// <summary>The advisory lock key: "wbschema" in ASCII, so other users of advisory locks do not collide by chance.</summary>
    private const long LockKey = 0x7762_7363_6865_6D61;

    private const string Prefix = "Wildberries.Engine.Postgres.Migrations.";

    /// <summary>The scripts shipped in this assembly, by version.</summary>
    public static IReadOnlyList<(int Version, string Name, string Sql)> Scripts { get; } = Load();

    private static List<(int, string, string)> Load()
    {
        var assembly = typeof(SchemaMigrator).Assembly;
        var scripts = new List<(int, string, string)>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            var name = resource[Prefix.Length..^".sql".Length];
            var version = int.Parse(name.AsSpan(0, name.IndexOf('_', StringComparison.Ordinal)), NumberStyles.None, CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            scripts.Add((version, name, reader.ReadToEnd()));
        }
        scripts.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        if (scripts.Select(s => s.Item1).Distinct().Count() != scripts.Count) throw new InvalidOperationException("Two migrations share a version.");
        return scripts;
    }

    /// <summary>Applies every script not yet applied; returns the versions it applied.</summary>
    public static async Task<IReadOnlyList<int>> MigrateAsync(NpgsqlDataSource dataSource, CancellationToken cancellation)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellation).ConfigureAwait(false);
        await Execute(connection, $"SELECT pg_advisory_lock({LockKey})", cancellation).ConfigureAwait(false);
        try
        {
            await Execute(connection, "CREATE TABLE IF NOT EXISTS wb_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())", cancellation).ConfigureAwait(false);
            var applied = new HashSet<int>();
            await using (var read = new NpgsqlCommand("SELECT version FROM wb_schema_migrations", connection))
            await using (var reader = await read.ExecuteReaderAsync(cancellation).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellation).ConfigureAwait(false)) applied.Add(reader.GetInt32(0));
            }
            var done = new List<int>();
            foreach (var (version, name, sql) in Scripts.Where(s => !applied.Contains(s.Version)))
            {
                await using var transaction = await connection.BeginTransactionAsync(cancellation).ConfigureAwait(false);
                await Execute(connection, sql, cancellation).ConfigureAwait(false);
                await using (var record = new NpgsqlCommand("INSERT INTO wb_schema_migrations (version, name) VALUES ($1, $2)", connection))
                {
                    record.Parameters.Add(new NpgsqlParameter<int> { TypedValue = version });
                    record.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
                    await record.ExecuteNonQueryAsync(cancellation).ConfigureAwait(false);
                }
                await transaction.CommitAsync(cancellation).ConfigureAwait(false);
                done.Add(version);
            }
            return done;
        }
        finally
        {
            // A broken connection releases the lock by itself when PostgreSQL drops the session.
            if (connection.FullState == System.Data.ConnectionState.Open) await Execute(connection, $"SELECT pg_advisory_unlock({LockKey})", CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken cancellation)
    {
#pragma warning disable CA2100 // Our own embedded scripts and constants, never input.
        await using var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
        await command.ExecuteNonQueryAsync(cancellation).ConfigureAwait(false);
    }
}
