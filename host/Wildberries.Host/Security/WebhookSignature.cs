using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Wildberries.Host.Security;

/// <summary>
/// Webhook signatures: header <c>Webhook-Signature: t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256 of "t.rawbody"&gt;</c>,
/// several <c>v1</c> during key rotation, accepted within 300 seconds of now.
/// </summary>
public static class WebhookSignature
{
    /// <summary>300 seconds: covers clock skew and provider retries, short enough to make a replayed capture stale.</summary>
    public const int ToleranceSeconds = 300;

    /// <summary>Signs <paramref name="body"/> at <paramref name="unixSeconds"/> with <paramref name="secret"/>.</summary>
    public static string Sign(ReadOnlySpan<byte> body, long unixSeconds, string secret) =>
        $"t={unixSeconds.ToString(CultureInfo.InvariantCulture)},v1={Convert.ToHexStringLower(Mac(body, unixSeconds, secret))}";

    /// <summary>Whether the header carries a valid signature of <paramref name="body"/> by any of <paramref name="secrets"/>, fresh at <paramref name="nowUnixSeconds"/>.</summary>
    public static bool Verify(string? header, ReadOnlySpan<byte> body, IReadOnlyList<string> secrets, long nowUnixSeconds)
    {
        if (string.IsNullOrEmpty(header) || header.Length > 4096) return false;
        long? timestamp = null;
        var candidates = new List<byte[]>();
        foreach (var part in header.Split(','))
        {
            var kv = part.Trim();
            if (kv.StartsWith("t=", StringComparison.Ordinal) && long.TryParse(kv.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out var t)) timestamp = t;
            else if (kv.StartsWith("v1=", StringComparison.Ordinal) && kv.Length == 3 + 64)
            {
                try
                {
                    candidates.Add(Convert.FromHexString(kv.AsSpan(3)));
                }
                catch (FormatException)
                {
                }
            }
        }
        if (timestamp is null || candidates.Count == 0 || Math.Abs(nowUnixSeconds - timestamp.Value) > ToleranceSeconds) return false;
        var ok = false;
        foreach (var secret in secrets)
        {
            var expected = Mac(body, timestamp.Value, secret);
            foreach (var c in candidates) ok |= CryptographicOperations.FixedTimeEquals(expected, c);
        }
        return ok;
    }

    private static byte[] Mac(ReadOnlySpan<byte> body, long unixSeconds, string secret)
    {
        var prefix = Encoding.ASCII.GetBytes(unixSeconds.ToString(CultureInfo.InvariantCulture) + ".");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message);
    }
}
