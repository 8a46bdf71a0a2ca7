-- Reference data shared read-only by every service (schema catalog). Rows are upserted from the
-- embedded catalog (services/catalog) by migrations.Apply after the migrations have run.
CREATE SCHEMA IF NOT EXISTS catalog;

CREATE TABLE catalog.departments (
    id       text PRIMARY KEY,
    name     text NOT NULL,
    position int  NOT NULL
);

CREATE TABLE catalog.vendors (
    vendor_id text PRIMARY KEY,
    name      text NOT NULL
);

CREATE TABLE catalog.stores (
    store_id text PRIMARY KEY,
    name     text NOT NULL,
    city     text NOT NULL,
    state    text NOT NULL,
    timezone text NOT NULL
);

CREATE TABLE catalog.products (
    sku                 text   PRIMARY KEY,
    name                text   NOT NULL,
    department          text   NOT NULL REFERENCES catalog.departments (id),
    unit                text   NOT NULL,
    price_cents         bigint NOT NULL CHECK (price_cents >= 0),
    low_stock_threshold int    NOT NULL CHECK (low_stock_threshold >= 0),
    reorder_qty         int    NOT NULL CHECK (reorder_qty >= 0),
    vendor_id           text   NOT NULL REFERENCES catalog.vendors (vendor_id),
    initial_stock       int    NOT NULL CHECK (initial_stock >= 0)
);
CREATE INDEX products_department ON catalog.products (department);

---- create above / drop below ----

DROP SCHEMA catalog CASCADE;
