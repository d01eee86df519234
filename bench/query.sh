#!/usr/bin/env bash
# The query engine (issue 7), side by side with PostgreSQL: ROWS rows of the
# probe-speeds schema (200,000 drivers) deposited in a personal dataset with
# consent for 150,000 drivers, then, with DP on, GROUP BY DAY x district with
# COUNT, SUM(delay_s) and MEAN(speed_kmh):
#  - fiduciad cold: a fresh process (no decrypted column cached, consent
#    view and chunk maps not loaded), its first query;
#  - fiduciad warm: the same process, later queries (each a different
#    question, so no repeat answer is served: a time range every row is in);
#  - PostgreSQL: the same GROUP BY on the same plaintext in a table of the
#    same server (its parallel workers on), with psql's \timing.
# Times are the client's wall clock per request. Peak memory is fiduciad's
# VmHWM. Medians and ratios go to bench/RESULTS.md (only this section; see
# bench/lib.sh).
# usage: bench/query.sh [ROWS=10000000] [ROUNDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROWS=${1:-10000000} ROUNDS=${2:-5}
BUILD=${FIDUCIA_BUILD:-build}
[ -x "$BUILD/fiduciad" ] && [ -x "$BUILD/bench_gen_probes" ] || ./deploy/build.sh "$BUILD"
TMP=$(mktemp -d /tmp/fiducia-bench.XXXXXX); chmod 711 "$TMP"
PID=""
cleanup() { [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$TMP"; }
trap cleanup EXIT

PORT=18906
start() {
	"$BUILD/fiduciad" --data-dir "$TMP/data" --listen "127.0.0.1:$PORT" --set log_level=warn >>"$TMP/fiduciad.log" 2>&1 & PID=$!
	for i in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return; sleep 0.2; done
	echo "fiduciad did not start"; tail "$TMP/fiduciad.log"; exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
start
export FIDUCIA_URL="http://127.0.0.1:$PORT"
tok() { "$BUILD/fiducia" token mint --data-dir "$TMP/data" --org "$1" --role "$2" --ttl 4h; }
OP=$(tok operator operator)
FIDUCIA_TOKEN=$OP "$BUILD/fiducia" org create navapp --kind HOLDER >/dev/null
FIDUCIA_TOKEN=$OP "$BUILD/fiducia" org create city-lyon --kind PUBLIC_AUTHORITY >/dev/null
# The example baseline, with a budget large enough for the rounds.
jq '(.permission[1].constraint[] | select(.leftOperand == "fiducia:epsilonBudget") | .rightOperand) = 1000' \
	policy/examples/baseline.json >"$TMP/baseline.json"
curl -sf -X PUT "$FIDUCIA_URL/v1/policy/baseline" -H "Authorization: Bearer $OP" -H 'Content-Type: application/json' \
	--data-binary @"$TMP/baseline.json" >/dev/null
export FIDUCIA_TOKEN=$(tok navapp holder)
DS=$("$BUILD/fiducia" --json dataset create --schema tests/e2e/data/probe-speeds.json | jq -r .id)
cat >"$TMP/policy.json" <<JSON
{"@context": "http://www.w3.org/ns/odrl.jsonld", "@type": "Set", "uid": "urn:fiducia:policy:navapp:probes",
 "profile": "urn:fiducia:odrl-profile:1", "assigner": "navapp", "target": "$DS",
 "permission": [{"uid": "urn:fiducia:policy:navapp:probes:mobility", "action": "aggregate", "constraint": [
   {"leftOperand": "purpose", "operator": "isA", "rightOperand": "dpv:ImproveTransportMobility"},
   {"leftOperand": "fiducia:recipientKind", "operator": "eq", "rightOperand": "PUBLIC_AUTHORITY"},
   {"leftOperand": "fiducia:timeGranularity", "operator": "gteq", "rightOperand": "DAY"}]}]}
JSON
curl -sf -X PUT "$FIDUCIA_URL/v1/datasets/$DS/policy" -H "Authorization: Bearer $FIDUCIA_TOKEN" \
	-H 'Content-Type: application/json' --data-binary @"$TMP/policy.json" >/dev/null
echo "depositing $ROWS rows..."
"$BUILD/bench_gen_probes" "$ROWS" 1 >"$TMP/probes.csv"
"$BUILD/fiducia" deposit "$DS" "$TMP/probes.csv" | tail -1
awk 'BEGIN { for (i = 0; i < 200000; i++) if (i % 4 != 3)
	printf "{\"subject\":\"drv-%06d\",\"formId\":\"navapp-altruism\",\"objective\":\"Better mobility in Lyon\",\"purposes\":[\"dpv:ImproveTransportMobility\"]}\n", i }' >"$TMP/consents.ndjson"
"$BUILD/fiducia" consent import "$DS" "$TMP/consents.ndjson" --per-call 100000 >/dev/null
# the plaintext table for PostgreSQL, in the same server
PSQL=(psql "host=$TMP/data/pg/run dbname=fiducia user=fiducia" -v ON_ERROR_STOP=1 -qAt)
"${PSQL[@]}" -c "CREATE UNLOGGED TABLE bench_stage (driver_id text, pub_time_ms bigint, district text, road_type bigint, speed_kmh float8, delay_s bigint)"
"${PSQL[@]}" -c "\\copy bench_stage FROM '$TMP/probes.csv' CSV HEADER"
"${PSQL[@]}" -c "CREATE TABLE bench_probes AS SELECT driver_id, to_timestamp(pub_time_ms / 1000.0) AS pub_time, district, road_type, speed_kmh, delay_s FROM bench_stage"
"${PSQL[@]}" -c "DROP TABLE bench_stage"
"${PSQL[@]}" -c "VACUUM ANALYZE bench_probes"
rm -f "$TMP/probes.csv"
SQL="SELECT date_trunc('day', pub_time AT TIME ZONE 'UTC'), district, count(*), sum(delay_s), avg(speed_kmh) FROM bench_probes GROUP BY 1, 2"

export FIDUCIA_TOKEN=$(tok city-lyon user)
query() { # N: one timed query, a question not asked before (N differs); prints seconds
	local N=$1
	printf '{"dataset":"%s","purpose":"dpv:ImproveTransportMobility","measures":[{"fn":"COUNT"},{"fn":"SUM","column":"delay_s"},{"fn":"MEAN","column":"speed_kmh"}],"groupBy":[{"column":"pub_time","bucket":"DAY"},{"column":"district"}],"timeRange":{"to":"%sT00:00:00Z"}}' \
		"$DS" "$(date -u -d "2099-01-01 + $N days" +%F)" >"$TMP/q.json" # on a day boundary, as the policy asks
	curl -s -o "$TMP/answer.json" -w '%{time_total}\n' -X POST "$FIDUCIA_URL/v1/queries" \
		-H "Authorization: Bearer $FIDUCIA_TOKEN" -H 'Content-Type: application/json' --data-binary @"$TMP/q.json"
	jq -e '.rows | length > 0' "$TMP/answer.json" >/dev/null || { echo "query failed: $(head -c 300 "$TMP/answer.json")" >&2; exit 1; }
}
COLD=() WARM=() PGT=() N=0
for r in $(seq 1 "$ROUNDS"); do
	stop; start
	N=$((N + 1)); COLD+=("$(query $N)")
	for k in 1 2; do N=$((N + 1)); WARM+=("$(query $N)"); done
	jq -e '.repeat != true' "$TMP/answer.json" >/dev/null || { echo "a repeat was served: not a measurement" >&2; exit 1; }
	PGT+=("$("${PSQL[@]}" -c '\timing on' -c "$SQL" | awk '/^Time:/ {printf "%.4f\n", $2 / 1000}')")
	echo "round $r: cold ${COLD[-1]} s, warm ${WARM[-1]} s, PostgreSQL ${PGT[-1]} s"
done
PEAK=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$PID/status")
GROUPS_OUT=$(jq '.rows | length' "$TMP/answer.json")
PRIV=$(jq -r .privacy "$TMP/answer.json")
MC=$(median "${COLD[@]}") MW=$(median "${WARM[@]}") MP=$(median "${PGT[@]}")
ratio() { awk -v a="$1" -v b="$MP" 'BEGIN {printf "%.2f×", a / b}'; }
RATE=$(awk -v n="$ROWS" -v t="$MW" 'BEGIN {printf "%.0f", n / t / 1e6}')
{
	echo "## Aggregate queries (issue 7)"
	echo
	echo "- machine: $(machine)"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- command: \`bench/query.sh $ROWS $ROUNDS\`: $ROWS rows of probe-speeds (200,000 drivers) in a personal dataset on fiduciad's embedded PostgreSQL, consent for 150,000 drivers; \`GROUP BY DAY x district\` with COUNT, SUM(delay_s), MEAN(speed_kmh), DP on ($GROUPS_OUT groups released)"
	echo "- fiduciad cold: a fresh process, its first query (decrypting every needed column; loading the consent view). Warm: its next queries, each a new question (no repeat answer). Times are curl's, per request, over loopback"
	echo "- PostgreSQL: \`$SQL\` on the plaintext table in the same server (psql \\\\timing)"
	echo "- what fiduciad does that PostgreSQL does not: consent filtering, contribution bounding, noise, the budget debit and a ledger entry in one transaction"
	echo "- privacy applied: $PRIV"
	echo
	echo "| | seconds per round | median | vs. PostgreSQL | goal |"
	echo "|---|---|---|---|---|"
	echo "| fiduciad, cold | ${COLD[*]} | $MC | $(ratio "$MC") | ≤ 1.0× |"
	echo "| fiduciad, warm | ${WARM[*]} | $MW | $(ratio "$MW") | ≤ 0.2×, ≥ 100 M rows/s |"
	echo "| PostgreSQL, plaintext | ${PGT[*]} | $MP | 1.00× | |"
	echo
	echo "Warm: $RATE million rows aggregated per second. fiduciad's peak memory (VmHWM): $PEAK MiB (\`query_cache_bytes\` and \`query_projection_bytes\` at their default 1 GiB: the chunk columns, and the 308 MiB projection in subject order that the warm queries read)."
	echo
	summary_line "query: cold" "$MC s" "$MP s" "$(ratio "$MC")" "≤ 1.0×" "$(meets "$MC" le "$MP")"
	summary_line "query: warm" "$MW s" "$MP s" "$(ratio "$MW")" "≤ 0.2×, ≥ 100 M rows/s" \
		"$(awk -v a="$MW" -v b="$MP" -v n="$ROWS" 'BEGIN {print (a <= 0.2 * b && n / a >= 1e8 ? "met" : "not met")}')"
} >"$TMP/section.md"
results_replace query "$TMP/section.md"
cat "$TMP/section.md"
