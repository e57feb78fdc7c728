namespace Wildberries.Engine.Tests;

/// <summary>A real directory under the system temp folder, deleted when the test ends.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory(string name) =>
        Path = Directory.CreateTempSubdirectory($"wb-{name}-").FullName;

    public string Path { get; }

    public string Shard0 => System.IO.Path.Combine(Path, "shard-0");

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
