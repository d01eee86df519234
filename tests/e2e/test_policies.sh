#!/usr/bin/env bash
# End to end: policies in the server. The baseline and dataset policies from
# policy/examples/ are put, versioned (immutable, numbered, content-hashed),
# read back by version, withdrawn; every change is a ledger entry; a holder
# cannot touch another holder's policy, a user cannot put one; dry-run
# evaluations over HTTP give the decision, obligations and reasons; a data
# user sees exactly the datasets it holds a grant on; the CLI's policy
# commands, including the offline check.
source "$FIDUCIA_SRC/tests/harness/lib.sh"

fd_start pol || fd_finish
OP=$(fd_token operator operator)
EX="$FIDUCIA_SRC/policy/examples"
for o in "roadnav HOLDER" "homeshare HOLDER" "city-lyon PUBLIC_AUTHORITY" "adco HOLDER" "cnil REGULATOR"; do
	set -- $o
	req POST /v1/orgs "$OP" "{\"name\":\"$1\",\"kind\":\"$2\"}"; expect_status 201 "create $1"
done
NAV=$(fd_token roadnav holder); HOME=$(fd_token homeshare holder)
CITY=$(fd_token city-lyon user); ADCO=$(fd_token adco user); REG=$(fd_token cnil regulator)
b64sha() { sha256sum "$1" | cut -c1-64 | xxd -r -p | base64; }
putdoc() { # METHOD PATH TOKEN FILE
	STATUS=$(curl -s -o "$FD_TMP/body" -w '%{http_code}' -X "$1" "$URL$2" -H "Authorization: Bearer $3" \
		-H 'Content-Type: application/json' --data-binary @"$4"); BODY=$(cat "$FD_TMP/body")
}

# ---- the baseline -------------------------------------------------------------
req GET /v1/policy/baseline "$OP"; expect_status 404 "no baseline at first"
putdoc PUT /v1/policy/baseline "$NAV" "$EX/baseline.json"; expect_status 403 "a holder cannot put the baseline"
putdoc PUT /v1/policy/baseline "$OP" "$EX/baseline.json"; expect_status 201 "the operator puts the baseline"
expect_json '.version' 1 "version 1"
expect_json '.sha256' "$(b64sha "$EX/baseline.json")" "content-hashed: SHA-256 of the document's bytes"
putdoc PUT /v1/policy/baseline "$OP" "$EX/baseline.json"; expect_status 200 "the same document again: no new version"
expect_json '.version' 1 "still version 1"

# ---- dataset policies -----------------------------------------------------------
jams='{"name":"traffic-jams","personalData":false,"columns":[{"name":"city","type":"STRING","role":"DIMENSION"},{"name":"district","type":"STRING","role":"DIMENSION"},{"name":"road_class","type":"INT64","role":"DIMENSION"},{"name":"observed_at","type":"TIMESTAMP","role":"TIME"},{"name":"delay_s","type":"INT64","role":"MEASURE","min":0,"max":36000},{"name":"jam_length_m","type":"INT64","role":"MEASURE","min":0,"max":100000}]}'
req POST /v1/datasets "$NAV" "$jams"; expect_status 201 "roadnav registers traffic-jams"
DS=$(jq -r .id <<<"$BODY")
req GET /v1/datasets "$CITY"; expect_json '.datasets | length' 0 "no grant yet: the city sees nothing"
req GET "/v1/datasets/$DS" "$CITY"; expect_status 404 "nor the dataset itself"
req GET "/v1/datasets/$DS/policy" "$NAV"; expect_status 404 "no policy yet"
putdoc PUT "/v1/datasets/$DS/policy" "$HOME" "$EX/traffic-jams.json"; expect_status 403 "another holder cannot put it"
putdoc PUT "/v1/datasets/$DS/policy" "$CITY" "$EX/traffic-jams.json"; expect_status 403 "a user cannot put one"
putdoc PUT "/v1/datasets/$DS/policy" "$NAV" "$EX/traffic-jams.json"; expect_status 201 "the holder puts its policy (target by name)"
expect_json '.version' 1 "version 1"
expect_json '.scope' "$DS" "scoped to the dataset"
V1SHA=$(jq -r .sha256 <<<"$BODY")
check "hash of the exact bytes" test "$V1SHA" = "$(b64sha "$EX/traffic-jams.json")"
jq --arg ds "$DS" '.target = $ds | (.permission[0].constraint[] | select(.leftOperand == "fiducia:minGroupSize") | .rightOperand) = 15' "$EX/traffic-jams.json" >"$FD_TMP/v2.json"
putdoc PUT "/v1/datasets/$DS/policy" "$NAV" "$FD_TMP/v2.json"; expect_status 201 "a new version (target by id)"
expect_json '.version' 2 "version 2"
req GET "/v1/datasets/$DS/policy" "$NAV"; expect_json '.version' 2 "GET: the version in force"
req GET "/v1/datasets/$DS/policy?version=1" "$CITY"; expect_json '.sha256' "$V1SHA" "GET ?version=1: the first, unchanged"
check "its document byte for byte" test "$(jq -r .document <<<"$BODY")" = "$(cat "$EX/traffic-jams.json")"
req GET "/v1/datasets/$DS/policy?version=9" "$NAV"; expect_status 404 "no version 9"
req GET "/v1/datasets/$DS/policy" "$HOME"; expect_status 403 "another holder cannot read it"

bad_policy() { # JQ_EDIT WHAT EXPECTED
	jq "$1" "$EX/traffic-jams.json" >"$FD_TMP/bad.json"
	putdoc PUT "/v1/datasets/$DS/policy" "$NAV" "$FD_TMP/bad.json"
	if [ "$STATUS" = 400 ] && grep -qF -- "$3" <<<"$BODY"; then ok "policy refused: $2"; else fail "policy refused: $2: $STATUS $BODY"; fi
}
bad_policy '.assigner = "homeshare"' "another assigner" '/assigner: must be the dataset'
bad_policy '.target = "stays"' "another target" '/target: must be this dataset'
bad_policy '.permission[0].constraint[0].rightOperand = "dpv:NoSuchPurpose"' "an unknown purpose" '/permission/0/constraint/0'
bad_policy '.permission[0].action = "read"' "an action other than aggregate" '/permission/0/action'
printf '{"broken": ' >"$FD_TMP/bad.json"; putdoc PUT "/v1/datasets/$DS/policy" "$NAV" "$FD_TMP/bad.json"
expect_status 400 "malformed JSON"
req GET "/v1/datasets/$DS/policy" "$NAV"; expect_json '.version' 2 "refused documents leave no version"

# ---- grants: what a data user sees -----------------------------------------------
req GET /v1/datasets "$CITY"; expect_json '[.datasets[].id] | join(",")' "$DS" "a public authority now sees the granted dataset"
req GET "/v1/datasets/$DS" "$CITY"; expect_status 200 "and reads its metadata"
req GET /v1/datasets "$ADCO"; expect_json '.datasets | length' 0 "a user of another kind holds no grant: sees nothing"

# ---- dry-run evaluation ------------------------------------------------------------
ev() { # TOKEN JSON
	req POST /v1/policy/evaluate "$1" "$2"
}
ev "$CITY" "{\"dataset\":\"$DS\",\"purpose\":\"dpv:ImproveTransportMobility\",\"measures\":[{\"fn\":\"SUM\",\"column\":\"delay_s\"}],\"groupBy\":[{\"column\":\"observed_at\",\"bucket\":\"DAY\"},{\"column\":\"district\"}]}"
expect_status 200 "evaluate"
expect_json '.effect' PERMIT "mobility planning by the city: PERMIT"
expect_json '.obligations.minGroupSize' 15 "the strictest k wins (holder 15 over baseline 10)"
expect_json '.obligations.finestTimeBucket' DAY "granularity obligation"
expect_json '[.policies[].version] | join(",")' "1,2" "decided under baseline v1 and dataset policy v2"
ev "$CITY" "{\"dataset\":\"$DS\",\"purpose\":\"dpv:Marketing\"}"
expect_json '.effect' DENY "advertising: DENY"
expect_json '[.reasons[] | select(test("prohibit"))] | length > 0' true "because a prohibition matched, said in words"
ev "$CITY" "{\"dataset\":\"$DS\",\"purpose\":\"dpv:ImproveTransportMobility\",\"groupBy\":[{\"column\":\"observed_at\",\"bucket\":\"HOUR\"}]}"
expect_json '.effect' DENY "hourly buckets: DENY"
expect_json '[.reasons[] | select(test("HOUR"))] | length > 0' true "the reason names the bucket"
ev "$ADCO" "{\"dataset\":\"$DS\",\"purpose\":\"dpv:ImproveTransportMobility\"}"
expect_json '.effect' DENY "a requester of another kind: DENY"
ev "$NAV" "{\"dataset\":\"$DS\",\"purpose\":\"dpv:ImproveTransportMobility\",\"requester\":\"city-lyon\"}"
expect_json '.effect' PERMIT "the holder dry-runs a request for the city"
ev "$HOME" "{\"dataset\":\"$DS\",\"purpose\":\"dpv:ImproveTransportMobility\",\"requester\":\"city-lyon\"}"
expect_status 403 "another holder cannot evaluate on it"
ev "$CITY" "{\"dataset\":\"$DS\",\"purpose\":\"dpv:Nothing\"}"; expect_status 400 "an unknown purpose is a 400"
ev "$CITY" "{\"dataset\":\"$DS\",\"purpose\":\"dpv:ImproveTransportMobility\",\"requester\":\"adco\"}"
expect_status 403 "a user evaluates for itself only"

# ---- withdrawal ----------------------------------------------------------------
req DELETE "/v1/datasets/$DS/policy" "$HOME"; expect_status 403 "another holder cannot withdraw it"
req DELETE "/v1/datasets/$DS/policy" "$NAV"; expect_status 200 "the holder withdraws its permission"
expect_json '.withdrawn' true "a withdrawal version"
expect_json '.version' 3 "version 3"
req GET "/v1/datasets/$DS/policy" "$NAV"; expect_status 404 "none in force"
req GET "/v1/datasets/$DS/policy?version=2" "$NAV"; expect_status 200 "older versions stay readable"
ev "$CITY" "{\"dataset\":\"$DS\",\"purpose\":\"dpv:ImproveTransportMobility\"}"
expect_json '.effect' DENY "every later request is denied"
expect_json '[.reasons[] | select(test("no policy of the holder"))] | length' 1 "and says why"
req GET /v1/datasets "$CITY"; expect_json '.datasets | length' 0 "the grant is gone from the city's list"
req DELETE "/v1/datasets/$DS/policy" "$NAV"; expect_status 404 "nothing left to withdraw"

# ---- the ledger ------------------------------------------------------------------
req GET "/v1/ledger/entries?action=POLICY_SET" "$REG"
expect_json '.leaves | length' 3 "three versions set (baseline, v1, v2)"
expect_json '[.leaves[].decoded.policies[0].version] | map(. // "0") | join(",")' "1,1,2" "each names its version"
expect_json '.leaves[2].decoded.policies[0].sha256' "$(b64sha "$FD_TMP/v2.json")" "and its hash"
req GET "/v1/ledger/entries?action=POLICY_WITHDRAWN" "$REG"
expect_json '.leaves[0].decoded.dataset' "$DS" "the withdrawal is ledgered"

# ---- the CLI --------------------------------------------------------------------
export FIDUCIA_URL=$URL
check "policy check: a valid example" "$FIDUCIA" policy check "$EX/stays.json"
check "policy check --baseline" "$FIDUCIA" policy check --baseline "$EX/baseline.json"
jq '.permission[0].constraint[0].operator = "gt"' "$EX/stays.json" >"$FD_TMP/badop.json"
"$FIDUCIA" policy check "$FD_TMP/badop.json" 2>"$FD_TMP/err"; RC=$?
check "policy check: an invalid one exits 1" test "$RC" = 1
check "with the pointer of the fault" grep -q "/permission/0/constraint/0" "$FD_TMP/err"
putdoc PUT "/v1/datasets/$DS/policy" "$NAV" "$FD_TMP/badop.json"
check "the server gives the same message" grep -qF "$(sed 's/^[^:]*: //' "$FD_TMP/err")" <<<"$BODY"
export FIDUCIA_TOKEN=$NAV
check "fiducia policy put" bash -c "'$FIDUCIA' policy put $DS '$EX/traffic-jams.json' | grep -q 'version: 4'"
check "fiducia policy get --version 2" bash -c "'$FIDUCIA' policy get $DS --version 2 | grep -q 'version: 2'"
OUT=$("$FIDUCIA" policy explain "$DS" --purpose dpv:ImproveTransportMobility --requester city-lyon --group-by observed_at:HOUR)
check "fiducia policy explain: DENY with the reason" grep -q "because: .*HOUR" <<<"$OUT"
check "fiducia policy withdraw" bash -c "'$FIDUCIA' policy withdraw $DS | grep -q 'state: withdrawn'"
FIDUCIA_TOKEN=$OP check "fiducia policy get --baseline" bash -c "FIDUCIA_TOKEN=$OP '$FIDUCIA' policy get --baseline | grep -q 'scope: baseline'"

fd_stop "$PID"; check "fiduciad exits cleanly" test "$RC" = 0
fd_finish
