-- The inventory service (schema inventory): stock per store and SKU, the movements a count is
-- reconciled against, business-id dedupe, raised alerts, and the exactly-once plumbing
-- (consumer_offsets, outbox) used by services/internal/stream. IF NOT EXISTS keeps this
-- compatible with databases where the service created the same tables itself.
CREATE SCHEMA IF NOT EXISTS inventory;

-- One row per store and SKU that an event has touched; untouched SKUs are at the catalog's
-- initial stock. low is the hysteresis flag (a low-stock alert is outstanding).
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

-- Every consumed sale line (negative) and delivery line (positive) with the time it happened,
-- so that a count can add the movements that happened after it.
CREATE TABLE IF NOT EXISTS inventory.movements (
    store_id text        NOT NULL,
    sku      text        NOT NULL,
    at       timestamptz NOT NULL,
    delta    bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS movements_item_at ON inventory.movements (store_id, sku, at);

-- Events already applied, by business id: ('sale', sale_id), ('delivery', delivery_id),
-- ('count', count_id).
CREATE TABLE IF NOT EXISTS inventory.processed (
    kind text NOT NULL,
    id   text NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Raised alerts for GET /v1/alerts, newest first by seq.
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

{{ template "stream_tables" "inventory" }}

---- create above / drop below ----

DROP SCHEMA inventory CASCADE;
