-- The read model of the reservation engine, projected from its event stream (see docs/postgres.md).
-- Times are the engine's journaled command times.

-- One row per order, as it stood after the last event applied; (lsn, event_index) is that event's position in
-- the order's home shard, so an older event never overwrites a newer state.
CREATE TABLE wb_orders (
    order_id              text        PRIMARY KEY,
    shard                 integer     NOT NULL,
    customer_id           text        NOT NULL,
    status                text        NOT NULL,
    amount                bigint      NOT NULL,
    currency              text        NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    reserved_until        timestamptz,
    payment_tx            text,
    lines_on_other_shards integer[],
    lsn                   bigint      NOT NULL,
    event_index           integer     NOT NULL
);

-- The order history: a customer's orders, newest first, paged by (created_at, order_id).
CREATE INDEX wb_orders_customer ON wb_orders (customer_id, created_at DESC, order_id DESC);
CREATE INDEX wb_orders_status ON wb_orders (status);

-- The lines on the order's home shard, with the price at checkout.
CREATE TABLE wb_order_lines (
    order_id   text    NOT NULL,
    sku        bigint  NOT NULL,
    quantity   integer NOT NULL,
    unit_price bigint  NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- Where each line's units were taken from.
CREATE TABLE wb_order_allocations (
    order_id     text    NOT NULL,
    sku          bigint  NOT NULL,
    warehouse_id integer NOT NULL,
    quantity     integer NOT NULL,
    PRIMARY KEY (order_id, sku, warehouse_id)
);

-- Every order event, once: the primary key is the event's exact id, so applying one twice fails loudly.
CREATE TABLE wb_order_history (
    shard          integer     NOT NULL,
    lsn            bigint      NOT NULL,
    event_index    integer     NOT NULL,
    order_id       text        NOT NULL,
    event          text        NOT NULL,
    status         text,
    amount         bigint      NOT NULL,
    transaction_id text,
    at             timestamptz NOT NULL,
    PRIMARY KEY (shard, lsn, event_index)
);
CREATE INDEX wb_order_history_order ON wb_order_history (order_id);

-- Stock per SKU and warehouse, as of the last stock event applied.
CREATE TABLE wb_stock (
    sku          bigint      NOT NULL,
    warehouse_id integer     NOT NULL,
    on_hand      bigint      NOT NULL,
    reserved     bigint      NOT NULL,
    committed    bigint      NOT NULL,
    shard        integer     NOT NULL,
    lsn          bigint      NOT NULL,
    event_index  integer     NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (sku, warehouse_id)
);

-- The last event applied per shard, written in the same transaction as the rows it produced: exactly once.
CREATE TABLE wb_projection_positions (
    shard       integer     PRIMARY KEY,
    lsn         bigint      NOT NULL,
    event_index integer     NOT NULL,
    updated_at  timestamptz NOT NULL
);
