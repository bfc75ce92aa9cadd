package bench

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// SQLite is the peer a developer with an embedded SQL database writes: a
// customers table with the current MRR, a tags table, a customer_tags
// join table indexed both ways, and an mrr_events table keyed by
// (customer, time). Boolean segments are INTERSECT / UNION / EXCEPT
// compounds over the (tag_id, customer_id) index; the series uses window
// functions; tag stats are a GROUP BY over the join. The connection runs
// in WAL mode with synchronous=FULL, so every write transaction is durable.
type SQLite struct {
	DB   *sql.DB
	Path string
}

const sqliteSchema = `
CREATE TABLE customers(id INTEGER PRIMARY KEY, mrr INTEGER NOT NULL);
CREATE TABLE tags(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE customer_tags(customer_id INTEGER NOT NULL, tag_id INTEGER NOT NULL);
CREATE TABLE mrr_events(customer_id INTEGER NOT NULL, at INTEGER NOT NULL, cents INTEGER NOT NULL, PRIMARY KEY(customer_id, at)) WITHOUT ROWID;
`

// Indexes created after the bulk insert.
const sqliteIndexes = `
CREATE UNIQUE INDEX customer_tags_by_tag ON customer_tags(tag_id, customer_id);
CREATE INDEX customer_tags_by_customer ON customer_tags(customer_id, tag_id);
ANALYZE;
`

// sqliteDSN opens path with the pragmas every connection gets.
func sqliteDSN(path string, load bool) string {
	p := []string{"busy_timeout(10000)", "temp_store(MEMORY)", "cache_size(-1048576)", "mmap_size(8589934592)"}
	if load {
		p = append(p, "journal_mode(OFF)", "synchronous(OFF)")
	} else {
		p = append(p, "journal_mode(WAL)", "synchronous(FULL)")
	}
	return "file:" + path + "?_pragma=" + strings.Join(p, "&_pragma=")
}

// OpenSQLite opens an SQLite database built by LoadSQLite.
func OpenSQLite(path string) (*SQLite, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return &SQLite{DB: db, Path: path}, nil
}

// LoadSQLite creates a new database at path (removing any there) and
// loads the data set: multi-row INSERTs in one transaction with the
// journal off, then the indexes, ANALYZE, WAL mode and an fsync.
func (d *Dataset) LoadSQLite(path string) (LoadMeta, error) {
	meta := LoadMeta{System: "sqlite", N: d.N, Seed: d.Seed, Mode: "bulk, fsync at end"}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	start := time.Now()
	db, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return meta, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(sqliteSchema); err != nil {
		return meta, err
	}
	tx, err := db.Begin()
	if err != nil {
		return meta, err
	}
	defer tx.Rollback()
	ins := map[string]*rowInserter{
		"customers":     {tx: tx, table: "customers(id, mrr)", cols: 2},
		"tags":          {tx: tx, table: "tags(id, name)", cols: 2},
		"customer_tags": {tx: tx, table: "customer_tags(customer_id, tag_id)", cols: 2},
		"mrr_events":    {tx: tx, table: "mrr_events(customer_id, at, cents)", cols: 3},
	}
	tagNum := map[string]int64{}
	bar := Progress(d.N, "sqlite load")
	for lo, cs := range d.Batches(DefaultBatch) {
		for i := range cs {
			id := int64(lo + i)
			c := &cs[i]
			if err := ins["customers"].add(id, c.MRR()); err != nil {
				return meta, err
			}
			for _, t := range c.Tags {
				n, ok := tagNum[t]
				if !ok {
					n = int64(len(tagNum))
					tagNum[t] = n
					if err := ins["tags"].add(n, t); err != nil {
						return meta, err
					}
				}
				if err := ins["customer_tags"].add(id, n); err != nil {
					return meta, err
				}
			}
			for _, e := range c.Events {
				if err := ins["mrr_events"].add(id, e.At.Unix(), e.Cents); err != nil {
					return meta, err
				}
			}
			meta.Assignments += int64(len(c.Tags))
			meta.Events += int64(len(c.Events))
		}
		bar.Add(len(cs))
	}
	bar.Finish()
	for _, in := range ins {
		if err := in.flush(); err != nil {
			return meta, err
		}
	}
	if err := tx.Commit(); err != nil {
		return meta, err
	}
	logf("sqlite: creating indexes")
	if _, err := db.Exec(sqliteIndexes); err != nil {
		return meta, err
	}
	if _, err := db.Exec("PRAGMA journal_mode=WAL"); err != nil {
		return meta, err
	}
	if err := db.Close(); err != nil {
		return meta, err
	}
	if err := syncFile(path); err != nil {
		return meta, err
	}
	meta.Seconds = time.Since(start).Seconds()
	meta.Built = time.Now().UTC()
	return meta, nil
}

// rowInserter batches rows into multi-row INSERT statements.
type rowInserter struct {
	tx    *sql.Tx
	table string
	cols  int
	args  []any
	stmt  *sql.Stmt
}

const insertRows = 500

func (r *rowInserter) add(vals ...any) error {
	r.args = append(r.args, vals...)
	if len(r.args) < insertRows*r.cols {
		return nil
	}
	if r.stmt == nil {
		var err error
		if r.stmt, err = r.tx.Prepare(r.insert(insertRows)); err != nil {
			return err
		}
	}
	_, err := r.stmt.Exec(r.args...)
	r.args = r.args[:0]
	return err
}

func (r *rowInserter) insert(rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", r.cols), ",") + ")"
	return "INSERT INTO " + r.table + " VALUES " + strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
}

func (r *rowInserter) flush() error {
	if len(r.args) == 0 {
		return nil
	}
	_, err := r.tx.Exec(r.insert(len(r.args)/r.cols), r.args...)
	r.args = r.args[:0]
	return err
}

// SQLitePath is the cached database of the data set.
func (d *Dataset) SQLitePath() string {
	return filepath.Join(DataDir(), "sqlite-"+d.Key()+".db")
}

// OpenSQLiteCached opens the cached database of the data set, building it
// first when it is missing or was left dirty.
func (d *Dataset) OpenSQLiteCached() (*SQLite, error) {
	path := d.SQLitePath()
	if _, err := os.Stat(path); err != nil || isDirty(path) {
		tmp := path + ".building"
		meta, err := d.LoadSQLite(tmp)
		if err != nil {
			return nil, err
		}
		if err := writeMeta(path, meta); err != nil {
			return nil, err
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			os.Remove(path + suffix)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
		os.Remove(dirtyPath(path))
	}
	return OpenSQLite(path)
}

// Name implements System.
func (*SQLite) Name() string { return "sqlite" }

// Count implements System.
func (s *SQLite) Count(q Q) (uint64, error) {
	var args []any
	var n uint64
	err := s.DB.QueryRow("SELECT count(*) FROM ("+sqliteSet(q, &args)+")", args...).Scan(&n)
	return n, err
}

// CountMRR implements System.
func (s *SQLite) CountMRR(q Q) (uint64, int64, error) {
	var args []any
	var n uint64
	var mrr int64
	err := s.DB.QueryRow("SELECT count(*), coalesce(sum(mrr), 0) FROM customers WHERE id IN ("+sqliteSet(q, &args)+")", args...).Scan(&n, &mrr)
	return n, mrr, err
}

// seriesSQL is the movements query shared by the SQL peers, with
// %[1]s the segment CTE body, %[2]s the month expression over at (unix
// seconds) and %[3]s the placeholder for the end of the range.
const seriesSQL = `
WITH seg(id) AS (%[1]s),
ev AS (
  SELECT e.at, e.cents,
    coalesce(lag(e.cents) OVER w, 0) AS prev,
    coalesce(max(e.cents) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS paid
  FROM seg JOIN mrr_events e ON e.customer_id = seg.id
  WHERE e.at < %[3]s
  WINDOW w AS (PARTITION BY e.customer_id ORDER BY e.at)
)
SELECT %[2]s AS m,
  CAST(sum(CASE WHEN prev = 0 AND cents > 0 AND paid = 0 THEN cents ELSE 0 END) AS bigint),
  CAST(sum(CASE WHEN prev > 0 AND cents > prev THEN cents - prev ELSE 0 END) AS bigint),
  CAST(sum(CASE WHEN cents > 0 AND cents < prev THEN cents - prev ELSE 0 END) AS bigint),
  CAST(sum(CASE WHEN prev > 0 AND cents = 0 THEN -prev ELSE 0 END) AS bigint),
  CAST(sum(CASE WHEN prev = 0 AND cents > 0 AND paid > 0 THEN cents ELSE 0 END) AS bigint),
  CAST(sum(CASE WHEN prev = 0 AND cents > 0 THEN 1 WHEN prev > 0 AND cents = 0 THEN -1 ELSE 0 END) AS bigint)
FROM ev GROUP BY m`

func scanMovements(rows *sql.Rows) ([]movement, error) {
	defer rows.Close()
	var out []movement
	for rows.Next() {
		var m movement
		if err := rows.Scan(&m.month, &m.nb, &m.exp, &m.contr, &m.churn, &m.react, &m.dpaying); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Series implements System.
func (s *SQLite) Series(q Q, from, to time.Time) ([]Point, error) {
	var args []any
	seg := sqliteSet(q, &args)
	args = append(args, months(from, to)[len(months(from, to))-1].Unix())
	month := "CAST(strftime('%Y', at, 'unixepoch') AS INTEGER)*12 + CAST(strftime('%m', at, 'unixepoch') AS INTEGER) - 1"
	rows, err := s.DB.Query(fmt.Sprintf(seriesSQL, seg, month, "?"), args...)
	if err != nil {
		return nil, err
	}
	mv, err := scanMovements(rows)
	if err != nil {
		return nil, err
	}
	return fold(mv, from, to), nil
}

// TagStats implements System.
func (s *SQLite) TagStats(q Q, limit int, byCount bool) ([]TagStat, error) {
	var args []any
	seg := sqliteSet(q, &args)
	args = append(args, limit)
	order := "3 DESC, 2 DESC"
	if byCount {
		order = "2 DESC, 3 DESC"
	}
	rows, err := s.DB.Query(`WITH seg(id) AS (`+seg+`)
SELECT t.name, count(*), sum(c.mrr) FROM seg
  JOIN customers c ON c.id = seg.id
  JOIN customer_tags ct ON ct.customer_id = seg.id
  JOIN tags t ON t.id = ct.tag_id
GROUP BY ct.tag_id ORDER BY `+order+`, 1 LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TagStat
	for rows.Next() {
		var t TagStat
		if err := rows.Scan(&t.Tag, &t.Customers, &t.MRR); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// AddTag implements Writer: one durable transaction that creates the tag
// when it is new and inserts the pair.
func (s *SQLite) AddTag(t Target, tag string) error {
	tx, err := s.DB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec("INSERT OR IGNORE INTO tags(name) VALUES (?)", tag); err != nil {
		return err
	}
	if _, err := tx.Exec("INSERT INTO customer_tags(customer_id, tag_id) SELECT ?, id FROM tags WHERE name = ?", t.ID, tag); err != nil {
		return err
	}
	return tx.Commit()
}

// RemoveTag implements Writer.
func (s *SQLite) RemoveTag(ts []Target, tag string) error {
	tx, err := s.DB.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range ts {
		if _, err := tx.Exec("DELETE FROM customer_tags WHERE customer_id = ? AND tag_id = (SELECT id FROM tags WHERE name = ?)", t.ID, tag); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Close implements System.
func (s *SQLite) Close() error { return s.DB.Close() }
