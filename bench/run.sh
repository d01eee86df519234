#!/usr/bin/env bash
# HTTP throughput of fiduciad against its baseline, side by side in one run:
# wrk over loopback against (a) a minimal evhttp server answering a fixed body
# (bench_baseline_evhttp, built from the same libevent), (b) authenticated
# GET /v1/whoami, (c) GET /v1/orgs/{org}. Rounds alternate between targets so
# that drift hits all alike; medians and ratios go to bench/RESULTS.md (this
# section only; see bench/lib.sh).
# usage: bench/run.sh [ROUNDS=5] [SECONDS=10] [CONNECTIONS=32]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROUNDS=${1:-5} SECS=${2:-10} CONNS=${3:-32}
BUILD=${FIDUCIA_BUILD:-build}
[ -x "$BUILD/fiduciad" ] && [ -x "$BUILD/bench_baseline_evhttp" ] || ./deploy/build.sh "$BUILD"
command -v wrk >/dev/null || { echo "bench: wrk is missing (deploy/install-deps.sh)"; exit 1; }

TMP=$(mktemp -d /tmp/fiducia-bench.XXXXXX); chmod 711 "$TMP"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

BASE_PORT=18901
"$BUILD/bench_baseline_evhttp" "$BASE_PORT" & PIDS+=($!)
PORT=18902
"$BUILD/fiduciad" --data-dir "$TMP/data" --listen "127.0.0.1:$PORT" --set log_level=warn \
	>"$TMP/fiduciad.log" 2>&1 & PIDS+=($!)
for i in $(seq 1 300); do
	curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "bench: fiduciad did not start"; cat "$TMP/fiduciad.log"; exit 1; }
TOKEN=$("$BUILD/fiducia" token mint --data-dir "$TMP/data" --org operator --role operator --ttl 2h)
AUTH="Authorization: Bearer $TOKEN"
curl -sf -H "$AUTH" "http://127.0.0.1:$PORT/v1/whoami" >/dev/null
curl -sf -H "$AUTH" "http://127.0.0.1:$PORT/v1/orgs/operator" >/dev/null

rps() { # URL [header]: wrk's Requests/sec
	local args=(-t1 -c"$CONNS" -d"${SECS}s" --latency "$1")
	[ -n "${2:-}" ] && args+=(-H "$2")
	wrk "${args[@]}" | awk '/Requests\/sec/ {print $2}'
}
declare -A R
for t in baseline whoami org; do R[$t]=""; done
for round in $(seq 1 "$ROUNDS"); do
	R[baseline]+="$(rps "http://127.0.0.1:$BASE_PORT/") "
	R[whoami]+="$(rps "http://127.0.0.1:$PORT/v1/whoami" "$AUTH") "
	R[org]+="$(rps "http://127.0.0.1:$PORT/v1/orgs/operator" "$AUTH") "
	echo "round $round: baseline ${R[baseline]##* } whoami ${R[whoami]##* } org ${R[org]##* }" | tr -s ' '
done
MB=$(median <<<"${R[baseline]}"); MW=$(median <<<"${R[whoami]}"); MO=$(median <<<"${R[org]}")
RW=$(awk -v a="$MW" -v b="$MB" 'BEGIN {printf "%.1f", 100*a/b}')
RO=$(awk -v a="$MO" -v b="$MB" 'BEGIN {printf "%.1f", 100*a/b}')
{
	echo "## HTTP throughput: fiduciad vs. a minimal evhttp server (issue 2)"
	echo
	echo "- machine: $(machine)"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- command: \`bench/run.sh $ROUNDS $SECS $CONNS\` (wrk -t1 -c$CONNS -d${SECS}s over loopback, $ROUNDS alternating rounds; fiduciad on its embedded PostgreSQL, log_level=warn, RelWithDebInfo)"
	echo
	echo "| target | requests/s per round | median | vs. baseline | goal |"
	echo "|---|---|---|---|---|"
	echo "| baseline: evhttp fixed body | ${R[baseline]}| $MB | 100% | |"
	echo "| \`GET /v1/whoami\` (ES256 token, cached) | ${R[whoami]}| $MW | $RW% | ≥ 60% |"
	echo "| \`GET /v1/orgs/operator\` (one PostgreSQL query) | ${R[org]}| $MO | $RO% | ≥ 30% |"
	echo
	echo "wrk and the server share the machine's cores, so absolute figures are lower than on"
	echo "separate hosts; the ratios are what the goals are about."
	echo
	summary_line "http: \`GET /v1/whoami\`" "$MW req/s" "$MB req/s" "$RW%" "≥ 60%" "$(meets "$RW" ge 60)"
	summary_line "http: \`GET /v1/orgs/{org}\`" "$MO req/s" "$MB req/s" "$RO%" "≥ 30%" "$(meets "$RO" ge 30)"
} >"$TMP/section.md"
results_replace http "$TMP/section.md"
cat "$TMP/section.md"
