-- The pricing service (schema pricing): the price book (the chain-wide base price of every SKU,
-- seeded from the catalog at the service's first start, and the overrides of single stores),
-- every price change with who asked, why, when it applies and what it replaced (scheduled ones
-- until they apply), the promotions and their window in each store, the price-accuracy
-- counters of the sales consumed from pos-sales, and the exactly-once plumbing
-- (consumer_offsets, outbox) used by internal/stream.
CREATE SCHEMA IF NOT EXISTS pricing;

{{ template "stream_tables" "pricing" }}

-- The regular price in force now: store_id '' is the chain-wide base price, any other store_id
-- that store's override. Written only when a change applies (at once, or by the scheduler).
CREATE TABLE IF NOT EXISTS pricing.prices (
    store_id    text        NOT NULL,
    sku         text        NOT NULL,
    price_cents bigint      NOT NULL CHECK (price_cents >= 0),
    change_id   uuid        NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (store_id, sku)
);

-- Every price change, applied or scheduled (applied_at NULL until it applies). store_id '' is
-- chain-wide. old_price_cents is the regular price it replaced (the base price for a chain-wide
-- change), set when it applies; the catalog's seed rows have reason 'catalog' and an
-- effective_at at the epoch. seq orders changes with the same effective_at.
CREATE TABLE IF NOT EXISTS pricing.price_changes (
    change_id       uuid        PRIMARY KEY,
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    store_id        text        NOT NULL,
    sku             text        NOT NULL,
    price_cents     bigint      NOT NULL CHECK (price_cents >= 0),
    old_price_cents bigint,
    reason          text        NOT NULL,
    changed_by      text        NOT NULL,
    requested_at    timestamptz NOT NULL,
    effective_at    timestamptz NOT NULL,
    applied_at      timestamptz
);
CREATE INDEX IF NOT EXISTS price_changes_sku ON pricing.price_changes (sku, store_id, effective_at DESC, seq DESC);
CREATE INDEX IF NOT EXISTS price_changes_due ON pricing.price_changes (effective_at) WHERE applied_at IS NULL;

-- A promotion as it was asked for: starts and ends as given (a local wall time read in each
-- store's zone, or an instant), a fixed price or a percentage off. ended_at is set by DELETE.
CREATE TABLE IF NOT EXISTS pricing.promotions (
    promo_id          uuid        PRIMARY KEY,
    title             text        NOT NULL,
    promo_price_cents bigint,
    percent_off       int,
    skus              text[]      NOT NULL,
    store_ids         text[]      NOT NULL,
    all_stores        boolean     NOT NULL,
    starts            text        NOT NULL,
    ends              text        NOT NULL,
    created_by        text        NOT NULL,
    created_at        timestamptz NOT NULL,
    ended_at          timestamptz,
    CHECK ((promo_price_cents IS NULL) <> (percent_off IS NULL))
);

-- A promotion's window for one store and SKU, [starts_at, ends_at) in instants (the store's
-- zone applied). state: scheduled until the scheduler (or the request, for a start in the past)
-- starts it, running, then ended. Ending a promotion early moves ends_at to that moment (to
-- starts_at when it never started), so the window is always when it was in force, which is what
-- the price-accuracy check reads. No two windows of one store and SKU overlap (checked under a
-- lock when a promotion is created).
CREATE TABLE IF NOT EXISTS pricing.promo_items (
    promo_id   uuid        NOT NULL REFERENCES pricing.promotions (promo_id),
    store_id   text        NOT NULL,
    sku        text        NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    state      text        NOT NULL CHECK (state IN ('scheduled', 'running', 'ended')),
    started_at timestamptz,
    ended_at   timestamptz,
    PRIMARY KEY (promo_id, store_id, sku)
);
CREATE INDEX IF NOT EXISTS promo_items_item ON pricing.promo_items (store_id, sku, starts_at);
CREATE INDEX IF NOT EXISTS promo_items_to_start ON pricing.promo_items (starts_at) WHERE state = 'scheduled';
CREATE INDEX IF NOT EXISTS promo_items_to_end ON pricing.promo_items (ends_at) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS promo_items_running ON pricing.promo_items (store_id, sku) WHERE state = 'running';

-- Price accuracy: the sale ids checked (a sale posted twice counts once), the lines checked and
-- mismatched per store, and per store and SKU the mismatches with the last one's prices.
CREATE TABLE IF NOT EXISTS pricing.sales_checked (
    sale_id uuid PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS pricing.accuracy_stores (
    store_id         text   PRIMARY KEY,
    lines_checked    bigint NOT NULL,
    mismatched_lines bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS pricing.accuracy_skus (
    store_id            text        NOT NULL,
    sku                 text        NOT NULL,
    mismatches          bigint      NOT NULL,
    last_expected_cents bigint      NOT NULL,
    last_charged_cents  bigint      NOT NULL,
    last_at             timestamptz NOT NULL,
    last_sale_id        uuid        NOT NULL,
    PRIMARY KEY (store_id, sku)
);

---- create above / drop below ----

DROP SCHEMA pricing CASCADE;
