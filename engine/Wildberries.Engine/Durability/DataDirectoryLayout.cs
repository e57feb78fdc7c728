using System.Text.Json;

namespace Wildberries.Engine.Durability;

/// <summary>
/// The data directory's layout: how many shards its stock is partitioned over (and by which function), recorded in
/// <c>layout.json</c> on first start and checked on every start after. Changing the shard count of an existing
/// directory is refused: every SKU would belong to another journal. Re-partitioning is an offline migration
/// (export the catalog and stock, start a new directory with the new count, import) and is not done in place.
/// </summary>
internal static class DataDirectoryLayout
{
    /// <summary>The partition function's name as recorded; see <see cref="Core.ShardRouter"/>.</summary>
    public const string Router = "mix64-mod-v1";

    private const string FileName = "layout.json";

    private sealed record Layout(int Shards, string Router);

    /// <summary>The shard count a directory was created with (its layout.json, else its shard directories); 0 when none.</summary>
    public static int ShardsOf(string directory)
    {
        var file = Path.Combine(directory, FileName);
        if (File.Exists(file)) return JsonSerializer.Deserialize<Layout>(File.ReadAllText(file))?.Shards ?? 0;
        return Directory.Exists(directory) ? Directory.EnumerateDirectories(directory, "shard-*").Count() : 0;
    }

    /// <summary>Records the layout of a new directory, or checks an existing one; throws with what to do when they differ.</summary>
    public static void Claim(string directory, int shards)
    {
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, FileName);
        if (File.Exists(file))
        {
            var found = JsonSerializer.Deserialize<Layout>(File.ReadAllText(file))
                ?? throw new InvalidDataException($"{file} is empty: restore it, or remove it only if the directory holds {shards} shard(s).");
            if (found.Router != Router) throw new InvalidDataException($"{file} names the partition function '{found.Router}', which this version does not know.");
            if (found.Shards != shards)
            {
                throw new InvalidOperationException(
                    $"The data directory {Path.GetFullPath(directory)} holds {found.Shards} shard(s), but {shards} were asked for. " +
                    $"Stock is partitioned by the shard count, so it cannot change in place: start with --shards {found.Shards}, " +
                    "or re-partition offline into a new directory.");
            }
            return;
        }
        // Directories written before the layout was recorded held one shard.
        var existing = Directory.EnumerateDirectories(directory, "shard-*").Count();
        if (existing > 0 && existing != shards)
        {
            throw new InvalidOperationException(
                $"The data directory {Path.GetFullPath(directory)} holds {existing} shard directory(ies) but no {FileName}, and {shards} shard(s) were asked for: start with --shards {existing}.");
        }
        var temporary = file + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(new Layout(shards, Router)));
        using (var stream = new FileStream(temporary, FileMode.Open, FileAccess.ReadWrite)) stream.Flush(flushToDisk: true);
        File.Move(temporary, file, overwrite: true);
        Snapshots.DirectorySync.Fsync(directory);
    }
}
