using System.Diagnostics.CodeAnalysis;

namespace Wildberries.Core;

/// <summary>
/// An order's identity: the home shard in the top 16 bits and the shard's own counter below, so ids are unique
/// across shards without coordination. Its text form is short lower-case base32, safe in a URL.
/// </summary>
public readonly record struct OrderId(ulong Value)
{
    /// <summary>The highest shard number an id can carry.</summary>
    public const int ShardMax = 0xFFFF;

    private const int SequenceBits = 48;
    private const ulong SequenceMask = (1UL << SequenceBits) - 1;

    /// <summary>The highest sequence number an id can carry.</summary>
    internal const long SequenceMax = (long)SequenceMask;
    private const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz"; // Crockford: no i, l, o, u

    /// <summary>Makes the id of the <paramref name="sequence"/>-th order of <paramref name="shard"/>.</summary>
    public static OrderId Create(int shard, long sequence)
    {
        if ((uint)shard > ShardMax) throw new ArgumentOutOfRangeException(nameof(shard));
        if (sequence <= 0 || (ulong)sequence > SequenceMask) throw new ArgumentOutOfRangeException(nameof(sequence));
        return new OrderId(((ulong)shard << SequenceBits) | (ulong)sequence);
    }

    /// <summary>The shard that owns the order.</summary>
    public int Shard => (int)(Value >> SequenceBits);

    /// <summary>The order's number within its shard.</summary>
    public long Sequence => (long)(Value & SequenceMask);

    /// <summary>Whether this is an id the engine could have issued.</summary>
    public bool IsValid => Sequence > 0;

    /// <summary>The URL-safe text form, for example <c>2m8x4</c>.</summary>
    public override string ToString()
    {
        Span<char> buffer = stackalloc char[13];
        var v = Value;
        var i = buffer.Length;
        do
        {
            buffer[--i] = Alphabet[(int)(v & 31)];
            v >>= 5;
        }
        while (v != 0);
        return new string(buffer[i..]);
    }

    /// <summary>Parses the text form; false for anything the engine could not have issued.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out OrderId id)
    {
        id = default;
        if (string.IsNullOrEmpty(text) || text.Length > 13) return false;
        ulong v = 0;
        foreach (var c in text)
        {
            var digit = Alphabet.IndexOf(c, StringComparison.Ordinal);
            if (digit < 0) return false;
            if (v > (ulong.MaxValue >> 5)) return false;
            v = (v << 5) | (uint)digit;
        }
        // Only the canonical form parses, so one order has exactly one text id.
        if (text.Length > 1 && text[0] == '0') return false;
        id = new OrderId(v);
        return id.IsValid;
    }
}
