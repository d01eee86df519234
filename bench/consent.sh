#!/usr/bin/env bash
# The cost of consent filtering in a scan (issue 5): 10 million rows of the
# probe-speeds schema (200,000 drivers) deposited in a personal dataset,
# 1 million consent records imported (150,000 of the drivers consent, the
# rest are other subjects), then bench_scan, on the same data in memory:
# one cold scan with consent (an empty cache), then rounds of a scan that
# ignores consent, one that filters with the cached view (warm), and one
# just after a driver withdraws (a delta load).
# Medians and the ratio go to bench/RESULTS.md (only this section; see
# bench/lib.sh).
# usage: bench/consent.sh [ROWS=10000000] [CONSENTS=1000000] [ROUNDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
ROWS=${1:-10000000} CONSENTS=${2:-1000000} ROUNDS=${3:-5}
BUILD=${FIDUCIA_BUILD:-build}
[ -x "$BUILD/fiduciad" ] && [ -x "$BUILD/bench_scan" ] || ./deploy/build.sh "$BUILD"
TMP=$(mktemp -d /tmp/fiducia-bench.XXXXXX); chmod 711 "$TMP"
PID=""
cleanup() { [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; rm -rf "$TMP"; }
trap cleanup EXIT

PORT=18904
"$BUILD/fiduciad" --data-dir "$TMP/data" --listen "127.0.0.1:$PORT" --set log_level=warn >"$TMP/fiduciad.log" 2>&1 & PID=$!
for i in $(seq 1 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "bench: fiduciad did not start"; cat "$TMP/fiduciad.log"; exit 1; }
export FIDUCIA_URL="http://127.0.0.1:$PORT"
FIDUCIA_TOKEN=$("$BUILD/fiducia" token mint --data-dir "$TMP/data" --org operator --role operator --ttl 2h) \
	"$BUILD/fiducia" org create navapp --kind HOLDER >/dev/null
export FIDUCIA_TOKEN=$("$BUILD/fiducia" token mint --data-dir "$TMP/data" --org navapp --role holder --ttl 2h)
DS=$("$BUILD/fiducia" --json dataset create --schema tests/e2e/data/probe-speeds.json | jq -r .id)
echo "depositing $ROWS rows..."
"$BUILD/bench_gen_probes" "$ROWS" 1 >"$TMP/probes.csv"
"$BUILD/fiducia" deposit "$DS" "$TMP/probes.csv" | tail -1
rm -f "$TMP/probes.csv"
echo "importing $CONSENTS consent records..."
awk -v n="$CONSENTS" 'BEGIN {
	for (i = 0; i < n; i++) {
		if (i < 200000) { if (i % 4 == 3) continue; s = sprintf("drv-%06d", i) } else s = "app-user-" i
		printf "{\"subject\":\"%s\",\"formId\":\"navapp-altruism\",\"formVersion\":\"2\",\"language\":\"fr\",\"objective\":\"Better mobility in Lyon\",\"purposes\":[\"dpv:ImproveTransportMobility\"],\"collectionMethod\":\"in-app\"}\n", s
	}
	for (i = 0; i < 50000; i++)
		printf "{\"subject\":\"app-user-x%d\",\"formId\":\"navapp-altruism\",\"objective\":\"Better mobility in Lyon\",\"purposes\":[\"dpv:ImproveTransportMobility\"]}\n", i
}' >"$TMP/consents.ndjson"
T0=$(date +%s.%N)
"$BUILD/fiducia" consent import "$DS" "$TMP/consents.ndjson" --per-call 100000
T1=$(date +%s.%N)
NREC=$(wc -l <"$TMP/consents.ndjson")
IMPORT_RATE=$(awk -v n="$NREC" -v a="$T0" -v b="$T1" 'BEGIN {printf "%.0f", n / (b - a)}')
"$BUILD/bench_scan" "host=$TMP/data/pg/run dbname=fiducia user=fiducia" "$TMP/data/keys/kek.key" "$DS" 0 4 \
	fiducia:MobilityPlanning "$((ROUNDS + 1))" | tee "$TMP/scan.out"
col() { awk -v m="$1" -v f="$2" '$3 == m {gsub(/,/, "", $f); printf "%s ", $f}' "$TMP/scan.out"; }
med() { awk -v m="$1" -v f="$2" '$3 == m {gsub(/,/, "", $f); print $f}' "$TMP/scan.out" | median; }
MP=$(med plain 4) MW=$(med warm 4) MC=$(med change 4)
LW=$(med warm 8) LC=$(med change 8)
COLD=$(awk '$3 == "cold" {print $4}' "$TMP/scan.out") LCOLD=$(awk '$3 == "cold" {print $8}' "$TMP/scan.out")
KEPT=$(awk '$3 == "warm" {print $13; exit}' "$TMP/scan.out")
STATS=$(grep '^loads:' "$TMP/scan.out")
pct() { awk -v a="$1" -v b="$MP" 'BEGIN {printf "%+.1f%%", 100 * (a - b) / b}'; }
OW=$(pct "$MW") OC=$(pct "$MC") OCOLD=$(pct "$COLD")
{
	echo "## Consent filtering in a scan (issue 5)"
	echo
	echo "- machine: $(machine)"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- command: \`bench/consent.sh $ROWS $CONSENTS $ROUNDS\`: $ROWS rows (200,000 drivers) in a personal dataset on fiduciad's embedded PostgreSQL; $NREC consent records imported with \`fiducia consent import --per-call 100000\` ($IMPORT_RATE records/s); then \`bench_scan\`, one thread, the dataset's sealed SUBJECT and \`speed_kmh\` columns held in memory"
	echo "- plain: open and decode both columns of every chunk, sum the measure over every row"
	echo "- with consent: the consent view for \`fiducia:MobilityPlanning\` loaded through \`consent_cache\` as every query loads it (consent was given for its parent \`dpv:ImproveTransportMobility\`), then the same scan summing, through the mask it returns and without a branch, only the rows \`consent_view_filter\` keeps ($KEPT rows)"
	echo "  - warm: the dataset's consent version is checked in PostgreSQL and is unchanged since the last query"
	echo "  - after a withdrawal: one consenting driver withdraws (the SQL of \`DELETE .../consents/{subject}\`) just before the load, which then re-decides that subject only"
	echo "  - cold: the first query of a process (every consenting subject read from PostgreSQL, every chunk's subject numbers built); also after an erasure or past a record's validity boundary"
	echo "- cache: $STATS"
	echo
	echo "| scan | seconds per round | median | consent load (median) | vs. plain | goal |"
	echo "|---|---|---|---|---|---|"
	echo "| plain (consent ignored) | $(col plain 4)| $MP | | | |"
	echo "| with consent, warm | $(col warm 4)| $MW | $LW s | $OW | ≤ +20% |"
	echo "| with consent, after a withdrawal | $(col change 4)| $MC | $LC s | $OC | ≤ +20% |"
	echo "| with consent, cold (once) | $COLD | $COLD | $LCOLD s | $OCOLD | |"
	echo
	summary_line "consent: scan, warm" "$MW s" "$MP s" "$OW" "≤ +20%" "$(meets "$MW" le "$(awk -v b="$MP" 'BEGIN {print 1.2 * b}')")"
	summary_line "consent: scan after a withdrawal" "$MC s" "$MP s" "$OC" "≤ +20%" "$(meets "$MC" le "$(awk -v b="$MP" 'BEGIN {print 1.2 * b}')")"
} >"$TMP/section.md"
results_replace consent "$TMP/section.md"
cat "$TMP/section.md"
