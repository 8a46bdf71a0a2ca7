package app

// The statements of the analytics service. Each handles a whole batch or a whole store-day:
// arrays in, one round trip each.

// Staging (the consumer).
const (
	// sqlStageLines stages sale lines; a line already staged (a copy of its sale) is left as it is.
	sqlStageLines = `INSERT INTO analytics.staged_lines (sale_id, line_no, store_id, business_date, occurred_at, register, sku,
		qty, unit_price_cents, payment_method, loyalty_id)
	SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::date[], $5::timestamptz[], $6::text[], $7::text[],
		$8::bigint[], $9::bigint[], $10::text[], $11::text[])
	ON CONFLICT (sale_id, line_no) DO NOTHING`

	// sqlStageVoids stages voids; the first void of a sale counts.
	sqlStageVoids = `INSERT INTO analytics.staged_voids (sale_id, store_id, voided_at, reason)
	SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[])
	ON CONFLICT (sale_id) DO NOTHING`

	// sqlMarkDays gives every store-day the batch touched a new change number: the days of its
	// sales ($1, $2) and the days of the staged sales its voids name ($3). The number is drawn
	// after the row is held (DO UPDATE), so it grows in commit order; rows are taken in key order.
	sqlMarkDays = `INSERT INTO analytics.day_changes AS c (store_id, business_date, seq)
	SELECT store_id, business_date, nextval('analytics.day_change_seq') FROM (
		SELECT DISTINCT store_id, business_date FROM (
			SELECT * FROM unnest($1::text[], $2::date[]) AS u(store_id, business_date)
			UNION ALL
			SELECT l.store_id, l.business_date FROM analytics.staged_lines l WHERE l.sale_id = ANY($3::uuid[]) AND l.line_no = 0
		) a ORDER BY store_id, business_date
	) d
	ON CONFLICT (store_id, business_date) DO UPDATE SET seq = nextval('analytics.day_change_seq'), changed_at = now()`
)

// Dimensions (syncDims), in one transaction under sqlLockDims.
const (
	sqlLockDims = `SELECT pg_advisory_xact_lock(hashtextextended('freshmart_analytics_dims', 0))`

	sqlSyncStores = `INSERT INTO analytics.dim_store (store_id, name, city, state, timezone)
	SELECT store_id, name, city, state, timezone FROM catalog.stores ORDER BY store_id
	ON CONFLICT (store_id) DO UPDATE SET name = EXCLUDED.name, city = EXCLUDED.city, state = EXCLUDED.state, timezone = EXCLUDED.timezone
	WHERE (dim_store.name, dim_store.city, dim_store.state, dim_store.timezone) IS DISTINCT FROM
		(EXCLUDED.name, EXCLUDED.city, EXCLUDED.state, EXCLUDED.timezone)`

	// Type 1 attributes: overwritten in every version.
	sqlProductNames = `UPDATE analytics.dim_product d SET name = p.name, unit = p.unit
	FROM catalog.products p WHERE d.sku = p.sku AND (d.name, d.unit) IS DISTINCT FROM (p.name, p.unit)`
	sqlDepartmentNames = `UPDATE analytics.dim_product d SET department_name = x.name
	FROM catalog.departments x WHERE d.department = x.id AND d.department_name IS DISTINCT FROM x.name`
	sqlVendorNames = `UPDATE analytics.dim_product d SET vendor_name = x.name
	FROM catalog.vendors x WHERE d.vendor_id = x.vendor_id AND d.vendor_name IS DISTINCT FROM x.name`

	// Type 2 attributes: a change closes the current version at $1 ...
	sqlCloseProducts = `UPDATE analytics.dim_product d SET valid_to = GREATEST($1::timestamptz, d.valid_from), current = false
	FROM catalog.products p
	WHERE d.sku = p.sku AND d.current AND (d.price_cents, d.department, d.vendor_id) IS DISTINCT FROM (p.price_cents, p.department, p.vendor_id)`
	// ... and every SKU without a current version gets one, from where the last one ended (or
	// from -infinity for a new SKU).
	sqlOpenProducts = `INSERT INTO analytics.dim_product (sku, name, unit, department, department_name, vendor_id, vendor_name,
		price_cents, valid_from, valid_to, current)
	SELECT p.sku, p.name, p.unit, p.department, dep.name, p.vendor_id, v.name, p.price_cents,
		coalesce((SELECT max(o.valid_to) FROM analytics.dim_product o WHERE o.sku = p.sku), '-infinity'), NULL, true
	FROM catalog.products p
	JOIN catalog.departments dep ON dep.id = p.department
	JOIN catalog.vendors v ON v.vendor_id = p.vendor_id
	WHERE NOT EXISTS (SELECT 1 FROM analytics.dim_product c WHERE c.sku = p.sku AND c.current)
	ORDER BY p.sku`

	sqlReadStores      = `SELECT store_id, store_key FROM analytics.dim_store ORDER BY store_id`
	sqlReadProducts    = `SELECT sku, product_key, nullif(valid_from, '-infinity'), valid_to FROM analytics.dim_product ORDER BY sku, valid_from`
	sqlReadPayments    = `SELECT method, payment_key FROM analytics.dim_payment`
	sqlReadDepartments = `SELECT id FROM catalog.departments ORDER BY position, id`
	sqlFillDates       = `SELECT analytics.fill_dim_date($1::date, $2::date)`

	// A day's partition of the fact table is created empty and attached, which locks the
	// parent only against other attachments and maintenance (CREATE TABLE ... PARTITION OF
	// would lock out every reader of the fact table meanwhile).
	sqlPartitionExists = `SELECT to_regclass($1) IS NOT NULL`
	sqlCreatePartition = `CREATE TABLE %[1]s (LIKE analytics.dw_sales_fact)`
	sqlAttachPartition = `ALTER TABLE analytics.dw_sales_fact ATTACH PARTITION %[1]s FOR VALUES FROM (%[2]d) TO (%[3]d)`
)

// One load (ETL.Load) of one date for a set of stores, in one transaction.
const (
	sqlStartRuns = `INSERT INTO analytics.etl_runs (store_id, business_date, trigger, status, started_at)
	SELECT s, $2::date, $3, 'running', $4 FROM unnest($1::text[]) AS s RETURNING run_id`
	sqlFailRuns = `UPDATE analytics.etl_runs SET status = 'failed', finished_at = $2, error = $3 WHERE run_id = ANY($1)`

	// sqlLockDays takes the lock of each store-day, in the (sorted) order given.
	sqlLockDays = `SELECT pg_advisory_xact_lock(hashtextextended('freshmart_analytics_etl/' || s || '/' || $2::text, 0))
	FROM unnest($1::text[]) AS s`
	sqlAbandonRuns = `UPDATE analytics.etl_runs SET status = 'failed', finished_at = $4,
		error = 'abandoned: the process running it stopped before it finished'
	WHERE business_date = $1 AND store_id = ANY($2) AND status = 'running' AND run_id <> ALL($3)`
	sqlReadSeqs   = `SELECT store_id, seq FROM analytics.day_changes WHERE business_date = $1 AND store_id = ANY($2)`
	sqlReadLoaded = `SELECT store_id FROM analytics.loaded_days WHERE business_date = $1 AND store_id = ANY($2)`

	sqlCreateTemp = `CREATE TEMP TABLE etl_lines (sale_id uuid, line_no int, date_key int, store_key int, product_key bigint,
		payment_key smallint, store_id text, sku text, occurred_at timestamptz, qty bigint, unit_price_cents bigint,
		gross_cents bigint, net_cents bigint, voided boolean, late boolean) ON COMMIT DROP`

	sqlCopyTemp = `COPY etl_lines FROM STDIN (FORMAT binary)`

	// sqlExtract reads the staged lines of a date's store-days with their void.
	sqlExtract = `SELECT l.sale_id, l.line_no, l.store_id, l.occurred_at, l.sku, l.qty, l.unit_price_cents, l.payment_method,
		v.sale_id IS NOT NULL
	FROM analytics.staged_lines l LEFT JOIN analytics.staged_voids v ON v.sale_id = l.sale_id
	WHERE l.business_date = $1 AND l.store_id = ANY($2)`

	// sqlCountDay counts the fact rows of a date's store-days, before the upsert: the lines it
	// inserts are the staged ones that are not among them.
	sqlCountDay = `SELECT store_id, count(*) FROM analytics.dw_sales_fact WHERE date_key = $1 AND store_id = ANY($2) GROUP BY store_id`

	// sqlUpsert is the load: one statement that updates the fact rows of the day whose line
	// changed (a void staged since), returning their stores, and inserts the lines not there
	// yet. Both parts read only the day's partition (date_key = $1). The two sets are disjoint
	// (rows there before the statement, rows not there), and no other load of these store-days
	// runs meanwhile (the store-day locks), so (sale_id, line_no) stays unique without a
	// unique index: in a trial on 2M rows a unique B-tree on it made the insert 2.5x slower,
	// and INSERT ... ON CONFLICT on it 7x. (Counting the inserted rows with RETURNING would
	// cost a tenth of the load; sqlCountDay counts them for less.)
	sqlUpsert = `WITH upd AS (
		UPDATE analytics.dw_sales_fact f SET voided = t.voided, net_cents = t.net_cents, gross_cents = t.gross_cents,
			qty = t.qty, unit_price_cents = t.unit_price_cents, product_key = t.product_key, payment_key = t.payment_key,
			store_key = t.store_key, store_id = t.store_id, sku = t.sku, occurred_at = t.occurred_at, updated_at = $2
		FROM etl_lines t
		WHERE f.date_key = $1 AND f.sale_id = t.sale_id AND f.line_no = t.line_no
			AND (f.voided, f.net_cents, f.gross_cents, f.qty, f.unit_price_cents, f.product_key, f.payment_key, f.store_key,
				f.store_id, f.sku, f.occurred_at)
			IS DISTINCT FROM (t.voided, t.net_cents, t.gross_cents, t.qty, t.unit_price_cents, t.product_key, t.payment_key,
				t.store_key, t.store_id, t.sku, t.occurred_at)
		RETURNING f.store_id
	), ins AS (
		INSERT INTO analytics.dw_sales_fact (sale_id, line_no, date_key, store_key, product_key, payment_key, store_id, sku,
			occurred_at, qty, unit_price_cents, gross_cents, net_cents, voided, late, loaded_at, updated_at)
		SELECT t.sale_id, t.line_no, t.date_key, t.store_key, t.product_key, t.payment_key, t.store_id, t.sku, t.occurred_at,
			t.qty, t.unit_price_cents, t.gross_cents, t.net_cents, t.voided, t.late, $2, $2
		FROM etl_lines t
		WHERE NOT EXISTS (SELECT 1 FROM analytics.dw_sales_fact f WHERE f.date_key = $1 AND f.sale_id = t.sale_id AND f.line_no = t.line_no)
	)
	SELECT store_id, count(*) FROM upd GROUP BY store_id`

	sqlMarkLoaded = `INSERT INTO analytics.loaded_days AS l (store_id, business_date, loaded_seq, first_loaded_at, last_loaded_at, runs)
	SELECT s, $1::date, q, $3, $3, 1 FROM unnest($2::text[], $4::bigint[]) AS u(s, q)
	ON CONFLICT (store_id, business_date) DO UPDATE SET loaded_seq = GREATEST(l.loaded_seq, EXCLUDED.loaded_seq),
		last_loaded_at = EXCLUDED.last_loaded_at, runs = l.runs + 1`

	sqlFinishRuns = `UPDATE analytics.etl_runs r SET status = 'ok', finished_at = $2, report_version = $3, error = NULL,
		staged_lines = u.staged, inserted = u.ins, updated = u.upd, late_rows = u.late
	FROM unnest($1::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[]) AS u(id, staged, ins, upd, late)
	WHERE r.run_id = u.id`

	// sqlPendingDays lists a store's days before $2 whose staging changed since they were last
	// loaded (or that were never loaded).
	sqlPendingDays = `SELECT c.business_date FROM analytics.day_changes c
	LEFT JOIN analytics.loaded_days l ON l.store_id = c.store_id AND l.business_date = c.business_date
	WHERE c.store_id = $1 AND c.business_date < $2 AND (l.store_id IS NULL OR c.seq > l.loaded_seq)
	ORDER BY c.business_date`
)

// The daily report (report.go).
const (
	sqlLockReport   = `SELECT pg_advisory_xact_lock(hashtextextended('freshmart_analytics_report/' || $1::text, 0))`
	sqlNextVersion  = `SELECT coalesce(max(version), 0) + 1 FROM analytics.daily_reports WHERE report_date = $1`
	sqlLoadedStores = `SELECT business_date, store_id FROM analytics.loaded_days WHERE business_date = ANY($1)`

	// sqlDayFigures aggregates a day per store and department and per store (distinct sales:
	// a sale with lines in two departments counts once for its store).
	sqlDayFigures = `SELECT f.store_id, coalesce(p.department, ''), GROUPING(p.department) = 1,
		count(DISTINCT f.sale_id), count(DISTINCT f.sale_id) FILTER (WHERE f.voided),
		coalesce(sum(f.qty) FILTER (WHERE NOT f.voided), 0), sum(f.gross_cents),
		coalesce(sum(f.gross_cents) FILTER (WHERE f.voided), 0), sum(f.net_cents)
	FROM analytics.dw_sales_fact f JOIN analytics.dim_product p USING (product_key)
	WHERE f.date_key = $1
	GROUP BY GROUPING SETS ((f.store_id, p.department), (f.store_id))`

	sqlPriorNets = `SELECT f.date_key, f.store_id, p.department, sum(f.net_cents)
	FROM analytics.dw_sales_fact f JOIN analytics.dim_product p USING (product_key)
	WHERE f.date_key = $1 OR f.date_key = $2
	GROUP BY f.date_key, f.store_id, p.department`

	sqlTopProducts = `SELECT sku, coalesce(sum(qty) FILTER (WHERE NOT voided), 0), sum(net_cents)
	FROM analytics.dw_sales_fact WHERE date_key = $1
	GROUP BY sku HAVING sum(net_cents) > 0
	ORDER BY sum(net_cents) DESC, sku LIMIT $2`

	sqlInsertReport = `INSERT INTO analytics.daily_reports (report_id, report_date, version, complete, generated_at, payload)
	VALUES ($1, $2, $3, $4, $5, $6)`
	sqlInsertOutbox = `INSERT INTO analytics.outbox (topic, key, headers, value) VALUES ($1, $2, $3, $4)`
	sqlNotify       = `SELECT pg_notify($1, '')`
)
