-- The loyalty service (schema loyalty): the append-only points ledger fed from pos-sales, the
-- members' balances and tiers, the sales and voids seen (for exactly-once earning and
-- reversal), redemptions, the earning rules and tier thresholds (configuration, not derived:
-- the rebuild reads them from here), and the exactly-once plumbing used by internal/stream.
CREATE SCHEMA IF NOT EXISTS loyalty;

{{ template "stream_tables" "loyalty" }}
{{ template "stream_timers" "loyalty" }}

-- Earning rules (services/loyalty). A rule is in force on the sale's local days from
-- effective_from until effective_until (exclusive; NULL: no end). Rules are never edited: a
-- new rule from a later date supersedes a base rule, and POST /v1/rules refuses dates that
-- sales already consumed could fall on.
CREATE TABLE IF NOT EXISTS loyalty.rules (
    rule_id           text        PRIMARY KEY,
    kind              text        NOT NULL CHECK (kind IN ('base', 'department', 'promotion')),
    name              text        NOT NULL DEFAULT '',
    points_per_dollar bigint      NOT NULL DEFAULT 0,
    multiplier_pct    bigint      NOT NULL DEFAULT 0,
    department        text,
    promo_id          text,
    skus              text[]      NOT NULL DEFAULT '{}',
    stores            text[]      NOT NULL DEFAULT '{}',
    effective_from    date        NOT NULL,
    effective_until   date,
    created_at        timestamptz NOT NULL DEFAULT now()
);
INSERT INTO loyalty.rules (rule_id, kind, name, points_per_dollar, effective_from)
VALUES ('base', 'base', '1 point per whole dollar of the total', 1, '2000-01-01')
ON CONFLICT DO NOTHING;

-- Tiers by points earned in the last 12 months.
CREATE TABLE IF NOT EXISTS loyalty.tiers (
    tier       text   PRIMARY KEY,
    min_points bigint NOT NULL UNIQUE CHECK (min_points >= 0)
);
INSERT INTO loyalty.tiers (tier, min_points) VALUES ('Green', 0), ('Silver', 1000), ('Gold', 5000)
ON CONFLICT DO NOTHING;

-- One row per sale with a loyalty id consumed (a copy of a known sale_id earns nothing).
CREATE TABLE IF NOT EXISTS loyalty.sales (
    sale_id     uuid        PRIMARY KEY,
    loyalty_id  text        NOT NULL,
    store_id    text        NOT NULL,
    occurred_at timestamptz NOT NULL
);

-- One row per voided sale (a second void changes nothing); a void of a sale not consumed yet
-- waits here for it, and a void of a sale without a loyalty id stays without ledger rows.
CREATE TABLE IF NOT EXISTS loyalty.voids (
    sale_id   uuid        PRIMARY KEY,
    store_id  text        NOT NULL,
    voided_at timestamptz NOT NULL
);

-- The ledger: never updated or deleted. kind earn (a rule's points for a sale, lines naming
-- the sale's line indexes), reverse (its negative, for a void) or redeem. at is when it
-- happened, day its date in the store's zone (the store's points of a day), counts_at the
-- time it counts at in the 12-month window (the sale's time for earn and reverse).
CREATE TABLE IF NOT EXISTS loyalty.ledger (
    entry_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    loyalty_id    text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('earn', 'reverse', 'redeem')),
    sale_id       uuid,
    rule_id       text,
    lines         int[]       NOT NULL DEFAULT '{}',
    redemption_id uuid,
    store_id      text,
    points        bigint      NOT NULL,
    at            timestamptz NOT NULL,
    day           date,
    counts_at     timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS ledger_sale_rule ON loyalty.ledger (sale_id, kind, rule_id) WHERE sale_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS ledger_redemption ON loyalty.ledger (redemption_id) WHERE redemption_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ledger_member ON loyalty.ledger (loyalty_id, entry_id DESC);
CREATE INDEX IF NOT EXISTS ledger_member_counts ON loyalty.ledger (loyalty_id, counts_at) WHERE kind <> 'redeem';
CREATE INDEX IF NOT EXISTS ledger_store_day ON loyalty.ledger (store_id, day) WHERE store_id IS NOT NULL;

CREATE OR REPLACE FUNCTION loyalty.ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'loyalty.ledger is append-only (% refused)', TG_OP;
END $$;
DROP TRIGGER IF EXISTS ledger_append_only ON loyalty.ledger;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON loyalty.ledger
    FOR EACH ROW EXECUTE FUNCTION loyalty.ledger_append_only();

-- One row per member: the balance (sum of the ledger), the 12-month points and tier as of
-- standing_at, and when an entry next leaves the window (the tier job's work list).
CREATE TABLE IF NOT EXISTS loyalty.members (
    loyalty_id     text        PRIMARY KEY,
    balance        bigint      NOT NULL DEFAULT 0,
    points_12m     bigint      NOT NULL DEFAULT 0,
    tier           text        NOT NULL DEFAULT 'Green',
    standing_at    timestamptz,
    next_change_at timestamptz
);
CREATE INDEX IF NOT EXISTS members_next_change ON loyalty.members (next_change_at) WHERE next_change_at IS NOT NULL;

-- Redemptions by id, with the answer given, so a retry gets the first answer after a restart.
CREATE TABLE IF NOT EXISTS loyalty.redemptions (
    redemption_id uuid        PRIMARY KEY,
    loyalty_id    text        NOT NULL,
    points        bigint      NOT NULL,
    balance_after bigint      NOT NULL,
    redeemed_at   timestamptz NOT NULL
);

---- create above / drop below ----

DROP SCHEMA loyalty CASCADE;
