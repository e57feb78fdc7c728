using Npgsql;
using Wildberries.Testing;

// One PostgreSQL per test class and heavy tests (kill -9, server restarts): one class at a time on a 2-core machine.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly)]

namespace Wildberries.Postgres.Tests;

/// <summary>One real PostgreSQL 15 per test class (initdb costs seconds); each test gets a database of its own.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private int _databases;

    public PostgresServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await PostgresServer.StartAsync();

    /// <summary>A fresh, empty database; its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"wb_test_{Interlocked.Increment(ref _databases)}";
        // A test before this one may have restarted the server: pooled connections to the old one are dead.
        NpgsqlConnection.ClearAllPools();
        await using (var connection = new NpgsqlConnection(Server.ConnectionString(2)))
        {
            await connection.OpenAsync();
#pragma warning disable CA2100 // A name made here.
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
#pragma warning restore CA2100
            await create.ExecuteNonQueryAsync();
        }
        return Server.ConnectionString(8, name);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (Server is not null) await Server.DisposeAsync();
    }
}
