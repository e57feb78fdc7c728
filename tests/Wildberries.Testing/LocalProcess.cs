using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Wildberries.Testing;

/// <summary>Helpers for the database servers the benchmarks and tests start and stop themselves, on loopback only.</summary>
public static class LocalProcess
{
    /// <summary>A TCP port free on 127.0.0.1 right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Runs a command to completion; throws with its output when it fails.</summary>
    public static async Task RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        if (process.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {await stdout} {await stderr}");
    }

    /// <summary>The first existing path among candidates (Debian's PostgreSQL lives under a versioned folder).</summary>
    public static string Find(string name, params string[] candidates) =>
        candidates.FirstOrDefault(File.Exists) ?? throw new FileNotFoundException($"{name} is not installed (Debian: apt-get install postgresql redis-server).", name);

    /// <summary>Whether this process runs as root (PostgreSQL's tools then run as the postgres user).</summary>
    public static bool IsRoot => Environment.UserName == "root";
}
