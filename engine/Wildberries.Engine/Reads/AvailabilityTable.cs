using System.Collections.Concurrent;

namespace Wildberries.Engine.Reads;

/// <summary>What one warehouse can still sell of a SKU.</summary>
public readonly record struct WarehouseAvailability(int WarehouseId, long Available);

/// <summary>
/// Availability counters the apply stage publishes after every stock change, read by any thread without locks
/// and without ever blocking the writer (a sequence lock per SKU: readers retry if they overlapped a write).
/// </summary>
public sealed class AvailabilityTable
{
    private readonly ConcurrentDictionary<long, Cell> _cells = new();

    /// <summary>The total units of <paramref name="sku"/> a checkout could reserve now (0 when unknown).</summary>
    public long GetAvailable(long sku) => _cells.TryGetValue(sku, out var cell) ? cell.ReadTotal() : 0;

    /// <summary>
    /// Copies the per-warehouse availability of <paramref name="sku"/> into <paramref name="destination"/>
    /// (by warehouse id) and returns how many warehouses there are; false when the SKU has no stock rows.
    /// A destination too small receives the first warehouses only.
    /// </summary>
    public bool TryRead(long sku, Span<WarehouseAvailability> destination, out long total, out int warehouseCount)
    {
        if (!_cells.TryGetValue(sku, out var cell))
        {
            total = 0;
            warehouseCount = 0;
            return false;
        }
        cell.Read(destination, out total, out warehouseCount);
        return true;
    }

    /// <summary>Records a row's new availability; called by the apply stage only (the single writer).</summary>
    internal void Update(long sku, int warehouseId, long available)
    {
        if (!_cells.TryGetValue(sku, out var cell))
        {
            cell = new Cell();
            _cells[sku] = cell;
        }
        cell.Write(warehouseId, Math.Max(0, available));
    }

    private sealed class Cell
    {
        // Odd while the writer is inside Write; readers retry until they see the same even value before and after.
        private int _version;
        private long _total;
        private int _count;
        private int[] _warehouses = new int[4];
        private long[] _available = new long[4];

        public void Write(int warehouseId, long available)
        {
            // Full fence: the odd version is visible before any of the field writes below.
            Interlocked.Increment(ref _version);
            var i = Array.IndexOf(_warehouses, warehouseId, 0, _count);
            if (i < 0)
            {
                if (_count == _warehouses.Length)
                {
                    Array.Resize(ref _warehouses, _count * 2);
                    Array.Resize(ref _available, _count * 2);
                }
                // Keep warehouses sorted by id so readers get a stable order.
                i = _count;
                while (i > 0 && _warehouses[i - 1] > warehouseId)
                {
                    _warehouses[i] = _warehouses[i - 1];
                    _available[i] = _available[i - 1];
                    i--;
                }
                _warehouses[i] = warehouseId;
                _available[i] = 0;
                _count++;
            }
            _total += available - _available[i];
            _available[i] = available;
            // Release: every field write above is visible before the even version.
            Volatile.Write(ref _version, _version + 1);
        }

        public long ReadTotal()
        {
            var spin = default(SpinWait);
            while (true)
            {
                var before = Volatile.Read(ref _version);
                var total = Volatile.Read(ref _total);
                Interlocked.MemoryBarrier();
                if ((before & 1) == 0 && before == Volatile.Read(ref _version)) return total;
                spin.SpinOnce();
            }
        }

        public void Read(Span<WarehouseAvailability> destination, out long total, out int count)
        {
            var spin = default(SpinWait);
            while (true)
            {
                var before = Volatile.Read(ref _version);
                total = _total;
                count = _count;
                var warehouses = _warehouses;
                var available = _available;
                var n = Math.Min(Math.Min(count, destination.Length), Math.Min(warehouses.Length, available.Length));
                for (var i = 0; i < n; i++) destination[i] = new WarehouseAvailability(warehouses[i], available[i]);
                // Full fence: the reads above complete before the version is read again.
                Interlocked.MemoryBarrier();
                if ((before & 1) == 0 && before == Volatile.Read(ref _version)) return;
                spin.SpinOnce();
            }
        }
    }
}
