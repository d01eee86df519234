#!/usr/bin/env bash
# End to end: a dataset that changes while a query reads it. The test-only
# FIDUCIA_TEST_QUERY_FETCH_DELAY_MS (a FIDUCIA_TEST_HOOKS build) holds the
# first window's fetch back, so that an erasure re-seals the chunk between the
# query's listing and its reading:
#  - the query answers 409 "aborted" (ask again), releases nothing and spends
#    nothing, instead of a false 500 "integrity";
#  - asked again, it is answered;
#  - a chunk really damaged in PostgreSQL still answers 500 "integrity".
source "$FIDUCIA_SRC/tests/harness/lib.sh"

export FIDUCIA_TEST_QUERY_FETCH_DELAY_MS=1500
fd_start qc --set query_noise=zero --set query_max_groups_per_subject=1 || fd_finish
OP=$(fd_token operator operator)
for o in "roadnav HOLDER" "city-lyon PUBLIC_AUTHORITY"; do
	set -- $o
	req POST /v1/orgs "$OP" "{\"name\":\"$1\",\"kind\":\"$2\"}"; expect_status 201 "create $1"
done
NAV=$(fd_token roadnav holder); CITY=$(fd_token city-lyon user)
putdoc() { # METHOD PATH TOKEN FILE
	STATUS=$(curl -s -o "$FD_TMP/body" -w '%{http_code}' -X "$1" "$URL$2" -H "Authorization: Bearer $3" \
		-H 'Content-Type: application/json' --data-binary @"$4"); BODY=$(cat "$FD_TMP/body")
}
putdoc PUT /v1/policy/baseline "$OP" "$FIDUCIA_SRC/policy/examples/baseline.json"; expect_status 201 "the baseline"
req POST /v1/datasets "$NAV" "$(cat "$FIDUCIA_SRC/tests/e2e/data/probe-speeds.json")"; expect_status 201 "a personal dataset"
PR=$(jq -r .id <<<"$BODY")
cat >"$FD_TMP/policy.json" <<JSON
{"@context": "http://www.w3.org/ns/odrl.jsonld", "@type": "Set", "uid": "urn:fiducia:policy:roadnav:probes",
 "profile": "urn:fiducia:odrl-profile:1", "assigner": "roadnav", "target": "$PR",
 "permission": [{"uid": "urn:fiducia:policy:roadnav:probes:mobility", "action": "aggregate", "constraint": [
   {"leftOperand": "purpose", "operator": "isA", "rightOperand": "dpv:ImproveTransportMobility"},
   {"leftOperand": "fiducia:recipientKind", "operator": "eq", "rightOperand": "PUBLIC_AUTHORITY"}]}]}
JSON
putdoc PUT "/v1/datasets/$PR/policy" "$NAV" "$FD_TMP/policy.json"; expect_status 201 "its policy"
awk 'BEGIN { print "driver_id,pub_time,district,road_type,speed_kmh,delay_s"
	for (i = 0; i < 200; i++) for (k = 0; k < 5; k++)
		printf "drv-%04d,%.0f,Lyon %de,1,%d,%d\n", i, 1767225600000 + i * 1000 + k, 1 + i % 3, 30 + k, 60 * k }' >"$FD_TMP/probes.csv"
awk 'BEGIN { for (i = 0; i < 200; i++) printf "{\"subject\":\"drv-%04d\",\"formId\":\"f\",\"objective\":\"o\",\"purposes\":[\"dpv:ImproveTransportMobility\"]}\n", i }' >"$FD_TMP/consents.ndjson"
FIDUCIA_URL=$URL FIDUCIA_TOKEN=$NAV "$FIDUCIA" deposit "$PR" "$FD_TMP/probes.csv" >/dev/null 2>&1
FIDUCIA_URL=$URL FIDUCIA_TOKEN=$NAV "$FIDUCIA" consent import "$PR" "$FD_TMP/consents.ndjson" >/dev/null 2>&1
req GET "/v1/datasets/$PR" "$NAV"; expect_json .rows 1000 "1,000 rows deposited, one chunk"

Q='{"dataset":"'$PR'","purpose":"dpv:ImproveTransportMobility","measures":[{"fn":"COUNT"}],"groupBy":[{"column":"district"}]}'
ask() { curl -s -o "$FD_TMP/$1" -w '%{http_code}' -X POST "$URL/v1/queries" -H "Authorization: Bearer $CITY" \
	-H 'Content-Type: application/json' --data-binary "$2"; }

# ---- an erasure between the query's listing and its reading ------------------------------
ask race.json "$Q" >"$FD_TMP/race.status" &
QPID=$!
sleep 0.5
req POST "/v1/datasets/$PR/subjects/drv-0007/erase" "$NAV"; expect_status 200 "a driver's rows erased while the query waits"
wait "$QPID"
BODY=$(cat "$FD_TMP/race.json")
check "the query answers 409, not a false 500 ($(cat "$FD_TMP/race.status"))" test "$(cat "$FD_TMP/race.status")" = 409
expect_json .code aborted "... aborted: ask again"
check "... saying what happened" grep -q "changed while the query read it" <<<"$BODY"
req GET /v1/budgets "$CITY"
expect_json '[.budgets[]? | .epsilonSpent // 0] | add // 0' 0 "nothing was spent"
req GET "/v1/ledger/entries?action=QUERY" "$CITY"
expect_json '[.leaves[]? | select(.decoded.decision == "GRANTED")] | length' 0 "nothing was released"
check "fiduciad logged no integrity error" bash -c "! grep -q 'fails its integrity check' '$LOG'"

# ---- asked again, it is answered ------------------------------------------------------------
STATUS=$(ask again.json "$Q"); BODY=$(cat "$FD_TMP/again.json")
expect_status 200 "asked again, the question is answered"
expect_json '[.rows[].values[0].value] | add' 995 "over the rows left: 1,000 less the erased driver's 5"

# ---- real damage is still an integrity error --------------------------------------------------
psql_() { psql "host=$DATA/pg/run dbname=fiducia user=fiducia" -qAt "$@"; }
psql_ -c "UPDATE chunk_columns SET sealed = overlay(sealed placing '\\xff'::bytea from 40 for 1) WHERE col = 4" >/dev/null
STATUS=$(ask damaged.json "${Q/COUNT\"\}/SUM\",\"column\":\"speed_kmh\"\}}"); BODY=$(cat "$FD_TMP/damaged.json")
expect_status 500 "a damaged column still answers 500"
expect_json .code integrity "... integrity"
check "... and is logged as such" grep -q 'fails its integrity check' "$LOG"

fd_finish
