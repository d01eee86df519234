#!/usr/bin/env bash
# Durable ledger appends per second (issue 6), side by side on the same
# PostgreSQL (fiduciad's embedded cluster, default settings, fsync on):
#   (a) baseline: single-row INSERT + COMMIT transactions, 32 pgbench clients;
#   (b) fiduciad: 32 wrk connections driving a cheap ledgered action over
#       HTTP (POST /v1/datasets/{ds}/keys/rotate: one key row and one ledger
#       entry, committed together before the answer).
# Rounds alternate; medians and the ratio go to bench/RESULTS.md.
# usage: bench/ledger.sh [ROUNDS=3] [SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROUNDS=${1:-3} SECS=${2:-10}
BUILD=${FIDUCIA_BUILD:-build}
[ -x "$BUILD/fiduciad" ] || ./deploy/build.sh "$BUILD"
bindir=$(pg_config --bindir 2>/dev/null || true); [ -x "$bindir/pgbench" ] || bindir=/usr/lib/postgresql/15/bin
TMP=$(mktemp -d /tmp/fiducia-bench.XXXXXX); chmod 711 "$TMP"
PID=""
cleanup() { [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$TMP"; }
trap cleanup EXIT
PORT=18905
"$BUILD/fiduciad" --data-dir "$TMP/data" --listen "127.0.0.1:$PORT" --set log_level=warn \
	--set db_pool_size=32 >"$TMP/fiduciad.log" 2>&1 & PID=$!
for i in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
export FIDUCIA_URL="http://127.0.0.1:$PORT"
FIDUCIA_TOKEN=$("$BUILD/fiducia" token mint --data-dir "$TMP/data" --org operator --role operator --ttl 2h) \
	"$BUILD/fiducia" org create bench-holder --kind HOLDER >/dev/null
TOKEN=$("$BUILD/fiducia" token mint --data-dir "$TMP/data" --org bench-holder --role holder --ttl 2h)
export FIDUCIA_TOKEN=$TOKEN
DS=$(jq '.name = "ledger-bench"' tests/e2e/data/probe-speeds.json | "$BUILD/fiducia" --json dataset create --schema /dev/stdin | jq -r .id)
PGURL="host=$TMP/data/pg/run dbname=fiducia user=fiducia"
psql "$PGURL" -qc "CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), payload bytea)"
echo "INSERT INTO bench_baseline (payload) VALUES ('\\x0123456789abcdef0123456789abcdef');" >"$TMP/insert.sql"
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Length"] = "0"
LUA
declare -a B F
for round in $(seq 1 "$ROUNDS"); do
	B+=("$(as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups -- "$@"; else "$@"; fi; }
		as_pg "$bindir/pgbench" -n -c 32 -j 2 -T "$SECS" -f "$TMP/insert.sql" "$PGURL" 2>/dev/null |
		awk '/^tps/ {printf "%.0f", $3; exit}')")
	F+=("$(wrk -t2 -c32 -d"${SECS}s" -s "$TMP/post.lua" "$FIDUCIA_URL/v1/datasets/$DS/keys/rotate" |
		awk '/Requests\/sec/ {printf "%.0f", $2}')")
	echo "round $round: INSERT+COMMIT ${B[-1]} tx/s, ledgered HTTP action ${F[-1]} appends/s"
done
ENTRIES=$(psql "$PGURL" -tAc "select count(*) from ledger_entries where action = 'KEY_ROTATED'")
ERR=$(grep -c '"status":5' "$TMP/fiduciad.log" || true)
MB=$(median "${B[@]}"); MF=$(median "${F[@]}")
RATIO=$(awk -v a="$MF" -v b="$MB" 'BEGIN {printf "%.2f", a / b}')
CPU=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
{
	echo "## Durable ledger appends per second (issue 6)"
	echo
	echo "- machine: $(nproc) cores, $CPU, $(free -g | awk '/Mem:/ {print $2 " GiB"}'), $(uname -sr), Debian $(cat /etc/debian_version)"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- command: \`bench/ledger.sh $ROUNDS $SECS\`: fiduciad's embedded PostgreSQL 15 (default settings, fsync on), $ROUNDS alternating rounds of ${SECS} s, 32 clients each; fiduciad with db_pool_size=32"
	echo "- ledgered action: \`POST /v1/datasets/{ds}/keys/rotate\` (a key row and a KEY_ROTATED entry in one transaction, committed before the answer); $ENTRIES entries appended in all, log lines with a 5xx: $ERR"
	echo
	echo "| load | per second, per round | median | vs. baseline | goal |"
	echo "|---|---|---|---|---|"
	echo "| baseline: single-row INSERT + COMMIT (pgbench, 32 clients) | ${B[*]} | $MB | 1.00× | |"
	echo "| ledger appends through fiduciad (wrk, 32 connections) | ${F[*]} | $MF | ${RATIO}× | ≥ 10,000/s |"
	echo
	echo "Every append holds the \`ledger_head\` row lock from its read of the frontier to its"
	echo "transaction's commit (and this action also locks its dataset's row), so appends are"
	echo "serialised one fsync'd commit at a time, where independent INSERTs share commits. The"
	echo "goal needs group commit (one transaction appending many entries), which is not built"
	echo "yet. Inclusion-proof latency at a million entries is not measured yet."
} >"$TMP/section.md"
results_replace ledger "$TMP/section.md"
cat "$TMP/section.md"
