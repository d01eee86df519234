#!/usr/bin/env bash
# The demo of what exists so far, against a running fiduciad (FIDUCIA_URL)
# whose data folder is FIDUCIA_DATA: the operator registers the parties of
# the Fiducia story, each party checks who it is, and a disabled party is
# refused from then on; the navigation app deposits encrypted probe data and
# publishes its policy, drivers' consent is recorded, the city asks for
# dry-run decisions, and the regulator verifies the ledger. It can run again
# on the same data folder: what exists is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=./build/fiducia
: "${FIDUCIA_URL:?}" "${FIDUCIA_DATA:?}"
export FIDUCIA_URL
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "The operator mints a development token (issuer fiducia-dev, ES256)"
OP=$($CLI token mint --data-dir "$FIDUCIA_DATA" --org operator --role operator --ttl 1h)
FIDUCIA_TOKEN=$OP $CLI whoami

step "The operator registers the parties (already registered ones are kept)"
for spec in "navigation-app HOLDER NL" "rental-platform HOLDER IE" \
	"city-lyon PUBLIC_AUTHORITY FR" "cnil REGULATOR FR"; do
	set -- $spec
	FIDUCIA_TOKEN=$OP $CLI org show "$1" >/dev/null 2>&1 ||
		FIDUCIA_TOKEN=$OP $CLI org create "$1" --kind "$2" --country "$3" --contact "dpo@$1.example"
done
FIDUCIA_TOKEN=$OP $CLI org list

step "Each party authenticates with its own token"
CITY=$($CLI token mint --data-dir "$FIDUCIA_DATA" --org city-lyon --role user)
FIDUCIA_TOKEN=$CITY $CLI whoami

step "A user may not act as the operator (403)"
FIDUCIA_TOKEN=$CITY $CLI org create sneaky --kind HOLDER || true

step "A short-lived org is disabled; its token is refused from then on"
FIDUCIA_TOKEN=$OP $CLI org show demo-temp >/dev/null 2>&1 ||
	FIDUCIA_TOKEN=$OP $CLI org create demo-temp --kind HOLDER --country FR
TEMP=$($CLI token mint --data-dir "$FIDUCIA_DATA" --org demo-temp --role holder)
FIDUCIA_TOKEN=$OP $CLI org disable demo-temp
FIDUCIA_TOKEN=$TEMP $CLI whoami || true

step "The navigation app registers a personal dataset and deposits 200,000 encrypted rows"
NAV=$($CLI token mint --data-dir "$FIDUCIA_DATA" --org navigation-app --role holder)
DS=$(FIDUCIA_TOKEN=$NAV $CLI --json dataset list | jq -r '.datasets[]? | select(.name == "probe-speeds-lyon") | .id')
[ -n "$DS" ] || DS=$(FIDUCIA_TOKEN=$NAV $CLI --json dataset create --schema tests/e2e/data/probe-speeds.json | jq -r .id)
FIDUCIA_TOKEN=$NAV $CLI dataset show "$DS" | head -8
[ -f "$FIDUCIA_DATA/demo-probes.csv" ] || ./build/bench_gen_probes 200000 7 >"$FIDUCIA_DATA/demo-probes.csv"
FIDUCIA_TOKEN=$NAV $CLI deposit "$DS" "$FIDUCIA_DATA/demo-probes.csv" --batch-size 50000
FIDUCIA_TOKEN=$NAV $CLI dataset verify "$DS"

step "The operator publishes the platform baseline; the app publishes its policy"
FIDUCIA_TOKEN=$OP $CLI policy put --baseline policy/examples/baseline.json
jq --arg ds "$DS" '.assigner = "navigation-app" | .target = $ds | .uid = "urn:fiducia:policy:navigation-app:probes"
	| .permission[0].constraint |= map(if .leftOperand == "fiducia:dimensions" then .rightOperand = ["district", "road_type", "pub_time"]
	  elif .leftOperand == "fiducia:measures" then .rightOperand = ["speed_kmh", "delay_s"] else . end)' \
	policy/examples/traffic-jams.json >"$FIDUCIA_DATA/demo-policy.json"
$CLI policy check "$FIDUCIA_DATA/demo-policy.json"
FIDUCIA_TOKEN=$NAV $CLI policy put "$DS" "$FIDUCIA_DATA/demo-policy.json"

step "Drivers give consent for mobility planning; one withdraws it"
for d in drv-000001 drv-000002 drv-000003; do
	FIDUCIA_TOKEN=$NAV $CLI consent give "$DS" --subject "$d" --purposes dpv:ImproveTransportMobility \
		--form-id navigation-app-altruism --objective "Better mobility planning in Lyon" >/dev/null
done
FIDUCIA_TOKEN=$NAV $CLI consent withdraw "$DS" drv-000003
FIDUCIA_TOKEN=$NAV $CLI consent show "$DS" drv-000003 | head -6

step "The city sees the granted dataset and asks for dry-run decisions"
FIDUCIA_TOKEN=$CITY $CLI dataset list
echo "-- daily speeds per district, for mobility planning:"
FIDUCIA_TOKEN=$CITY $CLI policy explain "$DS" --purpose fiducia:MobilityPlanning \
	--measures AVG:speed_kmh --group-by pub_time:DAY,district
echo "-- the same for advertising:"
FIDUCIA_TOKEN=$CITY $CLI policy explain "$DS" --purpose dpv:Advertising --measures AVG:speed_kmh
echo "-- hourly:"
FIDUCIA_TOKEN=$CITY $CLI policy explain "$DS" --purpose fiducia:MobilityPlanning \
	--measures AVG:speed_kmh --group-by pub_time:HOUR

step "The regulator verifies the transparency ledger with its own check"
REG=$($CLI token mint --data-dir "$FIDUCIA_DATA" --org cnil --role regulator)
sleep 1.5 # a checkpoint covering the new entries is signed within a second
VKEY=$(curl -s "$FIDUCIA_URL/v1/ledger/key")
echo "verifier key: $VKEY"
FIDUCIA_TOKEN=$REG $CLI ledger verify --vkey "$VKEY" --state "$FIDUCIA_DATA/regulator-ledger.state"

step "Health, readiness and metrics"
curl -s "$FIDUCIA_URL/readyz"; echo
curl -s "$FIDUCIA_URL/metrics" | grep -E '^fiducia_(http_requests_total|db_pool_connections)' | head -8
printf '\nDemo complete.\n'
