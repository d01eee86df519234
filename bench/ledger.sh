#!/usr/bin/env bash
# The ledger's benchmarks (issue 6), on fiduciad's embedded PostgreSQL
# (default settings, fsync on):
# 1. Durable appends per second, side by side on the same PostgreSQL:
#    (a) baseline: single-row INSERT + COMMIT transactions, 32 pgbench clients;
#    (b) fiduciad: 32 wrk connections creating organisations over HTTP (POST
#        /v1/orgs, each with a unique name: one org row and one ORG_CREATED
#        entry committed together, answered once the entry is in the log).
#    Rounds alternate; medians and the ratio.
# 2. Inclusion-proof latency at a million entries: the log is filled to
#    1,000,000 entries (real entries with valid MACs, COPYed into
#    ledger_pending and placed by fiduciad's sequencer, whose rate is
#    reported too), then one wrk connection asks for inclusion proofs of
#    random leaves, and consistency proofs from random sizes, for SECONDS.
# Figures go to bench/RESULTS.md (this section only).
# usage: bench/ledger.sh [ROUNDS=3] [SECONDS=10] [ENTRIES=1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROUNDS=${1:-3} SECS=${2:-10} FILL=${3:-1000000}
BUILD=${FIDUCIA_BUILD:-build}
[ -x "$BUILD/fiduciad" ] && [ -x "$BUILD/bench_ledger_fill" ] || ./deploy/build.sh "$BUILD"
bindir=$(pg_config --bindir 2>/dev/null || true); [ -x "$bindir/pgbench" ] || bindir=/usr/lib/postgresql/15/bin
TMP=$(mktemp -d /tmp/fiducia-bench.XXXXXX); chmod 711 "$TMP"
PID=""
cleanup() { [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$TMP"; }
trap cleanup EXIT
PORT=18905
"$BUILD/fiduciad" --data-dir "$TMP/data" --listen "127.0.0.1:$PORT" --set log_level=warn \
	--set db_pool_size=${POOL:-32} >"$TMP/fiduciad.log" 2>&1 & PID=$!
for i in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "bench: fiduciad did not start"; cat "$TMP/fiduciad.log"; exit 1; }
export FIDUCIA_URL="http://127.0.0.1:$PORT"
OP=$("$BUILD/fiducia" token mint --data-dir "$TMP/data" --org operator --role operator --ttl 2h)
PGURL="host=$TMP/data/pg/run dbname=fiducia user=fiducia"
psql "$PGURL" -qc "CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), payload bytea)"
echo "INSERT INTO bench_baseline (payload) VALUES ('\\x0123456789abcdef0123456789abcdef');" >"$TMP/insert.sql"
# Unique names: the round, wrk's thread and a counter.
post_lua() {
	cat <<LUA
local n = 0
local id = 0
function setup(thread) id = id + 1; thread:set("tid", id) end
function request()
	n = n + 1
	return wrk.format("POST", "/v1/orgs", {["Authorization"] = "Bearer $OP",
		["Content-Type"] = "application/json"},
		string.format('{"name":"r$1-t%d-%d","kind":"HOLDER"}', tid, n))
end
LUA
}
declare -a B F P
for round in $(seq 1 "$ROUNDS"); do
	B+=("$(as_pg() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid="$(id -g postgres)" --init-groups -- "$@"; else "$@"; fi; }
		as_pg "$bindir/pgbench" -n -c 32 -j 2 -T "$SECS" -f "$TMP/insert.sql" "$PGURL" 2>/dev/null |
		awk '/^tps/ {printf "%.0f", $3; exit}')")
	post_lua "$round" >"$TMP/post.lua"
	F+=("$(wrk -t2 -c32 -d"${SECS}s" -s "$TMP/post.lua" "$FIDUCIA_URL" |
		awk '/Requests\/sec/ {printf "%.0f", $2}')")
	P+=("$(psql "$PGURL" -tAc "select count(*) from ledger_pending")")
	echo "round $round: INSERT+COMMIT ${B[-1]} tx/s, ledgered HTTP action ${F[-1]} appends/s, ${P[-1]} pending at the end"
done
until [ "$(psql "$PGURL" -tAc "select count(*) from ledger_pending")" = 0 ]; do sleep 0.2; done
ENTRIES=$(psql "$PGURL" -tAc "select count(*) from ledger_entries where action = 'ORG_CREATED'")
ORGS=$(psql "$PGURL" -tAc "select count(*) from orgs where name like 'r%-t%'")
ERR=$(grep -c '"status":5' "$TMP/fiduciad.log" || true)
MB=$(median "${B[@]}"); MF=$(median "${F[@]}")
RATIO=$(awk -v a="$MF" -v b="$MB" 'BEGIN {printf "%.2f", a / b}')

# 2. Proofs at a million entries.
HAVE=$(psql "$PGURL" -tAc "select size from ledger_head")
ADD=$((FILL > HAVE ? FILL - HAVE : 0))
echo "filling the log from $HAVE to $((HAVE + ADD)) entries..."
T0=$(date +%s.%N)
[ "$ADD" = 0 ] || "$BUILD/bench_ledger_fill" "$PGURL" "$TMP/data/keys/ledger-ed25519.key" "$ADD"
T1=$(date +%s.%N)
until [ "$(psql "$PGURL" -tAc "select count(*) from ledger_pending")" = 0 ]; do sleep 0.5; done
T2=$(date +%s.%N)
SIZE=$(psql "$PGURL" -tAc "select size from ledger_head")
SEQ_RATE=$(awk -v n="$ADD" -v a="$T1" -v b="$T2" 'BEGIN {printf "%.0f", n / (b - a)}')
curl -sf "$FIDUCIA_URL/v1/ledger/checkpoint?size=$SIZE" >/dev/null
proof_lua() {
	cat <<LUA
math.randomseed(42)
function request()
	local path
	if "$1" == "inclusion" then
		path = string.format("/v1/ledger/proof/inclusion?index=%d&size=$SIZE", math.random(0, $SIZE - 1))
	else
		path = string.format("/v1/ledger/proof/consistency?first=%d&second=$SIZE", math.random(1, $SIZE - 1))
	end
	return wrk.format("GET", path, {["Authorization"] = "Bearer $OP"})
end
LUA
}
declare -A LAT50 LAT99 RPS
for kind in inclusion consistency; do
	proof_lua "$kind" >"$TMP/$kind.lua"
	wrk -t1 -c1 -d"${SECS}s" --latency -s "$TMP/$kind.lua" "$FIDUCIA_URL" >"$TMP/$kind.out"
	LAT50[$kind]=$(awk '$1 == "50%" {print $2}' "$TMP/$kind.out")
	LAT99[$kind]=$(awk '$1 == "99%" {print $2}' "$TMP/$kind.out")
	RPS[$kind]=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$TMP/$kind.out")
	echo "$kind proofs at $SIZE: median ${LAT50[$kind]}, p99 ${LAT99[$kind]}, ${RPS[$kind]}/s"
done
NON2XX=$(cat "$TMP"/inclusion.out "$TMP"/consistency.out | awk '/Non-2xx/ {s += $NF} END {print s + 0}')
# wrk's latency (e.g. 182.00us, 1.65ms) in milliseconds
ms() { awk -v l="$1" 'BEGIN { v = l + 0; u = l; sub(/^[0-9.]+/, "", u)
	print (u == "us" ? v / 1000 : u == "ms" ? v : u == "s" ? v * 1000 : u == "m" ? v * 60000 : -1) }'; }
{
	echo "## Durable ledger appends per second (issue 6)"
	echo
	echo "- machine: $(machine)"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- command: \`bench/ledger.sh $ROUNDS $SECS $FILL\`: fiduciad's embedded PostgreSQL 15 (default settings, fsync on), $ROUNDS alternating rounds of ${SECS} s, 32 clients each; fiduciad with db_pool_size=${POOL:-32}"
	echo "- ledgered action: \`POST /v1/orgs\` with a unique name per request (one statement: the org row and its ORG_CREATED entry, in \`ledger_pending\`, committed together before the answer; the sequencer places entries in the tree in batches, within milliseconds); $ENTRIES entries placed for $ORGS organisations, log lines with a 5xx: $ERR; entries still pending (committed, not yet placed) when each round ended: ${P[*]}"
	echo
	echo "| load | per second, per round | median | vs. baseline | goal |"
	echo "|---|---|---|---|---|"
	echo "| baseline: single-row INSERT + COMMIT (pgbench, 32 clients) | ${B[*]} | $MB | 1.00× | |"
	echo "| ledgered creates through fiduciad (wrk, 32 connections) | ${F[*]} | $MF | ${RATIO}× | ≥ 10,000/s |"
	echo
	echo "Proofs at $SIZE entries: the log filled by \`bench_ledger_fill\` ($ADD entries COPYed into \`ledger_pending\`, placed by the sequencer at $SEQ_RATE entries/s), then \`wrk -t1 -c1 -d${SECS}s --latency\`, random leaves and sizes, over HTTP on loopback (non-2xx: $NON2XX):"
	echo
	echo "| proof | median latency | p99 | requests/s (one connection) | goal |"
	echo "|---|---|---|---|---|"
	echo "| inclusion, random leaf of $SIZE | ${LAT50[inclusion]} | ${LAT99[inclusion]} | ${RPS[inclusion]} | < 1 ms |"
	echo "| consistency, random size to $SIZE | ${LAT50[consistency]} | ${LAT99[consistency]} | ${RPS[consistency]} | |"
	echo
	summary_line "ledger: durable appends/s, 32 clients" "$MF/s" "$MB/s" "${RATIO}×" "≥ 10,000/s" "$(meets "$MF" ge 10000)"
	summary_line "ledger: inclusion proof at $SIZE entries" "${LAT50[inclusion]} (median latency)" "—" "—" "< 1 ms" \
		"$(M=$(ms "${LAT50[inclusion]}"); [ "$M" != -1 ] && meets "$M" lt 1 || echo "not met")"
} >"$TMP/section.md"
results_replace ledger "$TMP/section.md"
cat "$TMP/section.md"
