#!/usr/bin/env bash
# A private PostgreSQL 15 server for the benchmarks' PostgreSQL peer.
#
#   bench/pg.sh start   install postgresql-15 if missing, initdb into
#                       $TAGSEG_BENCH_DATA/pg (bench/data/pg), start it on
#                       127.0.0.1:$TAGSEG_BENCH_PG_PORT (55432), print the DSN
#   bench/pg.sh stop    stop it
#   bench/pg.sh dsn     print the DSN
#
# The server runs as the postgres user when started by root (initdb refuses
# root). Settings are in bench.conf in the data directory, rewritten at each
# start: see pg_settings below.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=${TAGSEG_BENCH_DATA:-$here/data}
pgdata=$data/pg
port=${TAGSEG_BENCH_PG_PORT:-55432}
dsn="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"

pgbin() {
	for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		if [ -x "$d/postgres" ]; then echo "$d"; return; fi
	done
}

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		su postgres -s /bin/sh -c "$*"
	else
		sh -c "$*"
	fi
}

# Server settings: memory for a 24 GB, 2-core machine, durable commits
# (fsync and synchronous_commit stay on), minimal WAL for bulk loads, no JIT.
pg_settings() {
	cat <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
shared_buffers = 4GB
effective_cache_size = 16GB
work_mem = 256MB
maintenance_work_mem = 2GB
max_parallel_workers_per_gather = 2
random_page_cost = 1.1
wal_level = minimal
max_wal_senders = 0
max_wal_size = 8GB
checkpoint_timeout = 30min
jit = off
fsync = on
synchronous_commit = on
logging_collector = off
EOF
}

start() {
	local bin
	bin=$(pgbin)
	if [ -z "$bin" ]; then
		echo "pg.sh: installing postgresql-15" >&2
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >&2
		bin=$(pgbin)
	fi
	mkdir -p "$data"
	if [ ! -f "$pgdata/PG_VERSION" ]; then
		mkdir -p "$pgdata"
		[ "$(id -u)" = 0 ] && chown postgres: "$pgdata"
		as_pg "'$bin/initdb' -D '$pgdata' -U postgres -A trust -E UTF8 --locale=C" >&2
		echo "include 'bench.conf'" >>"$pgdata/postgresql.conf"
	fi
	pg_settings >"$pgdata/bench.conf"
	[ "$(id -u)" = 0 ] && chown postgres: "$pgdata/bench.conf"
	if ! as_pg "'$bin/pg_ctl' -D '$pgdata' status" >/dev/null 2>&1; then
		as_pg "'$bin/pg_ctl' -D '$pgdata' -l '$pgdata/server.log' -w -t 120 start" >&2
	fi
	echo "$dsn"
}

stop() {
	local bin
	bin=$(pgbin)
	if [ -n "$bin" ] && [ -f "$pgdata/PG_VERSION" ]; then
		as_pg "'$bin/pg_ctl' -D '$pgdata' -m fast -w stop" >&2 || true
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
dsn) echo "$dsn" ;;
*) echo "usage: $0 start|stop|dsn" >&2; exit 2 ;;
esac
