#!/usr/bin/env bash
# Deposit throughput of the vault against PostgreSQL's own bulk load, side by
# side on the same PostgreSQL (fiduciad's embedded cluster, default settings):
#   (a) psql \copy of the CSV into a plaintext table (the baseline),
#   (b) fiducia deposit of the same file into a dataset (parsed, validated,
#       pseudonymised, columnar-encoded, sealed, ledgered).
# Rounds alternate between the two. Also reported: stored bytes (plaintext
# table vs the dataset's sealed chunks) and fiduciad's peak RSS after 1/10 of
# the file and after all of it (bounded by the batch size, not the file).
# Medians and ratios go to bench/RESULTS.md (only this benchmark's section;
# see bench/lib.sh).
# usage: bench/deposit.sh [ROWS=10000000] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROWS=${1:-10000000} ROUNDS=${2:-3}
BUILD=${FIDUCIA_BUILD:-build}
[ -x "$BUILD/fiduciad" ] && [ -x "$BUILD/bench_gen_probes" ] || ./deploy/build.sh "$BUILD"

TMP=$(mktemp -d /tmp/fiducia-bench.XXXXXX); chmod 711 "$TMP"
PID=""
cleanup() { [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$TMP"; }
trap cleanup EXIT

echo "generating $ROWS rows..."
"$BUILD/bench_gen_probes" "$ROWS" 1 >"$TMP/probes.csv"
"$BUILD/bench_gen_probes" $((ROWS / 10)) 2 >"$TMP/tenth.csv"
SIZE=$(stat -c %s "$TMP/probes.csv")
PORT=18903
"$BUILD/fiduciad" --data-dir "$TMP/data" --listen "127.0.0.1:$PORT" --set log_level=warn \
	>"$TMP/fiduciad.log" 2>&1 & PID=$!
for i in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "bench: fiduciad did not start"; cat "$TMP/fiduciad.log"; exit 1; }
PGURL="host=$TMP/data/pg/run dbname=fiducia user=fiducia"
OP=$("$BUILD/fiducia" token mint --data-dir "$TMP/data" --org operator --role operator --ttl 2h)
export FIDUCIA_URL="http://127.0.0.1:$PORT"
FIDUCIA_TOKEN=$OP "$BUILD/fiducia" org create bench-holder --kind HOLDER >/dev/null
export FIDUCIA_TOKEN=$("$BUILD/fiducia" token mint --data-dir "$TMP/data" --org bench-holder --role holder --ttl 2h)
hwm() { awk '/VmHWM/ {print $2}' "/proc/$PID/status"; }
new_dataset() { jq ".name = \"$1\"" tests/e2e/data/probe-speeds.json >"$TMP/s.json"; "$BUILD/fiducia" --json dataset create --schema "$TMP/s.json" | jq -r .id; }

# Peak RSS: a tenth of the file first, then all of it.
DS=$(new_dataset rss)
"$BUILD/fiducia" deposit "$DS" "$TMP/tenth.csv" >/dev/null
RSS_TENTH=$(hwm)

declare -a COPY FID
STORED=""
for round in $(seq 1 "$ROUNDS"); do
	psql "$PGURL" -qc "SET client_min_messages = warning; DROP TABLE IF EXISTS plain; CREATE TABLE plain (driver_id text, pub_time bigint, district text, road_type bigint, speed_kmh float8, delay_s bigint)"
	psql "$PGURL" -qc "CHECKPOINT"
	t0=$(date +%s.%N)
	psql "$PGURL" -qc "\\copy plain FROM '$TMP/probes.csv' WITH (FORMAT csv, HEADER true)"
	t1=$(date +%s.%N)
	COPY+=("$(awk -v n="$ROWS" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')")
	DS=$(new_dataset "round-$round")
	psql "$PGURL" -qc "CHECKPOINT"
	t0=$(date +%s.%N)
	"$BUILD/fiducia" deposit "$DS" "$TMP/probes.csv" >"$TMP/dep.out"
	t1=$(date +%s.%N)
	FID+=("$(awk -v n="$ROWS" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')")
	echo "round $round: psql \\copy ${COPY[-1]} rows/s, fiducia deposit ${FID[-1]} rows/s"
	STORED=$(psql "$PGURL" -tAc "select sum(pg_column_size(k.sealed)) + (select pg_total_relation_size('chunks') + pg_total_relation_size('batches')) / $round from chunk_columns k join chunks c on c.id = k.chunk where c.dataset = '$DS'")
done
RSS_ALL=$(hwm)
PLAIN=$(psql "$PGURL" -tAc "select pg_total_relation_size('plain')")
MC=$(median "${COPY[@]}"); MF=$(median "${FID[@]}")
RATIO=$(awk -v a="$MF" -v b="$MC" 'BEGIN {printf "%.2f", a / b}')
SRATIO=$(awk -v a="$STORED" -v b="$PLAIN" 'BEGIN {printf "%.2f", a / b}')
mb() { awk -v b="$1" 'BEGIN {printf "%.0f MB", b / 1e6}'; }
{
	echo "## Deposit throughput: fiducia deposit vs. psql \\copy (issue 3)"
	echo
	echo "- machine: $(machine)"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- command: \`bench/deposit.sh $ROWS $ROUNDS\`: $ROWS rows of the vault issue's probe-speeds schema ($(mb "$SIZE") of CSV, \`bench_gen_probes\`), $ROUNDS alternating rounds on fiduciad's embedded PostgreSQL 15 (default settings, fsync on); the CLI, fiduciad and PostgreSQL share the machine"
	echo "- fiducia deposit: default batch size (65536 rows), 3 parallel requests, 2 worker threads; every value validated, subjects pseudonymised (keyed BLAKE2b), columns sealed (XChaCha20-Poly1305), one ledger entry per batch"
	echo
	echo "| load | rows/s per round | median | vs. baseline | goal |"
	echo "|---|---|---|---|---|"
	echo "| baseline: \`psql \\copy\` into a plaintext table | ${COPY[*]} | $MC | 1.00× | |"
	echo "| \`fiducia deposit\` into an encrypted dataset | ${FID[*]} | $MF | ${RATIO}× | ≥ 2× |"
	echo
	echo "| stored | bytes | vs. plaintext |"
	echo "|---|---|---|"
	echo "| plaintext table (\`pg_total_relation_size\`) | $(mb "$PLAIN") | 1.00 |"
	echo "| the dataset: sealed columns + chunk and receipt rows | $(mb "$STORED") | $SRATIO (goal ≤ 1) |"
	echo
	echo "Peak RSS of fiduciad (VmHWM): $((RSS_TENTH / 1024)) MiB after depositing $((ROWS / 10)) rows, $((RSS_ALL / 1024)) MiB after $ROUNDS more deposits of $ROWS rows: bounded by the batch size and the worker count, not by the file."
	echo
	summary_line "deposit: rows/s" "$MF rows/s" "$MC rows/s" "${RATIO}×" "≥ 2×" "$(meets "$(awk -v a="$MF" -v b="$MC" 'BEGIN {print a / b}')" ge 2)"
	summary_line "deposit: stored bytes" "$(mb "$STORED")" "$(mb "$PLAIN")" "$SRATIO" "≤ 1" "$(meets "$STORED" le "$PLAIN")"
} >"$TMP/section.md"
results_replace deposit "$TMP/section.md"
cat "$TMP/section.md"
