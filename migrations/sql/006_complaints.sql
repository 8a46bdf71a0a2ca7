-- The complaints service (schema complaints): every complaint consumed from customer-complaints,
-- the spike episodes per store and SKU with their alert ids, the chain-wide spikes, and the
-- exactly-once plumbing (consumer_offsets, outbox, consumer_timers) used by internal/stream.
CREATE SCHEMA IF NOT EXISTS complaints;

{{ template "stream_tables" "complaints" }}
{{ template "stream_timers" "complaints" }}

-- One row per complaint id (copies of a complaint count once), with the position of the first
-- copy on customer-complaints, which is the intake's answer to a retry.
CREATE TABLE IF NOT EXISTS complaints.complaints (
    complaint_id uuid        PRIMARY KEY,
    store_id     text        NOT NULL,
    sku          text,
    filed_at     timestamptz NOT NULL,
    channel      text        NOT NULL,
    category     text        NOT NULL,
    severity     int,
    loyalty_id   text,
    text         text        NOT NULL,
    partition    int         NOT NULL,
    "offset"     bigint      NOT NULL,
    consumed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS complaints_store_filed ON complaints.complaints (store_id, filed_at DESC);
CREATE INDEX IF NOT EXISTS complaints_item_filed ON complaints.complaints (store_id, sku, filed_at) WHERE sku IS NOT NULL;

-- One row per spike episode (services/complaints): its members, when the spike first held, its
-- first and newest complaint and when it closes. status: active until the window passes after
-- the newest complaint (a timer), then resolved; merged when a late complaint made it part of
-- merged_into.
CREATE TABLE IF NOT EXISTS complaints.episodes (
    alert_id       uuid        PRIMARY KEY,
    store_id       text        NOT NULL,
    sku            text        NOT NULL,
    complaint_ids  uuid[]      NOT NULL,
    opened_at      timestamptz NOT NULL,
    first_filed_at timestamptz NOT NULL,
    last_filed_at  timestamptz NOT NULL,
    ends_at        timestamptz NOT NULL,
    status         text        NOT NULL CHECK (status IN ('active', 'resolved', 'merged')),
    merged_into    uuid,
    resolved_at    timestamptz
);
CREATE INDEX IF NOT EXISTS episodes_item ON complaints.episodes (store_id, sku, last_filed_at);
CREATE INDEX IF NOT EXISTS episodes_sku_opened ON complaints.episodes (sku, opened_at);

-- One row per chain-wide spike: one SKU spiking in several stores within window_hours of the
-- first of them.
CREATE TABLE IF NOT EXISTS complaints.chain_spikes (
    alert_id        uuid        PRIMARY KEY,
    sku             text        NOT NULL,
    vendor_id       text        NOT NULL,
    store_ids       text[]      NOT NULL,
    spike_alert_ids uuid[]      NOT NULL,
    first_opened_at timestamptz NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS chain_spikes_sku ON complaints.chain_spikes (sku, first_opened_at);

---- create above / drop below ----

DROP SCHEMA complaints CASCADE;
