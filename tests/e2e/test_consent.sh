#!/usr/bin/env bash
# End to end: data-altruism consent. Give (one record, an array, NDJSON,
# protobuf), all-or-nothing bulk import with errors naming position and
# field, show with history, withdraw all or one purpose (twice is no error),
# give again after withdrawal; no raw subject identifier in a pg_dump, the
# log or the ledger; another holder can neither read nor change consents.
# (Which subjects a query counts is tested in integration/test_consent_set.)
source "$FIDUCIA_SRC/tests/harness/lib.sh"

fd_start consent || fd_finish
OP=$(fd_token operator operator)
PGURL="host=$DATA/pg/run dbname=fiducia user=fiducia"
q() { psql "$PGURL" -tAc "$1"; }
for o in "homeshare HOLDER" "roadnav HOLDER" "cnil REGULATOR"; do
	set -- $o
	req POST /v1/orgs "$OP" "{\"name\":\"$1\",\"kind\":\"$2\"}"; expect_status 201 "create $1"
done
HOME_T=$(fd_token homeshare holder); NAV=$(fd_token roadnav holder); REG=$(fd_token cnil regulator)
stays='{"name":"stays","personalData":true,"columns":[{"name":"host_id","type":"STRING","role":"SUBJECT"},{"name":"district","type":"STRING","role":"DIMENSION"},{"name":"stay_start","type":"TIMESTAMP","role":"TIME"},{"name":"nights","type":"INT64","role":"MEASURE","min":0,"max":365}]}'
req POST /v1/datasets "$HOME_T" "$stays"; expect_status 201 "a personal dataset"
DS=$(jq -r .id <<<"$BODY")
jams='{"name":"jams","personalData":false,"columns":[{"name":"district","type":"STRING","role":"DIMENSION"},{"name":"delay_s","type":"INT64","role":"MEASURE","min":0,"max":3600}]}'
req POST /v1/datasets "$NAV" "$jams"; JAMS=$(jq -r .id <<<"$BODY")

reqf() { # PATH TOKEN CONTENT_TYPE FILE: POST a file; sets STATUS and BODY
	STATUS=$(curl -s -o "$FD_TMP/body" -w '%{http_code}' -X POST "$URL$1" -H "Authorization: Bearer $2" \
		-H "Content-Type: $3" --data-binary @"$4"); BODY=$(cat "$FD_TMP/body")
}
MARK=host-canary-4417z
rec() { # SUBJECT PURPOSES_JSON [EXTRA_JSON]
	printf '{"subject":"%s","formId":"eu-altruism-form","formVersion":"1.0","language":"fr","objective":"Better housing policy in Lyon","purposes":%s,"dataCategories":["stays"],"recipientCategories":["PUBLIC_AUTHORITY"],"processingLocation":"EU","collectionMethod":"in-app checkbox","indicatedAt":"2026-03-01T10:00:00Z"%s}' "$1" "$2" "${3:+,$3}"
}
req POST "/v1/datasets/$DS/consents" "$HOME_T" "$(rec "$MARK" '["fiducia:HousingPolicy","dpv:ProvideOfficialStatistics"]')"
expect_status 201 "one record given"
expect_json '.receipts[0].state' GIVEN "receipt: state GIVEN"
expect_json '.receipts[0].recordId | test("^cr-[0-9a-f]{16}$")' true "receipt: record id"
expect_json '.receipts[0].purposes | join(",")' "fiducia:HousingPolicy,dpv:ProvideOfficialStatistics" "receipt: purposes"
expect_json '.receipts[0].recordHash | length' 44 "receipt: the record's hash"
expect_json '.ledgerIndex | tonumber > 0' true "receipt: the ledger entry"
check "no raw identifier in the response" bash -c "! grep -qF '$MARK' <<<'$BODY'"

# An array: all or nothing, errors name position and field.
ARR="[$(rec host-a '["fiducia:HousingPolicy"]'),$(rec host-b '["dpv:NoSuchPurpose"]'),$(rec host-c '["fiducia:HousingPolicy"]')]"
req POST "/v1/datasets/$DS/consents" "$HOME_T" "$ARR"
expect_status 400 "a bad record refuses the whole import"
expect_json '.message | test("^\\$\\[1\\]\\.purposes\\[0\\]")' true "the error names its position and field"
check "nothing stored from it" test "$(q "select count(*) from consents")" = 1
ARR="[$(rec host-a '["fiducia:HousingPolicy"]'),$(rec host-b '["dpv:ProvideOfficialStatistics"]' '"validUntil":"2027-01-01T00:00:00Z"'),$(rec 'host-c' '["fiducia:HousingPolicy"]' '"validFrom":"2030-01-01T00:00:00Z"')]"
req POST "/v1/datasets/$DS/consents" "$HOME_T" "$ARR"
expect_status 201 "an array of three"
expect_json '.receipts | length' 3 "three receipts, in order"
for bad in '"subject":""' '"id":"cr-0000000000000000"' '"processing":["read"]' '"language":"not a tag"' '"validUntil":"2020-01-01T00:00:00Z"'; do
	req POST "/v1/datasets/$DS/consents" "$HOME_T" "$(rec host-x '["fiducia:HousingPolicy"]' "$bad")"
	expect_status 400 "refused: $bad"
done
req POST "/v1/datasets/$DS/consents" "$HOME_T" "$(rec host-x '[]')"; expect_status 400 "no purpose"
check "still four records" test "$(q "select count(*) from consents")" = 4

# NDJSON, 20,000 records in one call.
for i in $(seq 1 20000); do rec "bulk-$i" '["fiducia:HousingPolicy"]'; echo; done >"$FD_TMP/bulk.ndjson"
reqf "/v1/datasets/$DS/consents" "$HOME_T" application/x-ndjson "$FD_TMP/bulk.ndjson"
expect_status 201 "20,000 records as NDJSON"
expect_json '.receipts | length' 20000 "20,000 receipts"
{ head -5 "$FD_TMP/bulk.ndjson"; echo '{"subject":"z","formId":"f","objective":"o","purposes":["fiducia:HousingPolicy"],"colour":"red"}'; } >"$FD_TMP/bad.ndjson"
reqf "/v1/datasets/$DS/consents" "$HOME_T" application/x-ndjson "$FD_TMP/bad.ndjson"
expect_status 400 "NDJSON with one bad line"
expect_json '.message | test("^line 6: ")' true "names the line"
check "nothing stored from it" test "$(q "select count(*) from consents")" = 20004
# Protobuf, encoded by protoc.
cat >"$FD_TMP/c.txt" <<'TXT'
records { subject: "pb-host-1" form_id: "f" objective: "o" purposes: "dpv:ProvideOfficialStatistics" }
TXT
protoc -I "$FIDUCIA_SRC/proto" -I /usr/include --encode=fiducia.v1.ConsentBatch fiducia/v1/consent.proto <"$FD_TMP/c.txt" >"$FD_TMP/c.bin"
reqf "/v1/datasets/$DS/consents" "$HOME_T" application/x-protobuf "$FD_TMP/c.bin"
expect_status 201 "a ConsentBatch as protobuf"
echo 'records { subject: "pb-host-2" form_id: "f" objective: "o" purposes: "dpv:ProvideOfficialStatistics" valid_from { seconds: 9000000000000000 } }' |
	protoc -I "$FIDUCIA_SRC/proto" -I /usr/include --encode=fiducia.v1.ConsentBatch fiducia/v1/consent.proto >"$FD_TMP/c2.bin"
reqf "/v1/datasets/$DS/consents" "$HOME_T" application/x-protobuf "$FD_TMP/c2.bin"
expect_status 400 "a protobuf time out of range is refused, not overflowed"
expect_json '.message | test("validFrom")' true "and named"

# ---- show, withdraw, give again ----------------------------------------------------
req GET "/v1/datasets/$DS/consents/$MARK" "$HOME_T"; expect_status 200 "show a subject's records"
expect_json '.records[0].subjectPseudonym | length' 24 "identified by its pseudonym"
expect_json '.records[0].subject // ""' "" "never by the raw identifier"
expect_json '.records[0].intermediary' "Fiducia data intermediary (development)" "the intermediary's identity"
expect_json '.records[0].dataHolder' homeshare "the data holder"
expect_json '.records[0].processing | join(",")' aggregate "aggregation only"
expect_json '.records[0].legalBasis | test("DGA Art. 25")' true "legal basis"
expect_json '[.records[0].history[].type] | join(",")' GIVEN "history: given"
req DELETE "/v1/datasets/$DS/consents/$MARK?purpose=dpv:ProvideOfficialStatistics" "$HOME_T"
expect_status 200 "withdraw one purpose"
expect_json '.receipts[0].state' GIVEN "still given for the other"
expect_json '.receipts[0].purposes | join(",")' "fiducia:HousingPolicy" "one purpose left"
expect_json '.receipts[0].withdrawnPurposes | join(",")' "dpv:ProvideOfficialStatistics" "one withdrawn"
req DELETE "/v1/datasets/$DS/consents/$MARK" "$HOME_T"; expect_status 200 "withdraw everything"
expect_json '.receipts[0].state' WITHDRAWN "WITHDRAWN"
req DELETE "/v1/datasets/$DS/consents/$MARK" "$HOME_T"; expect_status 200 "withdrawing twice is not an error"
expect_json '.ledgerIndex // "0"' 0 "and records nothing new"
req POST "/v1/datasets/$DS/consents" "$HOME_T" "$(rec "$MARK" '["fiducia:HousingPolicy"]')"; expect_status 201 "give again after withdrawal"
req GET "/v1/datasets/$DS/consents/$MARK" "$HOME_T"
expect_json '[.records[].state] | join(",")' "WITHDRAWN,GIVEN" "a new record; the old one kept"
expect_json '[.records[0].history[].type] | join(",")' "GIVEN,PURPOSE_WITHDRAWN,WITHDRAWN" "the history of the first"
req GET "/v1/datasets/$DS/consents/nobody-at-all" "$HOME_T"; expect_status 404 "an unknown subject"
req DELETE "/v1/datasets/$DS/consents/$MARK?purpose=dpv:Nothing" "$HOME_T"; expect_status 400 "an unknown purpose"

# ---- who may ---------------------------------------------------------------------------
req GET "/v1/datasets/$DS/consents/$MARK" "$NAV"; expect_status 404 "another holder cannot read them"
req DELETE "/v1/datasets/$DS/consents/$MARK" "$NAV"; expect_status 404 "nor withdraw them"
req POST "/v1/datasets/$DS/consents" "$NAV" "$(rec x '["fiducia:HousingPolicy"]')"; expect_status 404 "nor give"
req GET "/v1/datasets/$DS/consents/$MARK" "$REG"; expect_status 403 "a regulator reads the ledger, not the records"
req POST "/v1/datasets/$JAMS/consents" "$NAV" "$(rec x '["fiducia:HousingPolicy"]')"; expect_status 409 "a non-personal dataset takes no consent"

# ---- the canary ------------------------------------------------------------------------
pg_dump "$PGURL" -f "$FD_TMP/dump.sql"
check "consents are in the dump" grep -q "consent_withdrawals" "$FD_TMP/dump.sql"
check "no raw subject identifier in pg_dump" bash -c "! grep -aqF -e '$MARK' -e 'bulk-19999' -e 'pb-host-1' '$FD_TMP/dump.sql'"
check "none in the log (the path's subject is redacted)" bash -c "! grep -aqF -e '$MARK' -e 'bulk-1' '$LOG'"
# Every change bumped the dataset's consent version and stamped what it wrote,
# which is how a cached view (consent_cache.c) finds what changed.
check "every consent change bumped the version" test "$(q "SELECT version >= 7 AND full_since = 0 FROM consent_versions WHERE dataset = '$DS'")" = t
check "every record is stamped" test "$(q "SELECT count(*) FROM consents WHERE dataset = '$DS' AND (version = 0 OR version > (SELECT version FROM consent_versions WHERE dataset = '$DS'))")" = 0
check "so is every purpose withdrawn" test "$(q "SELECT count(*) FROM consent_withdrawals w JOIN consents c ON c.id = w.consent WHERE c.dataset = '$DS' AND w.version = 0")" = 0
req GET "/v1/ledger/entries?dataset=$DS&action=CONSENT_WITHDRAWN" "$REG"
expect_json '.leaves | length' 2 "withdrawals ledgered (the repeat is not)"
expect_json '.leaves[0].decoded.subjectPseudonyms | length' 1 "with the subject's pseudonym only"
expect_json '.leaves[0].decoded.purpose' "dpv:ProvideOfficialStatistics" "and the purpose"
req GET "/v1/ledger/entries?dataset=$DS" "$HOME_T"
expect_json '.leaves | length > 5' true "a holder reads the entries about its dataset"
req GET "/v1/ledger/entries?dataset=$DS" "$NAV"
expect_json '.leaves | length' 0 "another holder reads none of them"
req GET "/v1/ledger/entries?dataset=$DS&action=CONSENT_GIVEN" "$REG"
expect_json '.leaves | length' 5 "every import ledgered"

# ---- erasure -------------------------------------------------------------------------
{ echo "host_id,district,stay_start,nights"
  for i in $(seq 1 300); do
	h=other-$((i % 7)); [ $((i % 3)) = 0 ] && h=$MARK
	echo "$h,Lyon $((i % 9 + 1))e,2026-0$((i % 9 + 1))-01T00:00:00Z,$((i % 14 + 1))"
  done; } >"$FD_TMP/stays1.csv"
{ echo "host_id,district,stay_start,nights"; for i in 1 2 3; do echo "$MARK,Lyon 1er,2026-05-0${i}T00:00:00Z,2"; done; } >"$FD_TMP/stays2.csv"
for b in 1 2; do
	STATUS=$(curl -s -o "$FD_TMP/body" -w '%{http_code}' -X POST "$URL/v1/datasets/$DS/batches" -H "Authorization: Bearer $HOME_T" \
		-H 'Content-Type: text/csv' -H "Idempotency-Key: stays-$b" --data-binary @"$FD_TMP/stays$b.csv"); BODY=$(cat "$FD_TMP/body")
	expect_status 201 "stays batch $b deposited"
done
rows() { curl -s -H "Authorization: Bearer $HOME_T" "$URL/v1/datasets/$DS" | jq -r '.rows // "0"'; }
check "303 rows" test "$(rows)" = 303
OTHER3=$(grep -c '^other-3,' "$FD_TMP/stays1.csv")
peek() { "$FIDUCIA_BUILD/vault_peek" "$PGURL" "$DATA/keys/kek.key" "$DS" 0 3; }
peek >"$FD_TMP/before.txt"
check "the stored values read back: 8 subjects, 303 rows" test "$(wc -l <"$FD_TMP/before.txt"),$(awk '{s += $2} END {print s}' "$FD_TMP/before.txt")" = "8,303"
req POST "/v1/datasets/$DS/subjects/$MARK/erase" "$NAV"; expect_status 404 "another holder cannot erase"
req POST "/v1/datasets/$DS/subjects/$MARK/erase" "$HOME_T"; expect_status 200 "erase a subject"
expect_json '.rowsErased' 103 "every row of theirs (100 + 3)"
expect_json '.chunksResealed' 2 "from both chunks"
expect_json '.consentRecordsErased | tonumber >= 2' true "with their consent records"
check "the dataset holds 200 rows" test "$(rows)" = 200
# Read back: the erased subject's rows are gone, every other subject's rows and
# values are exactly as they were.
peek >"$FD_TMP/after.txt"
ERASED=$(comm -23 "$FD_TMP/before.txt" "$FD_TMP/after.txt")
check "exactly one subject's rows are gone" test "$(wc -l <<<"$ERASED")" = 1
check "... the erased subject's 103 rows" test "$(awk '{print $2}' <<<"$ERASED")" = 103
check "every other subject's rows and values intact" test "$(comm -13 "$FD_TMP/before.txt" "$FD_TMP/after.txt" | wc -l),$(wc -l <"$FD_TMP/after.txt")" = "0,7"
req POST "/v1/datasets/$DS/verify" "$HOME_T"; expect_json '.ok' true "every ciphertext still opens, the emptied chunk accounted for"
expect_json '.rows' 200 "200 rows remain in the vault"
req GET "/v1/datasets/$DS/consents/$MARK" "$HOME_T"; expect_status 404 "no consent record left"
req POST "/v1/datasets/ds-0000000000000000/subjects/x/erase" "$HOME_T"; expect_status 404 "an unknown dataset"
req POST "/v1/datasets/$DS/subjects/other-3/erase" "$HOME_T"
expect_json '.rowsErased' "$OTHER3" "the next subject's rows all survived the first erasure"
check "and went with the second" test "$(rows)" = $((200 - OTHER3))
req POST "/v1/datasets/$DS/subjects/$MARK/erase" "$HOME_T"; expect_json '.rowsErased // "0"' 0 "erasing twice finds nothing more"
check "an erasure makes cached views reload in full" test "$(q "SELECT full_since = version FROM consent_versions WHERE dataset = '$DS'")" = t
req GET "/v1/ledger/entries?dataset=$DS&action=CONSENT_ERASED" "$REG"
expect_json '.leaves | length' 3 "erasures are ledgered"
expect_json '.leaves[0].decoded.subjectPseudonyms | length' 1 "by pseudonym"

# ---- the activity report (DGA Art. 20), from the ledger -----------------------------
req GET "/v1/reports/activity?dataset=$DS" "$REG"; expect_status 200 "the regulator's activity report"
expect_json '.rows | length' 1 "one row: the holder's own actions on the dataset"
expect_json '.rows[0].requester + " " + .rows[0].holder' "homeshare homeshare" "by whom"
expect_json '.rows[0].deposits' 2 "two deposits"
expect_json '.rows[0].consentsGiven' 20006 "consent records given"
expect_json '.rows[0].consentsWithdrawn' 2 "withdrawals"
expect_json '.rows[0].consentsErased' 3 "erasures"
req GET "/v1/reports/activity?dataset=$DS&format=csv" "$REG"; expect_status 200 "as CSV"
check "CSV header" grep -q '^dataset,holder,purpose,requester,queries_granted,queries_denied,top_denial_reasons' <<<"$BODY"
check "CSV row" grep -q "^$DS,homeshare,,homeshare,0,0,,0,2,20006,2,3," <<<"$BODY"
req GET "/v1/reports/activity?dataset=$DS" "$REG" "" -H 'Accept: text/csv'; expect_status 200 "CSV asked for by Accept: text/csv"
check "... is CSV" grep -q '^dataset,holder,purpose,requester' <<<"$BODY"
req GET "/v1/reports/activity?from=2030-01-01T00:00:00Z" "$REG"; expect_json '.rows | length' 0 "an empty range"
req GET "/v1/reports/activity" "$NAV"; expect_json "[.rows[].dataset] | index(\"$DS\")" null "a holder sees only its own datasets"
req GET "/v1/reports/activity?from=yesterday" "$REG"; expect_status 400 "a bad time"
req GET "/v1/reports/activity" "$(fd_token city-x user)"; expect_status 403 "no report for a data user"

# ---- the CLI ---------------------------------------------------------------------------
export FIDUCIA_URL=$URL FIDUCIA_TOKEN=$HOME_T
check "fiducia consent give" bash -c "'$FIDUCIA' consent give $DS --subject cli-host-1 --purposes fiducia:HousingPolicy,dpv:ProvideOfficialStatistics --form-id f1 --objective 'housing' | grep -q GIVEN"
check "fiducia consent withdraw --purpose" bash -c "'$FIDUCIA' consent withdraw $DS cli-host-1 --purpose fiducia:HousingPolicy | grep -q 'withdrawn fiducia:HousingPolicy'"
check "fiducia consent show: the history" bash -c "'$FIDUCIA' consent show $DS cli-host-1 | grep -q 'PURPOSE_WITHDRAWN fiducia:HousingPolicy'"
head -250 "$FD_TMP/bulk.ndjson" | sed 's/bulk-/cli-bulk-/' >"$FD_TMP/cli.ndjson"
OUT=$("$FIDUCIA" consent import "$DS" "$FD_TMP/cli.ndjson" --per-call 100)
check "fiducia consent import: NDJSON in calls of 100" grep -q "250 consent records given" <<<"$OUT"
sed -i '120s/fiducia:HousingPolicy/dpv:Nope/' "$FD_TMP/cli.ndjson"
"$FIDUCIA" consent import "$DS" "$FD_TMP/cli.ndjson" --per-call 100 >/dev/null 2>"$FD_TMP/err"; RC=$?
check "a refused call stops the import" test "$RC" = 1
check "and says which lines it held" grep -q "lines 101-200" "$FD_TMP/err"
check "fiducia consent erase" bash -c "'$FIDUCIA' consent erase $DS other-4 | grep -q 'erased: [1-9][0-9]* rows'"

pg_dump "$PGURL" -f "$FD_TMP/dump2.sql"
check "after deposits and erasures: still no raw identifier in pg_dump" bash -c "! grep -aqF -e '$MARK' -e 'other-3' -e 'cli-host-1' '$FD_TMP/dump2.sql'"
check "nor in the log" bash -c "! grep -aqF -e '$MARK' -e 'other-3' '$LOG'"

fd_stop "$PID"; check "fiduciad exits cleanly" test "$RC" = 0
fd_finish
