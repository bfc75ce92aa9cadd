package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tagseg/tagseg/internal/gen"
)

// Postgres is the peer a developer with a PostgreSQL server writes: one
// customers row per customer with its current MRR and its tags as a text[]
// array under a GIN index, and an mrr_events table keyed by (customer,
// time). Boolean segments are @> (all of), && (any of) and NOT predicates
// on the array, which the GIN index serves; the series uses window
// functions; tag stats unnest the arrays of the segment's rows.
//
// Each data set lives in its own schema (ds_n<N>_s<seed>), selected with
// search_path, so several sizes can be cached in one cluster.
type Postgres struct {
	Conn   *pgx.Conn
	Schema string
}

// PGDSN returns $TAGSEG_BENCH_PG_DSN: the PostgreSQL peer runs only when
// it is set (bench/run.sh starts a private server and sets it).
func PGDSN() string { return os.Getenv("TAGSEG_BENCH_PG_DSN") }

// pgSchema names the schema of a data set.
func (d *Dataset) pgSchema() string { return fmt.Sprintf("ds_n%d_s%d", d.N, d.Seed) }

// pgMarker is the file beside the other caches standing for the schema:
// its .json holds the load metadata and its .dirty marks an interrupted
// write benchmark.
func (d *Dataset) pgMarker() string { return filepath.Join(DataDir(), "pg-"+d.Key()) }

func pgConnect(ctx context.Context, dsn, schema string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if schema != "" {
		cfg.RuntimeParams["search_path"] = schema
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// OpenPostgres connects to the data set's schema, loading it first when
// it is missing or was left dirty.
func (d *Dataset) OpenPostgres(dsn string) (*Postgres, error) {
	ctx := context.Background()
	schema := d.pgSchema()
	admin, err := pgConnect(ctx, dsn, "")
	if err != nil {
		return nil, err
	}
	defer admin.Close(ctx)
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists || isDirty(d.pgMarker()) {
		meta, err := d.LoadPostgres(dsn, schema+"_building")
		if err != nil {
			return nil, err
		}
		if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			return nil, err
		}
		if _, err := admin.Exec(ctx, "ALTER SCHEMA "+schema+"_building RENAME TO "+schema); err != nil {
			return nil, err
		}
		if err := writeMeta(d.pgMarker(), meta); err != nil {
			return nil, err
		}
		os.Remove(dirtyPath(d.pgMarker()))
	}
	conn, err := pgConnect(ctx, dsn, schema)
	if err != nil {
		return nil, err
	}
	return &Postgres{Conn: conn, Schema: schema}, nil
}

// LoadPostgres (re)creates schema and loads the data set into it: COPY of
// both tables, then the primary keys, the GIN index, VACUUM ANALYZE.
func (d *Dataset) LoadPostgres(dsn, schema string) (LoadMeta, error) {
	ctx := context.Background()
	meta := LoadMeta{System: "postgres", N: d.N, Seed: d.Seed, Mode: "COPY, then indexes"}
	start := time.Now()
	admin, err := pgConnect(ctx, dsn, "")
	if err != nil {
		return meta, err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		return meta, err
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return meta, err
	}
	conn, err := pgConnect(ctx, dsn, schema)
	if err != nil {
		return meta, err
	}
	defer conn.Close(ctx)
	for _, s := range []string{
		"CREATE TABLE customers (id integer NOT NULL, mrr bigint NOT NULL, tags text[] NOT NULL)",
		"CREATE TABLE mrr_events (customer_id integer NOT NULL, at bigint NOT NULL, cents bigint NOT NULL)",
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			return meta, err
		}
	}
	bar := Progress(d.N, "postgres COPY customers")
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"customers"}, []string{"id", "mrr", "tags"},
		&pgRows{d: d, bar: bar, row: func(id int, c *gen.Customer, out [][]any) [][]any {
			meta.Assignments += int64(len(c.Tags))
			return append(out, []any{int32(id), c.MRR(), c.Tags})
		}})
	bar.Finish()
	if err != nil {
		return meta, err
	}
	bar = Progress(d.N, "postgres COPY mrr_events")
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"mrr_events"}, []string{"customer_id", "at", "cents"},
		&pgRows{d: d, bar: bar, row: func(id int, c *gen.Customer, out [][]any) [][]any {
			for _, e := range c.Events {
				meta.Events++
				out = append(out, []any{int32(id), e.At.Unix(), e.Cents})
			}
			return out
		}})
	bar.Finish()
	if err != nil {
		return meta, err
	}
	for _, s := range []string{
		"SET maintenance_work_mem = '2GB'",
		"ALTER TABLE customers ADD PRIMARY KEY (id)",
		"CREATE INDEX customers_tags ON customers USING gin (tags)",
		"ALTER TABLE mrr_events ADD PRIMARY KEY (customer_id, at)",
		"VACUUM ANALYZE customers",
		"VACUUM ANALYZE mrr_events",
		"CHECKPOINT",
	} {
		logf("postgres: %s", s)
		if _, err := conn.Exec(ctx, s); err != nil {
			return meta, fmt.Errorf("%s: %w", s, err)
		}
	}
	meta.Seconds = time.Since(start).Seconds()
	meta.Built = time.Now().UTC()
	return meta, nil
}

// pgRows streams generated customers into CopyFrom, row(id, c) giving the
// rows of one customer.
type pgRows struct {
	d    *Dataset
	bar  interface{ Add(int) error }
	row  func(id int, c *gen.Customer, out [][]any) [][]any
	next func() (int, []gen.Customer, bool)
	stop func()
	rows [][]any
	cur  []any
}

func (r *pgRows) Next() bool {
	if r.next == nil {
		r.next, r.stop = pullBatches(r.d)
	}
	for len(r.rows) == 0 {
		lo, cs, ok := r.next()
		if !ok {
			r.stop()
			return false
		}
		for i := range cs {
			r.rows = r.row(lo+i, &cs[i], r.rows)
		}
		r.bar.Add(len(cs))
	}
	r.cur, r.rows = r.rows[0], r.rows[1:]
	return true
}

func (r *pgRows) Values() ([]any, error) { return r.cur, nil }
func (r *pgRows) Err() error             { return nil }

// pullBatches turns Dataset.Batches into a pull iterator.
func pullBatches(d *Dataset) (func() (int, []gen.Customer, bool), func()) {
	type item struct {
		lo int
		cs []gen.Customer
	}
	ch := make(chan item, 1)
	done := make(chan struct{})
	go func() {
		defer close(ch)
		for lo, cs := range d.Batches(DefaultBatch) {
			select {
			case ch <- item{lo, cs}:
			case <-done:
				return
			}
		}
	}()
	next := func() (int, []gen.Customer, bool) {
		it, ok := <-ch
		return it.lo, it.cs, ok
	}
	var stopped bool
	stop := func() {
		if !stopped {
			stopped = true
			close(done)
		}
	}
	return next, stop
}

// Name implements System.
func (*Postgres) Name() string { return "postgres" }

// Count implements System.
func (p *Postgres) Count(q Q) (uint64, error) {
	var args []any
	var n int64
	err := p.Conn.QueryRow(context.Background(), "SELECT count(*) FROM customers WHERE "+pgWhere(q, &args), args...).Scan(&n)
	return uint64(n), err
}

// CountMRR implements System.
func (p *Postgres) CountMRR(q Q) (uint64, int64, error) {
	var args []any
	var n, mrr int64
	err := p.Conn.QueryRow(context.Background(), "SELECT count(*), coalesce(sum(mrr), 0)::bigint FROM customers WHERE "+pgWhere(q, &args), args...).Scan(&n, &mrr)
	return uint64(n), mrr, err
}

// Series implements System.
func (p *Postgres) Series(q Q, from, to time.Time) ([]Point, error) {
	var args []any
	seg := "SELECT id FROM customers WHERE " + pgWhere(q, &args)
	ms := months(from, to)
	args = append(args, ms[len(ms)-1].Unix())
	month := "(extract(year FROM to_timestamp(at) AT TIME ZONE 'UTC') * 12 + extract(month FROM to_timestamp(at) AT TIME ZONE 'UTC') - 1)::integer"
	query := fmt.Sprintf(seriesSQL, seg, month, fmt.Sprintf("$%d", len(args)))
	rows, err := p.Conn.Query(context.Background(), query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var mv []movement
	for rows.Next() {
		var m movement
		if err := rows.Scan(&m.month, &m.nb, &m.exp, &m.contr, &m.churn, &m.react, &m.dpaying); err != nil {
			return nil, err
		}
		mv = append(mv, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return fold(mv, from, to), nil
}

// TagStats implements System.
func (p *Postgres) TagStats(q Q, limit int, byCount bool) ([]TagStat, error) {
	var args []any
	where := pgWhere(q, &args)
	args = append(args, limit)
	order := "3 DESC, 2 DESC"
	if byCount {
		order = "2 DESC, 3 DESC"
	}
	rows, err := p.Conn.Query(context.Background(), fmt.Sprintf(`SELECT tag, count(*), sum(mrr)::bigint
FROM customers, unnest(tags) AS tag WHERE %s
GROUP BY tag ORDER BY %s, tag COLLATE "C" LIMIT $%d`, where, order, len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TagStat
	for rows.Next() {
		var t TagStat
		var n int64
		if err := rows.Scan(&t.Tag, &n, &t.MRR); err != nil {
			return nil, err
		}
		t.Customers = uint64(n)
		out = append(out, t)
	}
	return out, rows.Err()
}

// AddTag implements Writer: one autocommitted UPDATE (synchronous_commit
// on: durable when it returns).
func (p *Postgres) AddTag(t Target, tag string) error {
	_, err := p.Conn.Exec(context.Background(), "UPDATE customers SET tags = array_append(tags, $2) WHERE id = $1", int32(t.ID), tag)
	return err
}

// RemoveTag implements Writer, then vacuums the table so later reads do
// not pay for the dead row versions the benchmark left.
func (p *Postgres) RemoveTag(ts []Target, tag string) error {
	ids := make([]int32, len(ts))
	for i, t := range ts {
		ids[i] = int32(t.ID)
	}
	ctx := context.Background()
	if _, err := p.Conn.Exec(ctx, "UPDATE customers SET tags = array_remove(tags, $2) WHERE id = ANY($1)", ids, tag); err != nil {
		return err
	}
	_, err := p.Conn.Exec(ctx, "VACUUM ANALYZE customers")
	return err
}

// Close implements System.
func (p *Postgres) Close() error { return p.Conn.Close(context.Background()) }

// Sizes of the data set's relations in bytes (table, indexes, total).
func (p *Postgres) Size() (int64, error) {
	var n int64
	err := p.Conn.QueryRow(context.Background(),
		"SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'",
		p.Schema).Scan(&n)
	return n, err
}

// logf prints progress notes to stderr unless $TAGSEG_BENCH_QUIET is set.
func logf(format string, args ...any) {
	if os.Getenv("TAGSEG_BENCH_QUIET") == "" {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	}
}
