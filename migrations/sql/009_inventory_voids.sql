-- Sale voids in the inventory (schema inventory): the lines of every sale the inventory folded,
-- summed per SKU, with the sale's store and time, so a sale.voided puts back exactly the units
-- its sale took, once: a void that matches its sale is recorded in inventory.processed as
-- ('void', sale_id), and its returned units are a movement (+qty) in inventory.movements, like a
-- delivery's. Sales folded before this migration have no lines here: a void of one of them
-- changes nothing (counted as unmatched).
CREATE TABLE IF NOT EXISTS inventory.sale_lines (
    sale_id     text        NOT NULL,
    store_id    text        NOT NULL,
    sku         text        NOT NULL,
    qty         bigint      NOT NULL CHECK (qty > 0),
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (sale_id, sku)
);

---- create above / drop below ----

DROP TABLE inventory.sale_lines;
