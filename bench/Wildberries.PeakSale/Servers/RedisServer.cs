using System.Diagnostics;
using Wildberries.Testing;

namespace Wildberries.PeakSale.Servers;

/// <summary>A real redis-server on a loopback port with append-only persistence, started and stopped by the benchmark.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private RedisServer(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Starts with <c>appendfsync</c> set to <paramref name="appendFsync"/> (<c>always</c> or <c>everysec</c>).</summary>
    public static async Task<RedisServer> StartAsync(string appendFsync)
    {
        var binary = LocalProcess.Find("redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server");
        var directory = Directory.CreateTempSubdirectory("wb-redis-").FullName;
        var port = LocalProcess.FreePort();
        var start = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", directory, "--appendonly", "yes", "--appendfsync", appendFsync, "--save", "", "--protected-mode", "yes", "--daemonize", "no" })
        {
            start.ArgumentList.Add(a);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start redis-server");
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.Contains("Ready to accept connections", StringComparison.Ordinal) == true) ready.TrySetResult();
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
        return new RedisServer(process, directory, port);
    }

    public async ValueTask DisposeAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
