using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Wildberries.Kafka.Tests.Failover;

/// <summary>
/// The reservation server in a process of its own (the host built beside the tests), on a loopback port, pointed
/// at a mock Kafka cluster: what a failover test kills with SIGKILL, pauses with SIGSTOP and starts again.
/// </summary>
internal sealed partial class HostNode : IAsyncDisposable
{
    public const string StorefrontKey = "failover-storefront-key-0123456789";
    public const string AdminKey = "failover-admin-key-0123456789abcdef";
    public const string WebhookSecret = "failover-webhook-secret-0123456789";

    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private int _disposed;

    private HostNode(string name, string data, Process process, Uri address)
    {
        Name = name;
        Data = data;
        _process = process;
        Address = address;
        Storefront = Client(StorefrontKey);
        Admin = Client(AdminKey);
        Anonymous = Client(null);
    }

    public string Name { get; }

    public string Data { get; }

    public Uri Address { get; }

    public HttpClient Storefront { get; }

    public HttpClient Admin { get; }

    public HttpClient Anonymous { get; }

    public bool Exited => _process.HasExited;

    /// <summary>What the process printed (its log at Warning and above).</summary>
    public string Log
    {
        get
        {
            lock (_log) return _log.ToString();
        }
    }

    /// <summary>Starts a node on <paramref name="data"/>; returns once it listens (not necessarily ready).</summary>
    public static async Task<HostNode> StartAsync(string name, string data, string bootstrap, IEnumerable<string> extra, CancellationToken cancellation)
    {
        var port = Wildberries.Testing.LocalProcess.FreePort();
        var address = new Uri($"http://127.0.0.1:{port}");
        var start = new ProcessStartInfo(Wildberries.Testing.CrashChildProcess.DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            Path.Combine(AppContext.BaseDirectory, "Wildberries.Host.dll"), "--data", data, "--urls", address.ToString().TrimEnd('/'),
            "--storefront-key", StorefrontKey, "--admin-key", AdminKey, "--webhook-secret", WebhookSecret, "--kafka-bootstrap", bootstrap,
            "--anonymous-rate-limit", "1000000", "--rate-limit", "10000000", "--Logging:LogLevel:Default", "Warning",
        }.Concat(extra))
        {
            start.ArgumentList.Add(a);
        }
        var process = new Process { StartInfo = start };
        var node = new HostNode(name, data, process, address);
        process.OutputDataReceived += (_, e) => node.Append(e.Data);
        process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Task.CompletedTask.WaitAsync(cancellation);
        return node;
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log)
        {
            if (_log.Length < 2_000_000) _log.AppendLine(line);
        }
    }

    /// <summary>Waits (bounded) until <c>/health/ready</c> answers 200.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"{Name} exited ({_process.ExitCode}):\n{Log}");
            try
            {
                using var r = await Anonymous.GetAsync(new Uri("/health/ready", UriKind.Relative), cancellation);
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(50, cancellation);
        }
        throw new TimeoutException($"{Name} was not ready within {timeout}:\n{Log}");
    }

    /// <summary>Every shard's replication as the node reports it.</summary>
    public async Task<JsonElement[]> ReplicationAsync(CancellationToken cancellation)
    {
        using var r = await Admin.GetAsync(new Uri("/v1/admin/replication", UriKind.Relative), cancellation);
        r.EnsureSuccessStatusCode();
        return [.. JsonDocument.Parse(await r.Content.ReadAsStringAsync(cancellation)).RootElement.EnumerateArray()];
    }

    /// <summary>SIGKILL: no flush, no goodbye.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>SIGSTOP: the process is frozen mid-whatever (a GC pause, a VM migration, a partition).</summary>
    public void Pause() => Signal(19);

    /// <summary>SIGCONT.</summary>
    public void Resume() => Signal(18);

    private void Signal(int signal)
    {
        if (Kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private HttpClient Client(string? key) => Wildberries.Testing.InProcessServer.Client(Address, key, TimeSpan.FromSeconds(30));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(); // SIGKILL ends a stopped process too
                await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            }
        }
        finally
        {
            _process.Dispose();
            Storefront.Dispose();
            Admin.Dispose();
            Anonymous.Dispose();
        }
    }
}
