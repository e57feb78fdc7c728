namespace Wildberries.Core;

/// <summary>
/// Stable 64-bit hashing for the state hash, request fingerprints and shard routing. Unlike
/// string hash codes (randomized per process) it is the same in every process, so replicas and replays can compare.
/// </summary>
public struct StateHash
{
    private const ulong Prime = 0x100000001B3;
    private ulong _h;

    /// <summary>Starts a hash with a domain tag, so equal fields of different entity kinds hash differently.</summary>
    public StateHash(ulong tag) => _h = 0xCBF29CE484222325 ^ Mix(tag);

    /// <summary>Adds a number.</summary>
    public void Add(long value) => _h = (_h ^ Mix((ulong)value)) * Prime;

    /// <summary>Adds a string by its UTF-16 code units, with its length so ("ab","c") differs from ("a","bc").</summary>
    public void Add(string? value)
    {
        if (value is null)
        {
            Add(-1);
            return;
        }
        Add(value.Length);
        foreach (var c in value) _h = (_h ^ c) * Prime;
    }

    /// <summary>Adds an ASCII string given as its bytes: the same as adding it as a string.</summary>
    internal void AddAscii(ReadOnlySpan<byte> value)
    {
        Add(value.Length);
        foreach (var c in value) _h = (_h ^ c) * Prime;
    }

    /// <summary>The finished hash.</summary>
    public readonly ulong Value => Mix(_h);

    /// <summary>The SplitMix64 finaliser: a bijective mix in which every input bit flips about half the output bits.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
