-- Tables of the inventory service (schema inventory). The rebuild command creates the same
-- tables in a scratch schema with CREATE TABLE ... (LIKE inventory.x INCLUDING ALL).
CREATE SCHEMA IF NOT EXISTS inventory;

-- stock holds one row per store and SKU that an event has touched; untouched SKUs are at the
-- catalog's initial stock. low is the hysteresis flag (a low-stock alert is outstanding).
CREATE TABLE IF NOT EXISTS inventory.stock (
    store_id   text        NOT NULL,
    sku        text        NOT NULL,
    on_hand    bigint      NOT NULL,
    threshold  bigint      NOT NULL,
    low        boolean     NOT NULL,
    counted_at timestamptz,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (store_id, sku)
);

-- movements records every consumed sale line (negative) and delivery line (positive) with the
-- time it happened, so that a count can add the movements that happened after it.
CREATE TABLE IF NOT EXISTS inventory.movements (
    store_id text        NOT NULL,
    sku      text        NOT NULL,
    at       timestamptz NOT NULL,
    delta    bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS movements_item_at ON inventory.movements (store_id, sku, at);

-- processed dedupes events by their business id: ('sale', sale_id), ('delivery', delivery_id),
-- ('count', count_id).
CREATE TABLE IF NOT EXISTS inventory.processed (
    kind text NOT NULL,
    id   text NOT NULL,
    PRIMARY KEY (kind, id)
);

-- alerts keeps the raised alerts for GET /v1/alerts, newest first by seq.
CREATE TABLE IF NOT EXISTS inventory.alerts (
    seq       bigint GENERATED ALWAYS AS IDENTITY,
    alert_id  uuid        NOT NULL PRIMARY KEY,
    type      text        NOT NULL,
    store_id  text        NOT NULL,
    sku       text        NOT NULL,
    on_hand   bigint      NOT NULL,
    threshold bigint      NOT NULL,
    at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_store_seq ON inventory.alerts (store_id, seq DESC);

-- consumer_offsets is the next offset to consume per group and partition, written in the same
-- transaction as the stock changes it accounts for.
CREATE TABLE IF NOT EXISTS inventory.consumer_offsets (
    group_id    text   NOT NULL,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);

-- outbox holds the events emitted because of consumed ones until the relay has produced them.
-- headers is a JSON object of the Kafka record headers.
CREATE TABLE IF NOT EXISTS inventory.outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic      text        NOT NULL,
    key        bytea,
    headers    jsonb       NOT NULL,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON inventory.outbox (id) WHERE sent_at IS NULL;
