-- The POS service (schema pos). accepted remembers what the POS has acknowledged, so a retried
-- sale, delivery or count with the same id is answered with the original partition and offset
-- instead of being produced again. Consumers still dedupe by business id: a retry that lands on
-- another POS instance before this row exists is harmless.
CREATE SCHEMA IF NOT EXISTS pos;

CREATE TABLE pos.accepted (
    kind        text        NOT NULL CHECK (kind IN ('sale', 'delivery', 'count')),
    id          uuid        NOT NULL,
    store_id    text        NOT NULL,
    total_cents bigint,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);
CREATE INDEX accepted_at ON pos.accepted (accepted_at);

---- create above / drop below ----

DROP SCHEMA pos CASCADE;
