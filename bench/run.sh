#!/usr/bin/env bash
# Runs every benchmark of bench/ at full size, with progress, and writes
# bench/RESULTS.md and bench/results.png.
#
#   bash bench/run.sh                        # N=1M, all peers
#   TAGSEG_BENCH_N=10M TAGSEG_BENCH_PEERS=maps bash bench/run.sh
#
# Environment (all optional):
#   TAGSEG_BENCH_N        sizes, comma-separated (default 1000000)
#   TAGSEG_BENCH_PEERS    peers: roaring,maps,sqlite,postgres (default) or none
#   TAGSEG_BENCH_IMPORT   import modes (default tagseg-durable,tagseg-nosync and the peers)
#   TAGSEG_BENCH_TIME     -benchtime per benchmark (default 3s)
#   TAGSEG_BENCH_SEED     data set seed (default 1)
#   TAGSEG_BENCH_PROFILE  1 (default) to take CPU profiles of tagseg's
#                         queries, writes and import after the run
#   TAGSEG_BENCH_EXTRA    more benchmark output files to include in the report
#                         (comma-separated), e.g. an earlier run at another size
#
# Built indexes and databases are cached in bench/data/ (gitignored), keyed
# by N and seed; PostgreSQL runs from bench/data/pg on 127.0.0.1:55432 and
# is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
export TAGSEG_BENCH_N=${TAGSEG_BENCH_N:-1000000}
export TAGSEG_BENCH_PEERS=${TAGSEG_BENCH_PEERS:-roaring,maps,sqlite,postgres}
benchtime=${TAGSEG_BENCH_TIME:-3s}
profile=${TAGSEG_BENCH_PROFILE:-1}
tag=$(echo "$TAGSEG_BENCH_N" | tr ',' '+')
out=data/bench-$tag.txt
started=$(date +%s)
mkdir -p data
# Other processes on the machine compete for its cores: sample the load.
load=data/loadavg-$tag.txt
: >"$load"
(while sleep 5; do cut -d' ' -f1 /proc/loadavg >>"$load"; done) &
sampler=$!
cleanup() {
	kill "$sampler" 2>/dev/null || true
	[ -n "${TAGSEG_BENCH_PG_DSN:-}" ] && bash pg.sh stop
	true
}
trap cleanup EXIT

cmdline="TAGSEG_BENCH_N=$TAGSEG_BENCH_N TAGSEG_BENCH_PEERS=$TAGSEG_BENCH_PEERS"
[ -n "${TAGSEG_BENCH_IMPORT:-}" ] && cmdline+=" TAGSEG_BENCH_IMPORT=$TAGSEG_BENCH_IMPORT"
[ -n "${TAGSEG_BENCH_TIME:-}" ] && cmdline+=" TAGSEG_BENCH_TIME=$TAGSEG_BENCH_TIME"
cmdline+=" bash bench/run.sh"

step=0
steps=5
say() {
	step=$((step + 1))
	printf '\n\033[1m[%d/%d %4ds] %s\033[0m\n' "$step" "$steps" $(($(date +%s) - started)) "$*" >&2
}

say "PostgreSQL"
if [[ ",$TAGSEG_BENCH_PEERS,${TAGSEG_BENCH_IMPORT:-}," == *",postgres,"* ]]; then
	TAGSEG_BENCH_PG_DSN=$(bash pg.sh start)
	export TAGSEG_BENCH_PG_DSN
	echo "started: $TAGSEG_BENCH_PG_DSN" >&2
else
	unset TAGSEG_BENCH_PG_DSN
	echo "not needed" >&2
fi

say "build the benchmark binary"
go test -c -o data/bench.test .

say "benchmarks (N=$TAGSEG_BENCH_N, benchtime $benchtime): output in bench/$out"
# stdout (results) goes to the file and the terminal; stderr (progress bars) to the terminal.
./data/bench.test -test.run '^$' -test.bench . -test.benchtime "$benchtime" -test.timeout 0 | tee "$out"
grep -q '^PASS' "$out" || { echo "benchmarks failed" >&2; exit 1; }

say "CPU profiles of tagseg"
rm -f data/profile-*.txt data/profrun-*.txt data/cpu-*.prof
if [ "$profile" = 1 ]; then
	big=${TAGSEG_BENCH_N##*,}
	for q in mix5-dense count-mrr series-36m tagstats-1000; do
		TAGSEG_BENCH_N=$big TAGSEG_BENCH_PEERS=none ./data/bench.test -test.run '^$' \
			-test.bench "Query/n=[0-9]+/q=$q/sys=tagseg\$" \
			-test.benchtime "$benchtime" -test.cpuprofile "data/cpu-$q.prof" >"data/profrun-$q.txt"
		focus='Index\)\.Segment'
		case $q in series-36m) focus='Index\)\.Series' ;; tagstats-1000) focus='Index\)\.TagStats' ;; esac
		go tool pprof -top -cum -nodecount=30 -focus="$focus" data/bench.test "data/cpu-$q.prof" >"data/profile-$q.txt" 2>/dev/null
	done
	TAGSEG_BENCH_N=$big TAGSEG_BENCH_PEERS=none ./data/bench.test -test.run '^$' \
		-test.bench "AddTag/n=[0-9]+/tag=newsletter/sys=tagseg\$" \
		-test.benchtime "$benchtime" -test.cpuprofile data/cpu-addtag.prof >data/profrun-addtag.txt
	go tool pprof -top -cum -nodecount=30 -focus='Index\)\.AddTags' data/bench.test data/cpu-addtag.prof >data/profile-addtag.txt 2>/dev/null
	# Profile the import at 200k to keep it short (the per-customer cost grows
	# with N: compare the import table).
	TAGSEG_BENCH_N=200000 TAGSEG_BENCH_PEERS=none TAGSEG_BENCH_IMPORT=tagseg-durable ./data/bench.test -test.run '^$' \
		-test.bench "Import" -test.benchtime 1x -test.cpuprofile data/cpu-import.prof >data/profrun-import.txt
	go tool pprof -top -cum -nodecount=40 -focus='Index\)\.update' data/bench.test data/cpu-import.prof >data/profile-import.txt 2>/dev/null
else
	echo "skipped (TAGSEG_BENCH_PROFILE=$profile)" >&2
fi

say "report: bench/RESULTS.md, bench/results.png"
in=$out
[ -n "${TAGSEG_BENCH_EXTRA:-}" ] && in="${TAGSEG_BENCH_EXTRA},$out"
notes=()
[ -f analysis.md ] && notes=(-notes analysis.md)
go run ./cmd/report -in "$in" -md RESULTS.md -png results.png -cmd "$cmdline" -load "$load" "${notes[@]}" -profiles 'data/profile-*.txt'
echo "done in $(($(date +%s) - started)) s" >&2
