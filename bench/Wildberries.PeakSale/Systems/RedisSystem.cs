using System.Globalization;
using StackExchange.Redis;
using Wildberries.PeakSale.Servers;
using Wildberries.Testing;

namespace Wildberries.PeakSale.Systems;

/// <summary>
/// What a team would build on Redis: one Lua script checks every line and reserves all of them atomically (most
/// available warehouse first) and records the order; another moves reserved to committed on payment.
/// Append-only file with <c>appendfsync always</c> (durable per write) or <c>everysec</c>.
/// </summary>
public sealed class RedisSystem(string appendFsync) : IReservationSystem
{
    // Stock of a SKU: hash s:{sku} with fields o{w} (on hand), r{w} (reserved), c{w} (committed).
    // Order: hash o:{id} with status and lines "sku:wh:qty,...".
    // ARGV: line count, warehouse count, idempotency key, then sku and qty of each line.
    private const string Checkout = """
        local n = tonumber(ARGV[1])
        local warehouses = tonumber(ARGV[2])
        local picks = {}
        for i = 1, n do
          local sku = ARGV[3 + (i - 1) * 2 + 1]
          local qty = tonumber(ARGV[3 + (i - 1) * 2 + 2])
          local best, bestAvail = nil, -1
          for w = 1, warehouses do
            local v = redis.call('HMGET', 's:' .. sku, 'o' .. w, 'r' .. w, 'c' .. w)
            local avail = tonumber(v[1] or 0) - tonumber(v[2] or 0) - tonumber(v[3] or 0)
            if avail >= qty and avail > bestAvail then best, bestAvail = w, avail end
          end
          if not best then return 0 end
          picks[i] = sku .. ':' .. best .. ':' .. qty
        end
        for i = 1, n do
          local sku, w, qty = string.match(picks[i], '(%d+):(%d+):(%d+)')
          redis.call('HINCRBY', 's:' .. sku, 'r' .. w, qty)
        end
        local id = redis.call('INCR', 'order-seq')
        redis.call('HSET', 'o:' .. id, 'status', 'PENDING', 'lines', table.concat(picks, ','), 'key', ARGV[3])
        return id
        """;

    private static readonly LuaScript Pay = LuaScript.Prepare("""
        local order = 'o:' .. @id
        if redis.call('HGET', order, 'status') ~= 'PENDING' then return 0 end
        for entry in string.gmatch(redis.call('HGET', order, 'lines'), '[^,]+') do
          local sku, w, qty = string.match(entry, '(%d+):(%d+):(%d+)')
          redis.call('HINCRBY', 's:' .. sku, 'r' .. w, -tonumber(qty))
          if @paid == '1' then redis.call('HINCRBY', 's:' .. sku, 'c' .. w, qty) end
        end
        redis.call('HSET', order, 'status', @paid == '1' and 'PAID' or 'CANCELLED')
        return 1
        """);

    private RedisServer? _server;
    private ConnectionMultiplexer? _redis;
    private int _warehouses;

    public string Name => $"Redis 7 Lua (appendfsync {appendFsync})";

    public async Task LoadAsync(FlashSaleOptions sale)
    {
        ArgumentNullException.ThrowIfNull(sale);
        _warehouses = sale.Warehouses;
        _server = await RedisServer.StartAsync(appendFsync);
        _redis = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{_server.Port},abortConnect=false");
        var db = _redis.GetDatabase();
        var batch = new List<Task>();
        for (long sku = 1; sku <= sale.Skus; sku++)
        {
            var fields = new List<HashEntry>();
            for (var w = 1; w <= sale.Warehouses; w++)
            {
                fields.Add(new HashEntry($"o{w}", FlashSale.Stock(sale, sku)));
                fields.Add(new HashEntry($"r{w}", 0));
                fields.Add(new HashEntry($"c{w}", 0));
            }
            batch.Add(db.HashSetAsync($"s:{sku}", [.. fields]));
            if (batch.Count == 1_000)
            {
                await Task.WhenAll(batch);
                batch.Clear();
            }
        }
        await Task.WhenAll(batch);
    }

    public async Task<string?> CheckoutAsync(string idempotencyKey, Visit visit)
    {
        ArgumentNullException.ThrowIfNull(visit);
        // The script reads its lines from ARGV positions after the named parameters.
        var args = new List<RedisValue> { visit.Lines.Length, _warehouses, idempotencyKey };
        foreach (var (sku, qty) in visit.Lines)
        {
            args.Add(sku);
            args.Add(qty);
        }
        var result = (long)await _redis!.GetDatabase().ScriptEvaluateAsync(Checkout, [], [.. args]);
        return result == 0 ? null : result.ToString(CultureInfo.InvariantCulture);
    }

    public async Task PayAsync(string orderId, bool succeeded) =>
        await Pay.EvaluateAsync(_redis!.GetDatabase(), new { id = orderId, paid = succeeded ? "1" : "0" });

    public async Task<Audit> AuditAsync()
    {
        var db = _redis!.GetDatabase();
        var server = _redis.GetServers()[0];
        var rows = new List<AuditRow>();
        var orders = new List<AuditOrder>();
        await foreach (var key in server.KeysAsync(pattern: "s:*", pageSize: 1_000))
        {
            var sku = long.Parse(((string)key!)[2..], CultureInfo.InvariantCulture);
            var h = (await db.HashGetAllAsync(key)).ToDictionary(e => (string)e.Name!, e => (long)e.Value);
            for (var w = 1; w <= _warehouses; w++) rows.Add(new AuditRow(sku, w, h[$"o{w}"], h[$"r{w}"], h[$"c{w}"]));
        }
        await foreach (var key in server.KeysAsync(pattern: "o:*", pageSize: 1_000))
        {
            var h = (await db.HashGetAllAsync(key)).ToDictionary(e => (string)e.Name!, e => (string)e.Value!);
            var lines = h["lines"].Split(',').Select(l => l.Split(':')).Select(p => new AuditLine(long.Parse(p[0], CultureInfo.InvariantCulture), int.Parse(p[1], CultureInfo.InvariantCulture), int.Parse(p[2], CultureInfo.InvariantCulture)));
            orders.Add(new AuditOrder(((string)key!)[2..], h["status"], [.. lines]));
        }
        return new Audit([.. rows], [.. orders]);
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null) await _redis.DisposeAsync();
        if (_server is not null) await _server.DisposeAsync();
    }
}
