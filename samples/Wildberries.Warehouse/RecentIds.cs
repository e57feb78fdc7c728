namespace Wildberries.Warehouse;

/// <summary>
/// A bounded set of the most recent event ids: the oldest is forgotten when it is full. A redelivery older than that
/// still ships nothing twice, since the server answers a second ship of a FULFILLED order with the order as it is.
/// </summary>
public sealed class RecentIds(int capacity)
{
    private readonly HashSet<string> _set = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();
    private readonly int _capacity = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    /// <summary>How many ids are remembered.</summary>
    public int Count => _set.Count;

    /// <summary>Whether <paramref name="id"/> was seen recently.</summary>
    public bool Contains(string id) => _set.Contains(id);

    /// <summary>Remembers <paramref name="id"/>; forgets the oldest beyond the capacity.</summary>
    public void Add(string id)
    {
        if (!_set.Add(id)) return;
        _order.Enqueue(id);
        while (_order.Count > _capacity) _set.Remove(_order.Dequeue());
    }
}
