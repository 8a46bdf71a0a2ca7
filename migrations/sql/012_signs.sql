-- The signs hub (schema signs, services/signs/signsapp): the display view every hub replica
-- folds from display-updates, the position it has folded up to per partition, the device
-- tokens of the signs and what each sign last acknowledged.
CREATE SCHEMA IF NOT EXISTS signs;

-- What a store and SKU shows: its regular price, the running promotion (if any), the stock
-- badge, and version: the offset + 1 in its display-updates partition of the last event that
-- changed it. A SKU without a row shows the catalog price and "in_stock". Every replica writes
-- the same rows with WHERE version < the new one, so the writes are idempotent.
CREATE TABLE IF NOT EXISTS signs.display (
    store_id          text        NOT NULL,
    sku               text        NOT NULL,
    price_cents       bigint      NOT NULL CHECK (price_cents >= 0),
    promo_id          text,
    promo_title       text,
    promo_price_cents bigint,
    promo_ends_at     timestamptz,
    badge             text        NOT NULL CHECK (badge IN ('in_stock', 'low', 'out')),
    version           bigint      NOT NULL CHECK (version > 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, sku)
);

-- The next offset of each display-updates partition folded into signs.display (written in the
-- same transaction as the rows, only ever raised): where a replica resumes on start.
CREATE TABLE IF NOT EXISTS signs.positions (
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Device tokens, one live token per store and sign (issuing again revokes the old one). Only
-- the SHA-256 of a token is kept.
CREATE TABLE IF NOT EXISTS signs.tokens (
    token_hash bytea       PRIMARY KEY,
    store_id   text        NOT NULL,
    sign       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_live ON signs.tokens (store_id, sign) WHERE revoked_at IS NULL;

-- What each sign showed last, connected or not: the SKUs it asked for, the last version it
-- acknowledged, when it last acknowledged and was last seen (connected: refreshed while the
-- connection is alive), and which replica holds its connection (NULL: none).
CREATE TABLE IF NOT EXISTS signs.status (
    store_id         text        NOT NULL,
    sign             text        NOT NULL,
    skus             text[]      NOT NULL DEFAULT '{}',
    last_ack_version bigint      NOT NULL DEFAULT 0,
    last_ack_at      timestamptz,
    last_seen_at     timestamptz,
    replica          text,
    PRIMARY KEY (store_id, sign)
);

---- create above / drop below ----

DROP SCHEMA IF EXISTS signs CASCADE;
