using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Wildberries.Testing;

/// <summary>
/// librdkafka's mock cluster in a child process (tests/Wildberries.KafkaMock): real Kafka protocol on loopback ports,
/// so the code under test, Confluent.Kafka and kcat connect to <see cref="Bootstrap"/> exactly as to a real cluster.
/// One instance per test keeps faults (brokers down, injected errors) from leaking between tests.
/// </summary>
/// <remarks>
/// What the mock does not do (measured, see the architecture brief): it does not fence a transactional producer
/// when another initialises the same transactional.id, it checks sequence numbers only for transactional producers,
/// and setting a broker down does not move partition leadership (use <see cref="SetLeaderAsync"/>). Consumers should
/// use session.timeout.ms about 6000 (or group.protocol=consumer); the group's initial rebalance delay is 0 here.
/// The child reads its commands on stdin and exits at end of input, so a test run that dies does not leave it behind.
/// </remarks>
public sealed class KafkaMockCluster : IAsyncDisposable
{
    /// <summary>The program's file name, looked for beside the running tests.</summary>
    public const string ProgramFile = "Wildberries.KafkaMock.dll";

    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);

    private readonly Process process;
    private readonly StringBuilder log;
    private readonly SemaphoreSlim gate = new(1, 1);
    private bool broken;
    private bool disposed;

    private KafkaMockCluster(Process process, StringBuilder log, string bootstrap, int brokers)
    {
        this.process = process;
        this.log = log;
        Bootstrap = bootstrap;
        Brokers = brokers;
    }

    /// <summary>The mock brokers' addresses, "127.0.0.1:port,...": the bootstrap.servers of every client.</summary>
    public string Bootstrap { get; }

    /// <summary>How many brokers the cluster has; their ids are 1..Brokers.</summary>
    public int Brokers { get; }

    /// <summary>What the child wrote on stderr so far (which native library it bound, librdkafka's own log).</summary>
    public string Log
    {
        get
        {
            lock (log) return log.ToString();
        }
    }

    /// <summary>Starts a cluster of <paramref name="brokers"/> brokers and waits (bounded) for its bootstrap line.</summary>
    public static async Task<KafkaMockCluster> StartAsync(int brokers = 3, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var program = Path.Combine(AppContext.BaseDirectory, ProgramFile);
        if (!File.Exists(program))
        {
            throw new FileNotFoundException(
                $"{ProgramFile} is not beside the tests: add a ProjectReference to tests/Wildberries.KafkaMock to the test project.", program);
        }
        var start = new ProcessStartInfo(DotnetHost())
        {
            ArgumentList = { program, brokers.ToString(CultureInfo.InvariantCulture) },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        var log = new StringBuilder();
        var process = new Process { StartInfo = start };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (log)
            {
                if (log.Length < 1_000_000) log.AppendLine(e.Data);
            }
        };
        process.Start();
        try
        {
            process.BeginErrorReadLine();
            string? first;
            try
            {
                first = await process.StandardOutput.ReadLineAsync(cancellationToken).AsTask()
                    .WaitAsync(timeout ?? TimeSpan.FromSeconds(20), cancellationToken);
            }
            catch (TimeoutException)
            {
                throw new InvalidOperationException($"The Kafka mock printed no BOOTSTRAP line in time. Its stderr: {Snapshot(log)}");
            }
            if (first is null || !first.StartsWith("BOOTSTRAP ", StringComparison.Ordinal))
            {
                if (first is null) await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
                throw new InvalidOperationException($"The Kafka mock did not start ({first ?? "no output"}). Its stderr: {Snapshot(log)}");
            }
            return new KafkaMockCluster(process, log, first["BOOTSTRAP ".Length..].Trim(), brokers);
        }
        catch
        {
            Stop(process);
            process.Dispose();
            throw;
        }
    }

    /// <summary>Creates a topic (replication factor: min(3, brokers) unless given).</summary>
    public Task CreateTopicAsync(string topic, int partitions, int? replicationFactor = null, CancellationToken cancellationToken = default) =>
        CommandAsync(replicationFactor is { } rf ? $"topic {topic} {partitions} {rf}" : $"topic {topic} {partitions}", cancellationToken);

    /// <summary>Disconnects the broker and refuses new connections (-1: every broker). Leadership does not move.</summary>
    public Task SetBrokerDownAsync(int brokerId, CancellationToken cancellationToken = default) => CommandAsync($"down {brokerId}", cancellationToken);

    /// <summary>Lets the broker accept connections again (-1: every broker).</summary>
    public Task SetBrokerUpAsync(int brokerId, CancellationToken cancellationToken = default) => CommandAsync($"up {brokerId}", cancellationToken);

    /// <summary>Delays every answer of the broker (-1: every broker) by <paramref name="milliseconds"/> (0: none again).</summary>
    public Task SetRoundTripAsync(int brokerId, int milliseconds, CancellationToken cancellationToken = default) =>
        CommandAsync($"rtt {brokerId} {Number(milliseconds)}", cancellationToken);

    /// <summary>Makes <paramref name="brokerId"/> the leader of one partition.</summary>
    public Task SetLeaderAsync(string topic, int partition, int brokerId, CancellationToken cancellationToken = default) =>
        CommandAsync($"leader {topic} {Number(partition)} {brokerId}", cancellationToken);

    /// <summary>
    /// Makes <paramref name="brokerId"/> the transaction coordinator of <paramref name="transactionalId"/> (by default
    /// the mock picks one by hashing the id), so a test knows which broker it may set down without stopping transactions.
    /// </summary>
    public Task SetTransactionCoordinatorAsync(string transactionalId, int brokerId, CancellationToken cancellationToken = default) =>
        CommandAsync($"coordinator transaction {transactionalId} {Number(brokerId)}", cancellationToken);

    /// <summary>
    /// The next <paramref name="count"/> requests of type <paramref name="apiKey"/> (see <see cref="KafkaApiKey"/>), on
    /// any broker, fail with <paramref name="errorCode"/>: a Kafka protocol error code (Confluent's ErrorCode values),
    /// or -195 (librdkafka's transport error) to make the broker drop the connection instead of answering.
    /// </summary>
    public Task InjectErrorsAsync(short apiKey, int count, int errorCode, CancellationToken cancellationToken = default) =>
        CommandAsync($"errors {apiKey} {count} {errorCode}", cancellationToken);

    /// <summary>Drops the injected errors not yet consumed for <paramref name="apiKey"/>.</summary>
    public Task ClearErrorsAsync(short apiKey, CancellationToken cancellationToken = default) => CommandAsync($"clear {apiKey}", cancellationToken);

    /// <summary>Starts counting the requests the brokers receive, from zero.</summary>
    public Task TrackRequestsAsync(CancellationToken cancellationToken = default) => CommandAsync("track", cancellationToken);

    /// <summary>How many requests of type <paramref name="apiKey"/> arrived since <see cref="TrackRequestsAsync"/>.</summary>
    public async Task<int> CountRequestsAsync(short apiKey, CancellationToken cancellationToken = default) =>
        int.Parse(await CommandAsync($"requests {apiKey}", cancellationToken) ?? "0", CultureInfo.InvariantCulture);

    private static string Number(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Sends one command line and awaits its answer: the value after "OK", or an exception for "ERR".</summary>
    private async Task<string?> CommandAsync(string command, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (broken) throw new InvalidOperationException($"The Kafka mock stopped answering earlier. Its stderr: {Log}");
            string? answer;
            try
            {
                await process.StandardInput.WriteLineAsync(command.AsMemory(), cancellationToken);
                await process.StandardInput.FlushAsync(cancellationToken);
                answer = await process.StandardOutput.ReadLineAsync(cancellationToken).AsTask().WaitAsync(CommandTimeout, cancellationToken);
            }
            catch (Exception e) when (e is TimeoutException or IOException or OperationCanceledException)
            {
                broken = true; // an answer may still be in flight: the next command would read it
                throw new InvalidOperationException($"Kafka mock: '{command}' got no answer ({e.Message}). Its stderr: {Log}", e);
            }
            if (answer is null)
            {
                broken = true;
                throw new InvalidOperationException($"Kafka mock: '{command}': the process has exited. Its stderr: {Log}");
            }
            if (answer == "OK") return null;
            if (answer.StartsWith("OK ", StringComparison.Ordinal)) return answer[3..];
            throw new InvalidOperationException($"Kafka mock: '{command}': {answer}");
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Asks the child to quit, closes its stdin, and kills it if it has not exited within five seconds.</summary>
    public async ValueTask DisposeAsync()
    {
        if (disposed) return;
        disposed = true;
        try
        {
            if (!process.HasExited)
            {
                try
                {
                    await process.StandardInput.WriteLineAsync("quit");
                    await process.StandardInput.FlushAsync();
                    process.StandardInput.Close();
                }
                catch (IOException)
                {
                    // It is already going: the pipe is closed.
                }
                try
                {
                    await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
                }
                catch (TimeoutException)
                {
                    Stop(process);
                }
            }
        }
        finally
        {
            process.Dispose();
            gate.Dispose();
        }
    }

    private static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started, or already gone.
        }
    }

    private static string Snapshot(StringBuilder log)
    {
        lock (log) return log.ToString();
    }

    /// <summary>The dotnet host that runs the tests (the SDK sets DOTNET_HOST_PATH for its children), else PATH's.</summary>
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
}
