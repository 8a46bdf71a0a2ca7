-- Sale voids at the POS (schema pos). pos.accepted also records the voids the POS accepted
-- (kind 'void', id the void's id, derived from the sale id), and keeps the time of every
-- accepted event (a sale's occurred_at, a delivery's received_at, a count's counted_at, a void's
-- voided_at), so a void can be checked against the occurred_at of its sale. Rows accepted before
-- this migration have no time (NULL): a void of such a sale is not checked against it.
ALTER TABLE pos.accepted ADD COLUMN occurred_at timestamptz;
ALTER TABLE pos.accepted DROP CONSTRAINT accepted_kind_check;
ALTER TABLE pos.accepted ADD CONSTRAINT accepted_kind_check CHECK (kind IN ('sale', 'delivery', 'count', 'void'));

---- create above / drop below ----

DELETE FROM pos.accepted WHERE kind = 'void';
ALTER TABLE pos.accepted DROP CONSTRAINT accepted_kind_check;
ALTER TABLE pos.accepted ADD CONSTRAINT accepted_kind_check CHECK (kind IN ('sale', 'delivery', 'count'));
ALTER TABLE pos.accepted DROP COLUMN occurred_at;
