#!/usr/bin/env bash
# The demo of what exists so far, against a running fiduciad (FIDUCIA_URL)
# whose data folder is FIDUCIA_DATA: the operator registers the parties of
# the Fiducia story, each party checks who it is, and a disabled party is
# refused from then on.
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

step "The regulator verifies the transparency ledger with its own check"
REG=$($CLI token mint --data-dir "$FIDUCIA_DATA" --org cnil --role regulator)
VKEY=$(curl -s "$FIDUCIA_URL/v1/ledger/key")
echo "verifier key: $VKEY"
FIDUCIA_TOKEN=$REG $CLI ledger verify --vkey "$VKEY" --state "$FIDUCIA_DATA/regulator-ledger.state"

step "Health, readiness and metrics"
curl -s "$FIDUCIA_URL/readyz"; echo
curl -s "$FIDUCIA_URL/metrics" | grep -E '^fiducia_(http_requests_total|db_pool_connections)' | head -8
printf '\nDemo complete.\n'
