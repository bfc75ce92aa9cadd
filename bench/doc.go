// Package bench measures tagseg at realistic sizes and side by side with
// the alternatives a developer would pick instead: plain Go maps and
// slices, SQLite (modernc.org/sqlite) and PostgreSQL 15 with a GIN index.
//
// The data comes from internal/gen (DefaultConfig with the seed of
// $TAGSEG_BENCH_SEED, 1 by default): N customers with 16 tags each on
// average over min(100k, N/10) Zipf-distributed tags, 36 months of MRR
// events. The sizes are $TAGSEG_BENCH_N (100000 by default; a list such
// as "100000,1M" runs each). Every system gets the same data and the same
// queries (Queries), and each peer's answers are checked equal to
// tagseg's before any of its timings are taken.
//
// Built indexes and databases are cached under data/ (or
// $TAGSEG_BENCH_DATA), keyed by N and seed; the PostgreSQL peer runs only
// when $TAGSEG_BENCH_PG_DSN is set (pg.sh starts a private server).
// run.sh runs everything and writes RESULTS.md and results.png.
package bench
