using MessagePack;
using Wildberries.Client.Internal;
using Wildberries.Protocol;

namespace Wildberries.Client;

/// <summary>
/// The reservation server over the binary protocol: a pool of pipelined connections used round-robin, reconnected
/// when they die, with timeouts, cancellation, and retries of what is safe to repeat (a checkout with its own
/// idempotency key, the reads). Thread-safe; one per process is enough.
/// </summary>
public sealed class ReservationClient : IReservationService, IAsyncDisposable
{
    private readonly ReservationClientOptions _options;
    private readonly Pool _seed;
    // Pools of the other endpoints the shard map names (none while every shard is on the seed's server).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Pool> _pools = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _disposed = new();

    /// <summary>Creates a client; connections open on first use.</summary>
    public ReservationClient(ReservationClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _seed = new Pool(this, options.Endpoint!);
    }

    /// <summary>The server's Welcome on the last connection opened (role, limits, shard map); null before the first.</summary>
    public Welcome? Welcome { get; private set; }

    /// <summary>Opens every connection of the pool now (otherwise they open on first use).</summary>
    public async Task ConnectAsync(CancellationToken cancellation = default)
    {
        await _seed.ConnectAllAsync(cancellation).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<Order> CheckoutAsync(CheckoutRequest checkout, CancellationToken cancellation = default) =>
        SendAsync(FrameType.Checkout, checkout, MessageCodec.WriteCheckout, MessageCodec.ReadOrder, retry: true, cancellation, checkout?.Lines.Count > 0 ? checkout.Lines[0].Sku : null);

    /// <inheritdoc />
    public Task<Order> GetOrderAsync(string orderId, string customerId, CancellationToken cancellation = default) =>
        SendAsync(FrameType.GetOrder, new OrderRef(orderId, customerId), MessageCodec.WriteOrderRef, MessageCodec.ReadOrder, retry: true, cancellation);

    /// <inheritdoc />
    public Task<Order> CancelOrderAsync(string orderId, string customerId, CancellationToken cancellation = default) =>
        SendAsync(FrameType.CancelOrder, new OrderRef(orderId, customerId), MessageCodec.WriteOrderRef, MessageCodec.ReadOrder, retry: false, cancellation);

    /// <inheritdoc />
    public Task<ItemDetail> GetItemAsync(long sku, CancellationToken cancellation = default) =>
        SendAsync(FrameType.GetItem, sku, MessageCodec.WriteSku, MessageCodec.ReadItemDetail, retry: true, cancellation, sku);

    /// <inheritdoc />
    public async Task<IReadOnlyList<SkuAvailability>> GetAvailabilityAsync(IReadOnlyList<long> skus, CancellationToken cancellation = default) =>
        await SendAsync(FrameType.Availability, skus, MessageCodec.WriteSkus, MessageCodec.ReadAvailability, retry: true, cancellation).ConfigureAwait(false);

    /// <inheritdoc />
    public Task<CatalogPage> ListItemsAsync(long afterSku = 0, int limit = 100, CancellationToken cancellation = default) =>
        SendAsync(FrameType.ListItems, new CatalogQuery(afterSku, limit), MessageCodec.WriteCatalogQuery, MessageCodec.ReadCatalogPage, retry: true, cancellation);

    /// <inheritdoc />
    public Task<ItemUpsert> PutItemAsync(ItemUpsert item, CancellationToken cancellation = default) =>
        SendAsync(FrameType.PutItem, item, MessageCodec.WriteItemUpsert, MessageCodec.ReadItemUpsert, retry: true, cancellation, item?.Sku);

    /// <inheritdoc />
    public async Task<IReadOnlyList<StockResult>> AdjustStockAsync(StockBatch batch, CancellationToken cancellation = default) =>
        await SendAsync(FrameType.StockBatch, batch, MessageCodec.WriteStockBatch, MessageCodec.ReadStockResults, retry: false, cancellation).ConfigureAwait(false);

    /// <inheritdoc />
    public Task<Order> ShipOrderAsync(string orderId, CancellationToken cancellation = default) =>
        SendAsync(FrameType.ShipOrder, new OrderRef(orderId, null), MessageCodec.WriteOrderRef, MessageCodec.ReadOrder, retry: false, cancellation);

    /// <summary>A page of a customer's order history, newest first (the server needs <c>--postgres</c>; without it: <c>history_unavailable</c>, 503).</summary>
    public Task<OrderPage> ListOrdersAsync(OrderHistoryQuery query, CancellationToken cancellation = default) =>
        SendAsync(FrameType.ListOrders, query, MessageCodec.WriteHistoryQuery, MessageCodec.ReadOrderPage, retry: true, cancellation);

    /// <summary>Admin: the replication status of every shard (empty when the server does not replicate).</summary>
    public Task<IReadOnlyList<ShardReplication>> GetReplicationAsync(CancellationToken cancellation = default) =>
        SendAsync(FrameType.Replication, true, MessageCodec.WriteNothing, MessageCodec.ReadReplication, retry: true, cancellation);

    /// <summary>Admin: promotes the standby this client is connected to; its replication status after. Not retried.</summary>
    public Task<IReadOnlyList<ShardReplication>> PromoteAsync(CancellationToken cancellation = default) =>
        SendAsync(FrameType.Promote, true, MessageCodec.WriteNothing, MessageCodec.ReadReplication, retry: false, cancellation);

    /// <summary>
    /// One request, on the next connection of the pool. <paramref name="retry"/>: the request may be repeated (a
    /// checkout carries its idempotency key, so a repeat answers the first outcome), after a lost connection, a
    /// timeout or a 503 other than <c>payment_provider_unavailable</c> (which the server answers again for that key).
    /// </summary>
    private async Task<TAnswer> SendAsync<TRequest, TAnswer>(FrameType type, TRequest request, BodyWriter<TRequest> write, BodyReader<TAnswer> read, bool retry, CancellationToken cancellation, long? routeSku = null)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        var attempts = retry ? _options.AttemptsMax : 1;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var connection = await PoolFor(routeSku).NextAsync(cancellation).ConfigureAwait(false);
                return await connection.SendAsync(type, request, write, read, _options.RequestTimeoutMs, cancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (attempt < attempts && !cancellation.IsCancellationRequested && IsTransient(ex))
            {
                // Doubling, capped at 16 times the first pause: a server back after a restart is found within a fraction of a second.
                await Task.Delay(_options.RetryDelayMs << Math.Min(attempt - 1, 4), cancellation).ConfigureAwait(false);
            }
        }
    }

    private static bool IsTransient(Exception ex) => ex switch
    {
        ReservationException r => r.Problem.Status == 503 && r.Code != "payment_provider_unavailable",
        IOException or TimeoutException or System.Net.Sockets.SocketException => true,
        _ => false,
    };

    /// <summary>
    /// The pool of the endpoint serving <paramref name="sku"/>'s shard by the last Welcome's shard map; the seed's
    /// pool when the map says "this server" (null), when the request names no SKU, or before any Welcome.
    /// </summary>
    private Pool PoolFor(long? sku)
    {
        if (sku is not { } s || Welcome is not { } welcome || welcome.Shards.Count == 0) return _seed;
        var endpoint = welcome.Shards[ShardMap.ShardOf(s, welcome.Shards.Count)].Endpoint;
        return endpoint is null ? _seed : _pools.GetOrAdd(endpoint, e => new Pool(this, new Uri(e)));
    }

    /// <summary>The connections to one endpoint, used round-robin and replaced when they die.</summary>
    private sealed class Pool(ReservationClient client, Uri endpoint)
    {
        private readonly ClientConnection?[] _connections = new ClientConnection?[client._options.Connections];
        private readonly SemaphoreSlim[] _connecting = [.. Enumerable.Range(0, client._options.Connections).Select(_ => new SemaphoreSlim(1, 1))];
        private int _next;

        public async Task ConnectAllAsync(CancellationToken cancellation)
        {
            for (var i = 0; i < _connections.Length; i++) await ConnectionAsync(i, cancellation).ConfigureAwait(false);
        }

        public ValueTask<ClientConnection> NextAsync(CancellationToken cancellation) =>
            ConnectionAsync((int)((uint)Interlocked.Increment(ref _next) % (uint)_connections.Length), cancellation);

        private async ValueTask<ClientConnection> ConnectionAsync(int slot, CancellationToken cancellation)
        {
            if (_connections[slot] is { IsAlive: true } alive) return alive;
            await _connecting[slot].WaitAsync(cancellation).ConfigureAwait(false);
            try
            {
                if (_connections[slot] is { IsAlive: true } raced) return raced;
                if (_connections[slot] is { } dead) await dead.DisposeAsync().ConfigureAwait(false);
                _connections[slot] = null;
                var options = client._options;
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation, client._disposed.Token);
                timeout.CancelAfter(options.ConnectTimeoutMs);
                ClientConnection connection;
                try
                {
                    connection = await ClientConnection.ConnectAsync(endpoint.Host, endpoint.Port, options.ApiKey!, options.ClientName, Frame.BytesMaxDefault, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
                {
                    throw new TimeoutException($"Could not connect to {endpoint} within {options.ConnectTimeoutMs} ms.");
                }
                client.Welcome = connection.Welcome;
                _connections[slot] = connection;
                return connection;
            }
            finally
            {
                _connecting[slot].Release();
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var connection in _connections)
            {
                if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_disposed.IsCancellationRequested) return;
        await _disposed.CancelAsync().ConfigureAwait(false);
        await _seed.DisposeAsync().ConfigureAwait(false);
        foreach (var pool in _pools.Values) await pool.DisposeAsync().ConfigureAwait(false);
        _disposed.Dispose();
    }
}
