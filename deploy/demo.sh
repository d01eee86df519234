#!/usr/bin/env bash
# The Fiducia story, against a running fiduciad (FIDUCIA_URL) whose
# development token issuer lives in FIDUCIA_DATA/keys:
#   1. the operator registers two platforms (holders), the city of Lyon and a
#      data-protection regulator;
#   2. the platforms register datasets, deposit generated CSVs (`fiducia demo
#      generate`) and publish their policies from policy/examples/; the rental
#      platform imports its hosts' consents;
#   3. the city asks: daily jam delay per arrondissement (granted, with DP
#      noise and confidence intervals); monthly nights per district (granted,
#      the district with too few hosts suppressed); the same for advertising
#      (denied); an hourly breakdown (denied as too fine); the same question
#      twice (the second is free); and again until the budget runs out (429);
#   4. a host withdraws consent, and the next answer no longer counts them;
#   5. the regulator verifies the ledger and reads the activity report.
# Every step checks its outcome, and the script stops (exit 1) at the first
# one that is not what the story says: the demo cannot tell a story that did
# not happen. tests/e2e/test_scenario.sh runs it through a load balancer.
#
# Environment: FIDUCIA_DEMO_ROWS (rows per generated file, default 400000),
# FIDUCIA_DEMO_DIR (the CSVs, default FIDUCIA_DATA/demo), FIDUCIA_DEMO_EXACT=1
# when fiduciad runs with the test-only query_noise=zero (then the withdrawal
# is checked to the subject), FIDUCIA_BUILD (default ./build).
# Running it again on the same data folder registers new datasets (their
# budgets are fresh); the organisations are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FIDUCIA_URL:?}" "${FIDUCIA_DATA:?}"
export FIDUCIA_URL
CLI=${FIDUCIA_BUILD:-./build}/fiducia
ROWS=${FIDUCIA_DEMO_ROWS:-400000}
WORK=${FIDUCIA_DEMO_DIR:-$FIDUCIA_DATA/demo}
EXACT=${FIDUCIA_DEMO_EXACT:-0}
SCRATCH=$(mktemp -d /tmp/fiducia-demo.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT

if [ -t 1 ]; then B=$'\033[1m' G=$'\033[32m' R=$'\033[31m' D=$'\033[2m' N=$'\033[0m'; else B="" G="" R="" D="" N=""; fi
CHECKS=0
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
say() { printf '%s\n' "$*"; }
# expect WHAT COMMAND...: the outcome the story claims; stop when it is not so.
expect() {
	local what=$1
	shift
	if "$@"; then
		CHECKS=$((CHECKS + 1))
		printf '   %s✓%s %s\n' "$G" "$N" "$what"
	else
		printf '   %s✗ %s%s\n' "$R" "$what" "$N"
		printf '%s\n' "${BODY:-}" | head -c 2000
		echo
		exit 1
	fi
}
# api METHOD PATH TOKEN [BODY]: one request; sets STATUS and BODY.
api() {
	local args=(-s -o "$SCRATCH/body" -w '%{http_code}' -X "$1" "$FIDUCIA_URL$2" -H "Authorization: Bearer $3")
	[ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
	STATUS=$(curl "${args[@]}")
	BODY=$(cat "$SCRATCH/body")
}
j() { jq -r "$1" <<<"$BODY"; }
token() { $CLI token mint --data-dir "$FIDUCIA_DATA" --org "$1" --role "$2" --ttl 2h; }
# dataset HOLDER_TOKEN SCHEMA_FILE: registers a dataset under the schema's name,
# or NAME-2, NAME-3... when a previous run holds it; prints the id.
dataset() {
	local name base n=1 ids
	base=$(jq -r .name "$2")
	ids=$(FIDUCIA_TOKEN=$1 $CLI --json dataset list | jq -r '.datasets[]?.name')
	name=$base
	while grep -qx "$name" <<<"$ids"; do n=$((n + 1)); name="$base-$n"; done
	jq --arg n "$name" '.name = $n' "$2" >"$SCRATCH/schema.json"
	FIDUCIA_TOKEN=$1 $CLI --json dataset create --schema "$SCRATCH/schema.json" | jq -r .id
}
# policy FILE DS ASSIGNER: an example policy bound to this dataset and holder.
policy() {
	jq --arg ds "$2" --arg a "$3" '.target = $ds | .assigner = $a
		| .uid = "urn:fiducia:policy:\($a):\($ds)"
		| .permission |= map(.uid = "urn:fiducia:policy:\($a):\($ds):p")
		| .prohibition |= map(.uid = "urn:fiducia:policy:\($a):\($ds):x")' "$1" >"$SCRATCH/policy.json"
	echo "$SCRATCH/policy.json"
}
# ask TOKEN QUERY_JSON: POST /v1/queries.
ask() { api POST /v1/queries "$1" "$2"; }
# Prints a released answer: the first rows, each value with its 95% noise interval.
show_answer() { # MAX_ROWS
	jq -r --argjson max "$1" '
		def num: if . == (. | floor) then tostring else (. * 10 | round / 10 | tostring) end;
		(if $max > 0 then (.columns + [.rows[0].values[]?.measure] | join("  |  ")) else empty end),
		(.rows[:$max][] | (.keys + [.values[] | (.value | num) + (if .ci95 > 0 then " ±" + (.ci95 | num) else "" end)]) | join("  |  ")),
		(if $max > 0 and (.rows | length) > $max then "… \(.rows | length - $max) more rows" else empty end),
		"released \(.rows | length) groups\(if .suppressedGroups then "; \(.suppressedGroups) suppressed" else "" end); epsilon spent \(.epsilonSpent // 0), budget left \(.budgetRemaining // 0)\(if .repeat then " (a repeat of ledger entry \(.repeatOf))" else "" end); ledger entry \(.ledgerIndex // 0)",
		"privacy: \(.privacy // "-")"' <<<"$BODY" | sed 's/^/   /'
}
show_refusal() {
	say "   $STATUS $(j .code): $(j .message)"
	j '.reasons[]? | "     - " + .'
	say "   the refusal is ledger entry $(j '.ledgerIndex // "-"')"
}

step "0. Realistic data: fiducia demo generate ($ROWS rows per file)"
if [ "$(cat "$WORK/.rows" 2>/dev/null)" != "$ROWS" ]; then
	$CLI demo generate --out "$WORK" --rows "$ROWS" --seed 1
	echo "$ROWS" >"$WORK/.rows"
else
	say "   (already generated in $WORK)"
fi
head -3 "$WORK/jams.csv" | sed 's/^/   jams.csv:   /'
head -3 "$WORK/stays.csv" | sed 's/^/   stays.csv:  /'

step "1. The operator registers the parties"
OP=$(token operator operator)
for spec in "navigation-app HOLDER NL" "rental-platform HOLDER IE" \
	"city-lyon PUBLIC_AUTHORITY FR" "cnil REGULATOR FR"; do
	set -- $spec
	FIDUCIA_TOKEN=$OP $CLI org show "$1" >/dev/null 2>&1 ||
		FIDUCIA_TOKEN=$OP $CLI org create "$1" --kind "$2" --country "$3" --contact "dpo@$1.example" >/dev/null
done
FIDUCIA_TOKEN=$OP $CLI org list | sed 's/^/   /'
api GET /v1/orgs "$OP"
expect "four parties are registered and active" \
	test "$(j '[.orgs[] | select(.name | test("^(navigation-app|rental-platform|city-lyon|cnil)$")) | select(.disabled | not)] | length')" = 4
NAV=$(token navigation-app holder)
BNB=$(token rental-platform holder)
CITY=$(token city-lyon user)
REG=$(token cnil regulator)
FIDUCIA_TOKEN=$CITY $CLI whoami | sed 's/^/   /'

step "2. The platforms register their datasets and deposit them, encrypted"
JAMS=$(dataset "$NAV" deploy/demo/jams.json)
PROBES=$(dataset "$NAV" deploy/demo/probe-speeds.json)
STAYS=$(dataset "$BNB" deploy/demo/stays.json)
say "   navigation-app: jams $JAMS (non-personal), probe speeds $PROBES (personal)"
say "   rental-platform: stays $STAYS (personal)"
for d in "$NAV $JAMS jams" "$NAV $PROBES probe-speeds" "$BNB $STAYS stays"; do
	set -- $d
	say "   -- $3.csv"
	FIDUCIA_TOKEN=$1 $CLI deposit "$2" "$WORK/$3.csv" | sed 's/^/   /'
	api GET "/v1/datasets/$2" "$1"
	expect "all $ROWS rows of $3.csv are in the vault" test "$(j .rows)" = "$ROWS"
done
FIDUCIA_TOKEN=$BNB $CLI dataset verify "$STAYS" | tail -1 | sed 's/^/   /'

step "2b. The operator publishes the platform baseline; the holders publish their policies"
FIDUCIA_TOKEN=$OP $CLI policy put --baseline policy/examples/baseline.json | head -3 | sed 's/^/   /'
FIDUCIA_TOKEN=$NAV $CLI policy put "$JAMS" "$(policy policy/examples/waze-jams.json "$JAMS" navigation-app)" | head -3 | sed 's/^/   /'
FIDUCIA_TOKEN=$BNB $CLI policy put "$STAYS" "$(policy policy/examples/stays.json "$STAYS" rental-platform)" | head -3 | sed 's/^/   /'
say "   jams: mobility purposes, public authorities, daily or coarser, k=10, epsilon 1 per query, 10 per month"
say "   stays: housing policy and official statistics, monthly or coarser, k=20, epsilon 1 per query, 10 per quarter,"
say "          at most 2 stays per host and group counted, nights clamped to 1-14"
api GET "/v1/datasets/$STAYS/policy" "$BNB"
expect "the stays policy is in force" test "$STATUS" = 200

step "2c. The rental platform imports its hosts' consents"
FIDUCIA_TOKEN=$BNB $CLI consent import "$STAYS" "$WORK/consents.csv" --select stays | sed 's/^/   /'
GIVEN=$(awk -F, '$1 == "stays"' "$WORK/consents.csv" | wc -l)
api GET /v1/reports/activity?dataset="$STAYS" "$BNB"
expect "the ledger records the $GIVEN consent records given" \
	test "$(j '[.rows[].consentsGiven // 0 | tonumber] | add')" = "$GIVEN"

step "3a. The city: daily jam delay per arrondissement, for mobility planning"
Q_JAMS='{"dataset":"'$JAMS'","purpose":"fiducia:MobilityPlanning",
 "measures":[{"fn":"MEAN","column":"delay"},{"fn":"COUNT"}],
 "groupBy":[{"column":"pub_millis","bucket":"DAY"},{"column":"district"}],
 "timeRange":{"from":"2026-01-01T00:00:00Z","to":"2026-02-01T00:00:00Z"}}'
ask "$CITY" "$Q_JAMS"
show_answer 6
expect "granted" test "$STATUS" = 200
expect "31 days × 9 arrondissements released" test "$(j '.rows | length')" = 279
expect "every value carries its noise scale and 95% interval" \
	test "$(j '[.rows[].values[] | select(.noiseScale > 0 and .ci95 > 0)] | length')" = 558
expect "epsilon 1 spent" test "$(j .epsilonSpent)" = 1

step "3b. The city: monthly nights per district, for housing policy"
Q_STAYS='{"dataset":"'$STAYS'","purpose":"fiducia:HousingPolicy",
 "measures":[{"fn":"SUM","column":"nights"}],
 "groupBy":[{"column":"stay_start","bucket":"MONTH"},{"column":"district"}],
 "timeRange":{"from":"2026-01-01T00:00:00Z","to":"2027-01-01T00:00:00Z"}}'
ask "$CITY" "$Q_STAYS"
show_answer 10
expect "granted" test "$STATUS" = 200
LARGE=$(j '[.rows[] | select(.keys[1] != "Lyon 9e")] | length')
if [ "$EXACT" = 1 ]; then
	expect "granted: 12 months of the 8 large districts" test "$LARGE" = 96
else # a group well above the threshold can still, rarely, draw noise below it
	expect "granted: 12 months of the 8 large districts ($LARGE of 96 released)" test "$LARGE" -ge 90
fi
expect "Lyon 9e, with too few hosts, is suppressed in every month" \
	test "$(j '[.rows[] | select(.keys[1] == "Lyon 9e")] | length')" = 0
FIRST_INDEX=$(j .ledgerIndex)
FIRST_ROWS=$(jq -c .rows <<<"$BODY")

step "3c. The same question for advertising"
ask "$CITY" "${Q_STAYS/fiducia:HousingPolicy/dpv:Advertising}"
show_refusal
expect "denied (403) with the reason" test "$STATUS-$(j '.reasons | join(" ") | test("prohibited")')" = 403-true
expect "the denial is ledgered" test "$(j '.ledgerIndex // 0')" -gt 0

step "3d. An hourly breakdown of the jams"
ask "$CITY" "${Q_JAMS/\"DAY\"/\"HOUR\"}"
show_refusal
expect "denied (403) as finer than DAY" test "$STATUS-$(j '.reasons | join(" ") | test("HOUR is finer than DAY")')" = 403-true

step "3e. The same question twice"
say "   -- fiducia query stays-monthly.json (the question of 3b, asked with the CLI):"
FIDUCIA_TOKEN=$CITY $CLI query - <<<"$Q_STAYS" >"$SCRATCH/cli-answer"
head -5 "$SCRATCH/cli-answer" | sed 's/^/   /'
say "   …"
tail -6 "$SCRATCH/cli-answer" | sed 's/^/   /'
say "   -- and once more, spelled differently (keys in another order):"
ask "$CITY" "$(jq -c -S . <<<"$Q_STAYS")"
show_answer 0
expect "a repeat, spending nothing" test "$(j '.repeat // false')-$(j '.epsilonSpent // 0')" = "true-0"
expect "the very same released values" test "$(jq -c .rows <<<"$BODY")" = "$FIRST_ROWS"
expect "pointing at the first answer's ledger entry" test "$(j .repeatOf)" = "$FIRST_INDEX"

step "3f. The city keeps asking about jams until its monthly budget runs out"
spent=1 granted_jams=1
for day in $(seq -w 2 31); do
	ask "$CITY" "${Q_JAMS/2026-01-01T00:00:00Z\"/2026-01-${day}T00:00:00Z\"}"
	if [ "$STATUS" = 200 ]; then
		granted_jams=$((granted_jams + 1))
		printf '   from January %s: granted, epsilon %s, %s left\n' "$day" "$(j .epsilonSpent)" "$(j '.budgetRemaining // 0')"
	else
		break
	fi
done
show_refusal
say "   budget left $(j '.budgetRemaining // 0'), this question needs $(j .epsilonNeeded)"
expect "after 10 answers (epsilon 10), a 429" test "$granted_jams-$STATUS" = 10-429
expect "the 429 says what is left and what was needed" test "$(j '.budgetRemaining // 0')-$(j .epsilonNeeded)" = 0-1
FIDUCIA_TOKEN=$CITY $CLI budget | sed 's/^/   /'

step "4. A host withdraws consent; the next answer no longer counts them"
# a consenting host of a large district, and a month of one of its stays
HOST="" DISTRICT="" MS=""
while IFS=, read -r ds subject _; do
	[ "$ds" = stays ] || continue
	IFS=, read -r _ _ DISTRICT _ MS _ < <(grep -m1 "^$subject," "$WORK/stays.csv") || continue
	case $DISTRICT in "Lyon 3e" | "Lyon 7e") HOST=$subject; break ;; esac
done < <(awk -F, '$1 == "stays" && $6 == "false"' "$WORK/consents.csv")
expect "a consenting host of Lyon 3e or 7e is found" test -n "$HOST"
MONTH=$(date -u -d "@$((MS / 1000))" +%Y-%m)
say "   a host of $DISTRICT with a stay in $MONTH"
NEXT=$(date -u -d "$MONTH-01 +1 month" +%Y-%m)
Q_HOSTS='{"dataset":"'$STAYS'","purpose":"fiducia:HousingPolicy","measures":[{"fn":"COUNT_SUBJECTS"}],
 "groupBy":[{"column":"district"}],"filters":[{"column":"district","op":"EQ","values":["'$DISTRICT'"]}],
 "timeRange":{"from":"'$MONTH'-01T00:00:00Z","to":"'$NEXT'-01T00:00:00Z"}}'
ask "$CITY" "$Q_HOSTS"
show_answer 1
expect "hosts of $DISTRICT in $MONTH: granted" test "$STATUS" = 200
BEFORE=$(j '.rows[0].values[0].value')
FIDUCIA_TOKEN=$BNB $CLI consent withdraw "$STAYS" "$HOST" | head -3 | sed 's/^/   /'
ask "$CITY" "$Q_HOSTS"
show_answer 1
AFTER=$(j '.rows[0].values[0].value')
expect "the next answer is computed afresh, not the stored one" test "$(j '.repeat // false')" = false
if [ "$EXACT" = 1 ]; then
	expect "exactly one host fewer ($BEFORE → $AFTER)" test "$((${BEFORE%.*} - ${AFTER%.*}))" = 1
else
	say "   ($BEFORE → $AFTER: one host is well inside the noise, which is the point of it;"
	say "    the test suite checks the exact difference with the noise switched off)"
fi

step "5. The regulator verifies the ledger with its own check, and reads the activity report"
sleep 1.5 # a checkpoint covering the last entries is signed within a second
VKEY=$(curl -s "$FIDUCIA_URL/v1/ledger/key")
say "   verifier key (publish it out of band): $VKEY"
set +e
FIDUCIA_TOKEN=$REG $CLI ledger verify --vkey "$VKEY" --state "$SCRATCH/regulator.state" >"$SCRATCH/verify" 2>&1
rc=$?
set -e
sed 's/^/   /' "$SCRATCH/verify"
expect "the ledger verifies: every entry, the signed checkpoint" test "$rc" = 0
FIDUCIA_TOKEN=$REG $CLI report activity --dataset "$STAYS" | sed 's/^/   /'
FIDUCIA_TOKEN=$REG $CLI report activity --dataset "$JAMS" | sed 's/^/   /'
api GET "/v1/reports/activity?dataset=$STAYS" "$REG"
city() { j "[.rows[] | select(.requester == \"city-lyon\") | .$1 // 0 | tonumber] | add"; }
# stays: 3b, its two repeats in 3e (epsilon 0), and 4 twice: granted; 3c denied
expect "stays: 5 granted, 1 denied (advertising), epsilon 3" test "$(city queriesGranted)-$(city queriesDenied)-$(city epsilonSpent)" = 5-1-3
api GET "/v1/reports/activity?dataset=$JAMS" "$REG"
expect "jams: 10 granted, 2 denied (hourly, budget), epsilon 10" test "$(city queriesGranted)-$(city queriesDenied)-$(city epsilonSpent)" = 10-2-10

printf '\n%sThe story happened as told: %d outcomes checked.%s\n' "$B" "$CHECKS" "$N"
