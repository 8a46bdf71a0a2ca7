-- The analytics service (schema analytics): the sales warehouse. Its exactly-once consumer
-- stages every sale line and void of pos-sales (staged_lines, staged_voids, day_changes); the
-- daily ETL loads each store-day from staging into a star schema (the fact dw_sales_fact and the
-- dimensions dim_date, dim_store, dim_product, dim_payment), records its runs (etl_runs,
-- loaded_days) and computes the day's report.daily_sales (daily_reports, emitted through the
-- outbox to daily-sales-report). services/analytics/app is the code; the tables document
-- themselves below (COMMENT ON), followed by one example query per finance question.
CREATE SCHEMA IF NOT EXISTS analytics;
COMMENT ON SCHEMA analytics IS 'The sales warehouse of the analytics service: staging of pos-sales, the star schema (dw_sales_fact with dim_date, dim_store, dim_product, dim_payment), ETL runs and the daily reports.';

{{ template "stream_tables" "analytics" }}
{{ template "stream_timers" "analytics" }}

-- Staging (Extract) ------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS analytics.staged_lines (
    sale_id          uuid        NOT NULL,
    line_no          int         NOT NULL,
    store_id         text        NOT NULL,
    business_date    date        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    register         text        NOT NULL,
    sku              text        NOT NULL,
    qty              bigint      NOT NULL,
    unit_price_cents bigint      NOT NULL,
    payment_method   text        NOT NULL,
    loyalty_id       text,
    staged_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sale_id, line_no)
);
CREATE INDEX IF NOT EXISTS staged_lines_day ON analytics.staged_lines (business_date, store_id);
COMMENT ON TABLE analytics.staged_lines IS 'One row per line of every sale.completed consumed from pos-sales, as the POS sent it; a copy of a sale (a POS retry) is dropped by its (sale_id, line_no). Append-only: a void is a row of staged_voids, joined by the ETL.';
COMMENT ON COLUMN analytics.staged_lines.line_no IS 'Position of the line in the sale''s lines, from 0.';
COMMENT ON COLUMN analytics.staged_lines.business_date IS 'The day of occurred_at in the store''s own time zone (catalog.stores.timezone): the store-day the line belongs to.';

CREATE TABLE IF NOT EXISTS analytics.staged_voids (
    sale_id   uuid        PRIMARY KEY,
    store_id  text        NOT NULL,
    voided_at timestamptz NOT NULL,
    reason    text        NOT NULL,
    staged_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE analytics.staged_voids IS 'One row per voided sale (the first sale.voided of a sale_id). A void may be staged before its sale; the ETL marks the sale''s lines voided whichever came first.';

CREATE SEQUENCE IF NOT EXISTS analytics.day_change_seq;
CREATE TABLE IF NOT EXISTS analytics.day_changes (
    store_id      text        NOT NULL,
    business_date date        NOT NULL,
    seq           bigint      NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, business_date)
);
COMMENT ON TABLE analytics.day_changes IS 'The store-days whose staging changed: seq is drawn from day_change_seq by every consumer transaction that staged a line of the store-day or a void of one of its sales, after it holds the row, so it grows in commit order. A store-day is pending when seq is above the loaded_seq of loaded_days.';

-- ETL bookkeeping ----------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS analytics.loaded_days (
    store_id        text        NOT NULL,
    business_date   date        NOT NULL,
    loaded_seq      bigint      NOT NULL,
    first_loaded_at timestamptz NOT NULL,
    last_loaded_at  timestamptz NOT NULL,
    runs            int         NOT NULL,
    PRIMARY KEY (store_id, business_date)
);
COMMENT ON TABLE analytics.loaded_days IS 'The store-days the ETL has loaded into dw_sales_fact: a line loaded into a store-day that has a row here is late. loaded_seq is the day_changes.seq the last load had seen before it read staging.';

CREATE TABLE IF NOT EXISTS analytics.etl_runs (
    run_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id       text        NOT NULL,
    business_date  date        NOT NULL,
    trigger        text        NOT NULL CHECK (trigger IN ('schedule', 'catch_up', 'manual')),
    status         text        NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    staged_lines   bigint,
    inserted       bigint,
    updated        bigint,
    late_rows      bigint,
    report_version int,
    error          text
);
CREATE INDEX IF NOT EXISTS etl_runs_day ON analytics.etl_runs (business_date, store_id);
COMMENT ON TABLE analytics.etl_runs IS 'One row per run of the ETL for one store-day: running when it starts, then ok (with its figures, in the transaction of the load) or failed (with the error). trigger: schedule (the store''s nightly job, for the day just ended), catch_up (the same job, for an earlier day with changes), manual (analytics etl).';
COMMENT ON COLUMN analytics.etl_runs.staged_lines IS 'Lines of the store-day in staging when the run read them.';
COMMENT ON COLUMN analytics.etl_runs.inserted IS 'Fact rows the run inserted; late_rows of them were late.';
COMMENT ON COLUMN analytics.etl_runs.updated IS 'Fact rows the run changed (a void staged after the line was loaded).';
COMMENT ON COLUMN analytics.etl_runs.report_version IS 'Version of the report.daily_sales of the date the run produced.';

CREATE TABLE IF NOT EXISTS analytics.daily_reports (
    report_id     uuid        PRIMARY KEY,
    report_date   date        NOT NULL,
    version       int         NOT NULL,
    complete      boolean     NOT NULL,
    generated_at  timestamptz NOT NULL,
    payload       jsonb       NOT NULL,
    UNIQUE (report_date, version)
);
COMMENT ON TABLE analytics.daily_reports IS 'Every version of every report.daily_sales, as emitted to daily-sales-report: a new version after each ETL run of a store-day of the date, over the stores loaded so far; the highest version is the current report.';

-- The star schema ----------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS analytics.dim_date (
    date_key    int      PRIMARY KEY,
    date        date     NOT NULL UNIQUE,
    year        smallint NOT NULL,
    quarter     smallint NOT NULL,
    month       smallint NOT NULL,
    month_name  text     NOT NULL,
    day         smallint NOT NULL,
    day_of_week smallint NOT NULL,
    day_name    text     NOT NULL,
    iso_year    smallint NOT NULL,
    iso_week    smallint NOT NULL,
    week_start  date     NOT NULL,
    is_weekend  boolean  NOT NULL
);
COMMENT ON TABLE analytics.dim_date IS 'Dimension: one row per calendar day (business days are each store''s own). date_key is the day as the number YYYYMMDD. Filled for 2020-2040 here and by the ETL (fill_dim_date) for any day it loads.';
COMMENT ON COLUMN analytics.dim_date.day_of_week IS 'ISO day of the week: 1 Monday ... 7 Sunday.';
COMMENT ON COLUMN analytics.dim_date.week_start IS 'The Monday of the ISO week: group by it to compare weeks.';

CREATE OR REPLACE FUNCTION analytics.fill_dim_date(from_date date, to_date date) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO analytics.dim_date (date_key, date, year, quarter, month, month_name, day, day_of_week,
        day_name, iso_year, iso_week, week_start, is_weekend)
    SELECT to_char(d, 'YYYYMMDD')::int, d, extract(year FROM d), extract(quarter FROM d), extract(month FROM d),
        to_char(d, 'FMMonth'), extract(day FROM d), extract(isodow FROM d), to_char(d, 'FMDay'),
        extract(isoyear FROM d), extract(week FROM d), (d - (extract(isodow FROM d)::int - 1)),
        extract(isodow FROM d) >= 6
    FROM generate_series(from_date, to_date, interval '1 day') AS g(t), LATERAL (SELECT t::date AS d) x
    ON CONFLICT (date_key) DO NOTHING
$$;
COMMENT ON FUNCTION analytics.fill_dim_date(date, date) IS 'Adds the days from_date..to_date (inclusive) to dim_date; days already there are kept.';
SELECT analytics.fill_dim_date('2020-01-01', '2040-12-31');

CREATE TABLE IF NOT EXISTS analytics.dim_store (
    store_key  int  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id   text NOT NULL UNIQUE,
    name       text NOT NULL,
    city       text NOT NULL,
    state      text NOT NULL,
    timezone   text NOT NULL
);
COMMENT ON TABLE analytics.dim_store IS 'Dimension: one row per store of catalog.stores (type 1: a change overwrites). timezone is the IANA zone the store''s business days are counted in.';

CREATE TABLE IF NOT EXISTS analytics.dim_product (
    product_key     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku             text        NOT NULL,
    name            text        NOT NULL,
    unit            text        NOT NULL,
    department      text        NOT NULL,
    department_name text        NOT NULL,
    vendor_id       text        NOT NULL,
    vendor_name     text        NOT NULL,
    price_cents     bigint      NOT NULL,
    valid_from      timestamptz NOT NULL,
    valid_to        timestamptz,
    current         boolean     NOT NULL,
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CHECK (current = (valid_to IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS dim_product_current ON analytics.dim_product (sku) WHERE current;
CREATE INDEX IF NOT EXISTS dim_product_sku ON analytics.dim_product (sku, valid_from);
COMMENT ON TABLE analytics.dim_product IS 'Dimension: products of catalog.products, type 2. A change of price_cents, department or vendor_id closes the current version (valid_to, current false) and opens a new one from the time the ETL saw the change; name, unit and the department and vendor names are type 1 (overwritten in every version). A fact line refers to the version valid at its occurred_at (valid_from <= occurred_at < valid_to), so figures per department are as of the sale. The first version of a SKU is valid from -infinity.';
COMMENT ON COLUMN analytics.dim_product.price_cents IS 'The catalog''s list price while the version was valid (the price paid is dw_sales_fact.unit_price_cents).';

CREATE TABLE IF NOT EXISTS analytics.dim_payment (
    payment_key smallint PRIMARY KEY,
    method      text     NOT NULL UNIQUE
);
INSERT INTO analytics.dim_payment (payment_key, method) VALUES (1, 'card'), (2, 'cash'), (3, 'mobile')
    ON CONFLICT DO NOTHING;
COMMENT ON TABLE analytics.dim_payment IS 'Dimension: the payment methods of sale.completed (card, cash, mobile).';

CREATE TABLE IF NOT EXISTS analytics.dw_sales_fact (
    sale_id          uuid        NOT NULL,
    line_no          int         NOT NULL,
    date_key         int         NOT NULL,
    store_key        int         NOT NULL,
    product_key      bigint      NOT NULL,
    payment_key      smallint    NOT NULL,
    store_id         text        NOT NULL,
    sku              text        NOT NULL,
    occurred_at      timestamptz NOT NULL,
    qty              bigint      NOT NULL,
    unit_price_cents bigint      NOT NULL,
    gross_cents      bigint      NOT NULL,
    net_cents        bigint      NOT NULL,
    voided           boolean     NOT NULL,
    late             boolean     NOT NULL,
    loaded_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
) PARTITION BY RANGE (date_key);
COMMENT ON TABLE analytics.dw_sales_fact IS 'Fact: one row per sale line, grain (sale_id, line_no), at the store''s business day date_key. Voided lines stay, with voided true and net_cents 0. Partitioned by day (dw_sales_fact_pYYYYMMDD, created and attached by the ETL before it loads a day): a day''s load and report read only its partition, and a query that filters on date_key reads only the days it names. Loaded per store-day by the ETL with one statement that inserts the lines not there yet and updates those that changed (a later void), under a lock of the store-day, so (sale_id, line_no) is unique by that load; the partitions have no index: a unique one on (sale_id, line_no) would make the load several times slower (see services/analytics/app/sql.go). The dimension keys are resolved by the ETL and not enforced by foreign keys.';
COMMENT ON COLUMN analytics.dw_sales_fact.sale_id IS 'Degenerate dimension: the sale.';
COMMENT ON COLUMN analytics.dw_sales_fact.line_no IS 'Position of the line in the sale, from 0.';
COMMENT ON COLUMN analytics.dw_sales_fact.date_key IS 'dim_date: the day of occurred_at in the store''s time zone.';
COMMENT ON COLUMN analytics.dw_sales_fact.store_key IS 'dim_store of store_id.';
COMMENT ON COLUMN analytics.dw_sales_fact.product_key IS 'dim_product: the version of sku valid at occurred_at.';
COMMENT ON COLUMN analytics.dw_sales_fact.payment_key IS 'dim_payment: how the sale was paid.';
COMMENT ON COLUMN analytics.dw_sales_fact.gross_cents IS 'qty * unit_price_cents, voided or not.';
COMMENT ON COLUMN analytics.dw_sales_fact.net_cents IS 'gross_cents, or 0 when the sale was voided: sum it for net sales.';
COMMENT ON COLUMN analytics.dw_sales_fact.late IS 'The line was staged after its store-day had been loaded, and came in with a later run of that day.';
COMMENT ON COLUMN analytics.dw_sales_fact.loaded_at IS 'When the ETL inserted the row; updated_at, when it last changed it.';

-- Finance questions, one example query each (services/analytics/app tests run them).
--
-- Example: net sales by store and department for one business day.
--   SELECT s.store_id, s.name AS store, p.department_name AS department,
--          sum(f.net_cents) / 100.0 AS net_usd
--   FROM analytics.dw_sales_fact f
--   JOIN analytics.dim_store s USING (store_key)
--   JOIN analytics.dim_product p USING (product_key)
--   WHERE f.date_key = 20261201
--   GROUP BY s.store_id, s.name, p.department_name
--   ORDER BY s.store_id, p.department_name;
--
-- Example: one week's net sales per store against the week before (ISO weeks, Monday first).
--   SELECT s.store_id,
--          sum(f.net_cents) FILTER (WHERE d.week_start = DATE '2026-11-30') / 100.0 AS this_week_usd,
--          sum(f.net_cents) FILTER (WHERE d.week_start = DATE '2026-11-23') / 100.0 AS week_before_usd,
--          round(100.0 * (sum(f.net_cents) FILTER (WHERE d.week_start = DATE '2026-11-30')
--                - sum(f.net_cents) FILTER (WHERE d.week_start = DATE '2026-11-23'))
--                / nullif(sum(f.net_cents) FILTER (WHERE d.week_start = DATE '2026-11-23'), 0), 1) AS change_pct
--   FROM analytics.dw_sales_fact f
--   JOIN analytics.dim_date d USING (date_key)
--   JOIN analytics.dim_store s USING (store_key)
--   WHERE f.date_key BETWEEN 20261123 AND 20261206 -- the two weeks' partitions only
--     AND d.week_start IN (DATE '2026-11-23', DATE '2026-11-30')
--   GROUP BY s.store_id
--   ORDER BY s.store_id;
--
-- Example: the ten best-selling products of a week by net revenue, with units sold.
--   SELECT p.sku, p.name,
--          sum(f.qty) FILTER (WHERE NOT f.voided) AS units,
--          sum(f.net_cents) / 100.0 AS net_usd
--   FROM analytics.dw_sales_fact f
--   JOIN analytics.dim_product p USING (product_key)
--   WHERE f.date_key BETWEEN 20261124 AND 20261130
--   GROUP BY p.sku, p.name
--   ORDER BY sum(f.net_cents) DESC, p.sku
--   LIMIT 10;

---- create above / drop below ----

DROP SCHEMA analytics CASCADE;
