using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Wildberries.Host.Security;

/// <summary>The two API-key roles.</summary>
public enum Role
{
    /// <summary>Storefront services: checkout, orders, catalog reads.</summary>
    Storefront,

    /// <summary>Operators: catalog upserts, stock, shipping.</summary>
    Admin,
}

/// <summary>
/// The API keys of both roles and the webhook secrets. Keys not configured are generated on first start into
/// <c>keys.json</c> in the data directory (readable by the owner only) and reused afterwards.
/// </summary>
public sealed class Credentials
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
    private readonly byte[] _storefront;
    private readonly byte[] _admin;

    private Credentials(string storefront, string admin, string[] webhookSecrets, string? generatedFile)
    {
        StorefrontKey = storefront;
        AdminKey = admin;
        _storefront = Encoding.UTF8.GetBytes(storefront);
        _admin = Encoding.UTF8.GetBytes(admin);
        WebhookSecrets = webhookSecrets;
        GeneratedFile = generatedFile;
    }

    /// <summary>The storefront key.</summary>
    public string StorefrontKey { get; }

    /// <summary>The admin key.</summary>
    public string AdminKey { get; }

    /// <summary>Accepted webhook secrets; the first one signs (the sandbox).</summary>
    public IReadOnlyList<string> WebhookSecrets { get; }

    /// <summary>Where generated keys were written, if any were.</summary>
    public string? GeneratedFile { get; }

    /// <summary>Loads or generates the credentials.</summary>
    public static Credentials Load(ServerOptions options)
    {
        var file = Path.Combine(options.DataDirectory, "keys.json");
        Dictionary<string, string> stored = File.Exists(file)
            ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(file)) ?? []
            : [];
        var generated = false;
        string Pick(string? configured, string name)
        {
            if (!string.IsNullOrEmpty(configured)) return configured;
            if (stored.TryGetValue(name, out var existing)) return existing;
            generated = true;
            return stored[name] = $"wb_{name}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24))}";
        }
        var storefront = Pick(options.StorefrontKey, "storefront");
        var admin = Pick(options.AdminKey, "admin");
        var secrets = string.IsNullOrEmpty(options.WebhookSecret) ? [Pick(null, "webhook")] : options.WebhookSecret.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (generated) Write(file, stored);
        return new Credentials(storefront, admin, secrets, generated ? Path.GetFullPath(file) : null);
    }

    /// <summary>
    /// Writes the keys to a new file that is owner-only from its creation (mode 0600 at open, never widened and
    /// narrowed after), through a temporary file renamed into place so a crash leaves the old file or the new one.
    /// </summary>
    private static void Write(string file, Dictionary<string, string> keys)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        var temporary = file + ".tmp";
        File.Delete(temporary);
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.WriteThrough };
        if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temporary, create))
        {
            JsonSerializer.Serialize(stream, keys, Indented);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, file, overwrite: true);
    }

    /// <summary>The role of a bearer token, compared in constant time; null when it matches none.</summary>
    public Role? Authenticate(string? authorization)
    {
        const string Prefix = "Bearer ";
        if (authorization is null || !authorization.StartsWith(Prefix, StringComparison.Ordinal)) return null;
        // Every request is authenticated (twice: by the rate limiter and the endpoint), so without allocating: a
        // token longer than both keys matches neither, and the rest is encoded into a stack (or pooled) buffer.
        var token = authorization.AsSpan(Prefix.Length).Trim();
        var longest = Math.Max(_admin.Length, _storefront.Length);
        var length = Encoding.UTF8.GetByteCount(token);
        if (length > longest) return null;
        byte[]? rented = null;
        var presented = length <= 256 ? stackalloc byte[256] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(length));
        try
        {
            presented = presented[..Encoding.UTF8.GetBytes(token, presented)];
            // Both comparisons always run, so timing does not say which role was close.
            var isAdmin = CryptographicOperations.FixedTimeEquals(presented, _admin);
            var isStorefront = CryptographicOperations.FixedTimeEquals(presented, _storefront);
            return isAdmin ? Role.Admin : isStorefront ? Role.Storefront : null;
        }
        finally
        {
            if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
