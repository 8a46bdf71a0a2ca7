-- What ordering from a vendor and pricing a shelf need from the catalog: the vendor's order
-- address and lead time, the store's street address, the vendor's case size and each unit's net
-- quantity (for unit prices on the signs). Seeded from the embedded catalog like the rest.
ALTER TABLE catalog.vendors
    ADD COLUMN email     text NOT NULL DEFAULT '',
    ADD COLUMN lead_days int  NOT NULL DEFAULT 0 CHECK (lead_days >= 0);

ALTER TABLE catalog.stores
    ADD COLUMN address     text NOT NULL DEFAULT '',
    ADD COLUMN postal_code text NOT NULL DEFAULT '';

ALTER TABLE catalog.products
    ADD COLUMN pack_size int     NOT NULL DEFAULT 0 CHECK (pack_size >= 0),
    ADD COLUMN net_qty   numeric NOT NULL DEFAULT 1 CHECK (net_qty > 0),
    ADD COLUMN net_unit  text    NOT NULL DEFAULT 'ct';

---- create above / drop below ----

ALTER TABLE catalog.products DROP COLUMN pack_size, DROP COLUMN net_qty, DROP COLUMN net_unit;
ALTER TABLE catalog.stores DROP COLUMN address, DROP COLUMN postal_code;
ALTER TABLE catalog.vendors DROP COLUMN email, DROP COLUMN lead_days;
