namespace Wildberries.Core;

/// <summary>The one set of text rules the core applies to identifiers coming from callers.</summary>
public static class Validate
{
    /// <summary>1 to <paramref name="lengthMax"/> printable ASCII characters (33 to 126, no spaces): an idempotency key.</summary>
    public static bool IsKey(string? value, int lengthMax)
    {
        if (value is null || value.Length == 0 || value.Length > lengthMax) return false;
        foreach (var ch in value)
        {
            if (ch is < '!' or > '~') return false;
        }
        return true;
    }

    /// <summary>1 to <paramref name="lengthMax"/> characters without control characters: a name or an id.</summary>
    public static bool IsText(string? value, int lengthMax)
    {
        if (value is null || value.Length == 0 || value.Length > lengthMax) return false;
        foreach (var ch in value)
        {
            if (char.IsControl(ch)) return false;
        }
        return true;
    }
}
