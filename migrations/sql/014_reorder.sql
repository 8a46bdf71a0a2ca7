-- The reorder service (schema reorder): purchase orders made from low-stock alerts, their lines
-- with what was received and invoiced, the deliveries and invoices matched against them, the
-- vendor emails waiting to be sent (an outbox of its own), and the exactly-once plumbing
-- (consumer_offsets, outbox, consumer_timers) used by internal/stream.
CREATE SCHEMA IF NOT EXISTS reorder;

{{ template "stream_tables" "reorder" }}
{{ template "stream_timers" "reorder" }}

-- The low-stock alerts consumed, by alert id, so a copy of an alert orders nothing.
CREATE TABLE IF NOT EXISTS reorder.alerts_seen (
    alert_id uuid PRIMARY KEY
);

-- One row per purchase order. seq counts a store's orders to a vendor from 1 (the n of the PO
-- number). closes_at is when its grouping window ends (the opening alert's time plus the
-- window); sealed_at when it was sealed and its email composed. status: open,
-- partly_received, received, cancelled.
CREATE TABLE IF NOT EXISTS reorder.purchase_orders (
    po_number               text        PRIMARY KEY,
    store_id                text        NOT NULL,
    vendor_id               text        NOT NULL,
    seq                     int         NOT NULL,
    status                  text        NOT NULL CHECK (status IN ('open', 'partly_received', 'received', 'cancelled')),
    opened_at               timestamptz NOT NULL,
    closes_at               timestamptz NOT NULL,
    sealed_at               timestamptz,
    requested_delivery_date date        NOT NULL,
    received_at             timestamptz,
    cancelled_at            timestamptz,
    cancel_reason           text,
    UNIQUE (store_id, vendor_id, seq)
);
CREATE INDEX IF NOT EXISTS purchase_orders_store_status ON reorder.purchase_orders (store_id, status, opened_at);

-- The lines of an order: units ordered at a unit cost (services/reorder UnitCost), received so
-- far by deliveries, invoiced by approved invoices; alert_id is the alert that ordered it.
CREATE TABLE IF NOT EXISTS reorder.po_lines (
    po_number       text   NOT NULL REFERENCES reorder.purchase_orders (po_number),
    sku             text   NOT NULL,
    line_no         int    NOT NULL,
    qty             bigint NOT NULL,
    unit_cost_cents bigint NOT NULL,
    received        bigint NOT NULL DEFAULT 0,
    invoiced        bigint NOT NULL DEFAULT 0,
    alert_id        uuid   NOT NULL,
    PRIMARY KEY (po_number, sku)
);

-- Every delivery consumed from vendor-deliveries (copies count once). po_number is the order it
-- named; matched tells whether that order was known (a delivery without one is alerted).
CREATE TABLE IF NOT EXISTS reorder.deliveries (
    delivery_id uuid        PRIMARY KEY,
    store_id    text        NOT NULL,
    vendor_id   text        NOT NULL,
    po_number   text,
    matched     boolean     NOT NULL,
    received_at timestamptz NOT NULL,
    lines       jsonb       NOT NULL,
    reason      text
);
CREATE INDEX IF NOT EXISTS deliveries_po ON reorder.deliveries (po_number);

-- Every invoice consumed from purchasing. status: pending (no delivery of its order yet),
-- approved, held (reason and diffs say why).
CREATE TABLE IF NOT EXISTS reorder.invoices (
    invoice_id  text        PRIMARY KEY,
    vendor_id   text        NOT NULL,
    po_number   text        NOT NULL,
    store_id    text        NOT NULL,
    lines       jsonb       NOT NULL,
    status      text        NOT NULL CHECK (status IN ('pending', 'approved', 'held')),
    reason      text,
    diffs       jsonb,
    received_at timestamptz NOT NULL,
    decided_at  timestamptz,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS invoices_po ON reorder.invoices (po_number);
CREATE INDEX IF NOT EXISTS invoices_status ON reorder.invoices (status, received_at);

-- The vendor emails: composed when an order is sealed, in that transaction; the sender marks
-- them sent (via smtp or spool) once delivered. One per order.
CREATE TABLE IF NOT EXISTS reorder.emails (
    po_number   text        PRIMARY KEY REFERENCES reorder.purchase_orders (po_number),
    recipient   text        NOT NULL,
    message     bytea       NOT NULL,
    queued_at   timestamptz NOT NULL,
    sent_at     timestamptz,
    sent_via    text,
    attempts    int         NOT NULL DEFAULT 0,
    last_error  text
);
CREATE INDEX IF NOT EXISTS emails_unsent ON reorder.emails (queued_at) WHERE sent_at IS NULL;

---- create above / drop below ----

DROP SCHEMA reorder CASCADE;
