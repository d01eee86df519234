#!/usr/bin/env bash
# End to end: the encrypted vault. Datasets and their schema rules; deposits
# as CSV, JSON and binary protobuf, all or nothing, idempotent by batch id;
# a canary that no deposited value (in text or binary form) and no raw
# subject reaches PostgreSQL, the ledger or the log; tampering and misplaced
# chunks detected; data-key rotation; withdrawal destroys keys and chunks;
# the CLI's dataset and deposit commands.
source "$FIDUCIA_SRC/tests/harness/lib.sh"

fd_start vault || fd_finish
OP=$(fd_token operator operator)
PGURL="host=$DATA/pg/run dbname=fiducia user=fiducia"
SCHEMA="$FIDUCIA_SRC/tests/e2e/data/probe-speeds.json"
q() { psql "$PGURL" -tAc "$1"; }

for o in "navapp HOLDER" "rentals HOLDER" "city-lyon PUBLIC_AUTHORITY" "cnil REGULATOR"; do
	set -- $o
	req POST /v1/orgs "$OP" "{\"name\":\"$1\",\"kind\":\"$2\"}"; expect_status 201 "create $1"
done
NAV=$(fd_token navapp holder); RENT=$(fd_token rentals holder)
CITY=$(fd_token city-lyon user); REG=$(fd_token cnil regulator)

# ---- datasets ---------------------------------------------------------------
req POST /v1/datasets "$NAV" "$(cat "$SCHEMA")"; expect_status 201 "the issue's schema is accepted as it stands"
DS=$(jq -r .id <<<"$BODY")
expect_json '.id | test("^ds-[0-9a-f]{16}$")' true "server-assigned id"
expect_json '.holder' navapp "holder recorded"
expect_json '[.columns[] | .role] | join(",")' "SUBJECT,TIME,DIMENSION,DIMENSION,MEASURE,MEASURE" "roles kept"
expect_json '.columns[4].max' 200 "bounds kept (written 200, not 2e+02)"
expect_json '.keyVersion' 1 "first data key"
req POST /v1/datasets "$NAV" "$(cat "$SCHEMA")"; expect_status 409 "same name twice"
req POST /v1/datasets "$CITY" "$(cat "$SCHEMA")"; expect_status 403 "a data user cannot register datasets"

bad_schema() { # JQ_EDIT WHAT PATH_FRAGMENT
	req POST /v1/datasets "$NAV" "$(jq -c "$1 | .name = \"x-$RANDOM\"" "$SCHEMA")"
	if [ "$STATUS" = 400 ] && grep -qF "$3" <<<"$BODY"; then ok "schema refused: $2"; else fail "schema refused: $2: $STATUS $BODY"; fi
}
bad_schema '.columns[2].role = "SUBJECT"' "two subjects" '$.columns[2].role'
bad_schema 'del(.columns[0])' "personal data without a subject" 'SUBJECT'
bad_schema '.columns[4].max = 0' "min >= max" '$.columns[4]'
bad_schema '.columns[2].role = "MEASURE"' "a STRING measure" '$.columns[2].type'
bad_schema '.columns[3].max = 5' "bounds on a dimension" '$.columns[3]'
bad_schema '.columns[1].name = "Bad Name"' "a bad column name" '$.columns[1].name'
bad_schema '.columns[1].name = "driver_id"' "a duplicate column" '$.columns[1].name'
bad_schema '.columns[1].type = "STRING"' "TIME that is not a TIMESTAMP" '$.columns[1].type'
bad_schema '.columns[5].type = "DATE"' "an unknown type" 'columns[5].type'

# ---- deposits -----------------------------------------------------------------
rows() { jq -r '.rows // "0"' <<<"$(curl -s -H "Authorization: Bearer $NAV" "$URL/v1/datasets/$DS")"; }
MARK=zqxcanary7731
NUM=8765432109876 # a unique number: its text, int64 and float64 forms must not leak
cat >"$FD_TMP/b1.csv" <<CSV
pub_time,driver_id,speed_kmh,district,road_type,delay_s
2026-01-05T08:00:00Z,drv-$MARK,57.25,Lyon 3e,2,120
1767600000000,drv-0002,31.5,"Lyon $MARK, quoted",1,$((NUM % 3600))
2026-01-05T09:30:00.5+01:00,drv-0003,88,"Lyon ""7e""",3,0
2026-01-05T10:00:00Z,drv-$MARK,12.75,"Lyon
2e",1,3600
CSV
# the unique number, in a column that can hold it
cp "$SCHEMA" "$FD_TMP/wide.json"
jq -c '.name = "wide" | .columns += [{"name":"fleet_size","type":"INT64","role":"DIMENSION"},{"name":"fuel","type":"FLOAT64","role":"DIMENSION"}]' "$SCHEMA" >"$FD_TMP/wide.json"
req POST /v1/datasets "$NAV" "$(cat "$FD_TMP/wide.json")"; expect_status 201 "a second dataset"
DS2=$(jq -r .id <<<"$BODY")
{ echo "driver_id,pub_time,district,road_type,speed_kmh,delay_s,fleet_size,fuel"
  echo "drv-$MARK,2026-01-05T08:00:00Z,Lyon 1er,1,10,10,$NUM,$NUM.5"
  echo "drv-b,2026-01-05T08:00:00Z,Lyon 1er,1,10,10,3,2.25"; } >"$FD_TMP/wide.csv"

CTYPE=text/csv req POST "/v1/datasets/$DS/batches" "$NAV" "$(cat "$FD_TMP/b1.csv")" -H "Idempotency-Key: b1"
expect_status 201 "CSV batch stored (columns in another order, RFC 3339 and epoch ms, quotes, CRLF-free newlines in quotes)"
expect_json '.rows' 4 "receipt: row count"
expect_json '.batchId' b1 "receipt: batch id"
expect_json '.sha256 | length' 44 "receipt: SHA-256 of the canonical content"
expect_json '.storedAt | test("Z$")' true "receipt: stored at"
R1=$BODY
CTYPE=text/csv req POST "/v1/datasets/$DS/batches" "$NAV" "$(cat "$FD_TMP/b1.csv")" -H "Idempotency-Key: b1"
expect_status 200 "the same batch again: its original receipt"
check "identical receipt" test "$(jq -S . <<<"$BODY")" = "$(jq -S . <<<"$R1")"
check "nothing stored twice" test "$(rows)" = 4
sed 's/57.25/57.5/' "$FD_TMP/b1.csv" >"$FD_TMP/b1x.csv"
CTYPE=text/csv req POST "/v1/datasets/$DS/batches" "$NAV" "$(cat "$FD_TMP/b1x.csv")" -H "Idempotency-Key: b1"
expect_status 409 "the same id with other content"
# The same rows with the header in schema order hash the same: canonical content.
{ echo "driver_id,pub_time,district,road_type,speed_kmh,delay_s"
  echo "drv-$MARK,2026-01-05T08:00:00Z,Lyon 3e,2,57.25,120"
  echo "drv-0002,2026-01-05T08:00:00Z,\"Lyon $MARK, quoted\",1,31.50,$((NUM % 3600))"
  echo "drv-0003,2026-01-05T08:30:00.500Z,\"Lyon \"\"7e\"\"\",3,88.0,0"
  printf 'drv-%s,2026-01-05T10:00:00Z,"Lyon\n2e",1,12.75,3600\r\n' "$MARK"; } >"$FD_TMP/b1c.csv"
CTYPE=text/csv req POST "/v1/datasets/$DS/batches" "$NAV" "$(cat "$FD_TMP/b1c.csv")" -H "Idempotency-Key: b1"
expect_status 200 "the same rows written differently are the same content (canonical SHA-256)"

CTYPE=text/csv req POST "/v1/datasets/$DS2/batches" "$NAV" "$(cat "$FD_TMP/wide.csv")" -H "Idempotency-Key: w1"
expect_status 201 "the unique number deposited"

# JSON: typed cells, or text cells read like CSV.
COLS='["driver_id","pub_time","district","road_type","speed_kmh","delay_s"]'
req POST "/v1/datasets/$DS/batches" "$NAV" "{\"batchId\":\"j1\",\"columns\":$COLS,\"rows\":[{\"cells\":[{\"stringValue\":\"drv-0009\"},{\"timestampValue\":\"2026-01-06T00:00:00Z\"},{\"stringValue\":\"Lyon 1er\"},{\"intValue\":\"4\"},{\"doubleValue\":44.5},{\"intValue\":9}]},{\"cells\":[{\"stringValue\":\"drv-0010\"},{\"stringValue\":\"1767657600000\"},{\"stringValue\":\"Lyon 9e\"},{\"stringValue\":\"5\"},{\"stringValue\":\"1e2\"},{\"stringValue\":\"30\"}]}]}"
expect_status 201 "JSON batch stored"
expect_json '.rows' 2 "JSON receipt rows"
req POST "/v1/datasets/$DS/batches" "$NAV" "{\"columns\":$COLS,\"rows\":[]}" -H "Idempotency-Key: j2"
expect_status 400 "an empty JSON batch"
req POST "/v1/datasets/$DS/batches" "$NAV" "{\"batchId\":\"j3\",\"columns\":$COLS,\"rows\":[{\"cells\":[{\"stringValue\":\"d\"},{\"stringValue\":\"2026-01-06T00:00:00Z\"},{\"stringValue\":\"x\"},{\"doubleValue\":1.5},{\"doubleValue\":1},{\"intValue\":1}]}]}"
expect_status 400 "a double for an INT64 column"
grep -q 'row 1, column road_type' <<<"$BODY" && ok "the JSON error names row and column" || fail "JSON error: $BODY"

# Binary protobuf, encoded by protoc (not by Fiducia).
cat >"$FD_TMP/pb.txt" <<'TXT'
batch_id: "p1"
columns: ["driver_id", "pub_time", "district", "road_type", "speed_kmh", "delay_s"]
rows { cells { string_value: "drv-0011" } cells { timestamp_value { seconds: 1767657600 } } cells { string_value: "Lyon 4e" } cells { int_value: 2 } cells { double_value: 61.0 } cells { int_value: 15 } }
TXT
protoc -I "$FIDUCIA_SRC/proto" -I /usr/include --encode=fiducia.v1.DepositBatch fiducia/v1/datasets.proto <"$FD_TMP/pb.txt" >"$FD_TMP/pb.bin"
curl -s -o "$FD_TMP/body" -w '%{http_code}' -X POST "$URL/v1/datasets/$DS/batches" -H "Authorization: Bearer $NAV" \
	-H 'Content-Type: application/x-protobuf' --data-binary @"$FD_TMP/pb.bin" >"$FD_TMP/st"
STATUS=$(cat "$FD_TMP/st"); BODY=$(cat "$FD_TMP/body"); expect_status 201 "protobuf batch stored"
check "rows so far: 4 + 2 + 1" test "$(rows)" = 7

# ---- every bad batch: 400 naming the fault, nothing stored -------------------
bad_batch() { # WHAT EXPECTED_TEXT CSV_BODY
	CTYPE=text/csv req POST "/v1/datasets/$DS/batches" "$NAV" "$3" -H "Idempotency-Key: bad-$RANDOM"
	if [ "$STATUS" = 400 ] && grep -qF -- "$2" <<<"$BODY"; then ok "bad batch refused: $1"; else fail "bad batch: $1: $STATUS $BODY"; fi
	if grep -qF "$MARK" <<<"$BODY"; then fail "the error echoes a value: $BODY"; fi
}
H="driver_id,pub_time,district,road_type,speed_kmh,delay_s"
G="drv-1,2026-01-05T08:00:00Z,Lyon 1er,1,10.5,10"
bad_batch "wrong column count" "line 3: 5 fields, expected 6" "$H
$G
drv-2,2026-01-05T08:00:00Z,Lyon 1er,1,10.5"
bad_batch "too many fields" "line 2: more than 6 fields" "$H
$G,7"
bad_batch "unknown column" 'header field 5: unknown column' "driver_id,pub_time,district,road_type,speed,delay_s
$G"
bad_batch "missing column" "column delay_s is missing" "driver_id,pub_time,district,road_type,speed_kmh
drv-1,2026-01-05T08:00:00Z,Lyon 1er,1,10.5"
bad_batch "duplicate column" "appears twice" "driver_id,pub_time,district,road_type,speed_kmh,speed_kmh
$G"
bad_batch "number that does not parse" "line 3, column delay_s: not an INT64" "$H
$G
drv-$MARK,2026-01-05T08:00:00Z,Lyon 1er,1,10.5,1O"
bad_batch "float that does not parse" "line 2, column speed_kmh: not a finite FLOAT64" "$H
drv-1,2026-01-05T08:00:00Z,Lyon 1er,1,nan,10"
bad_batch "value above a measure's bound" "line 2, column speed_kmh: outside the bounds [0, 200]" "$H
drv-1,2026-01-05T08:00:00Z,Lyon 1er,1,200.01,10"
bad_batch "value below a measure's bound" "line 2, column delay_s: outside the bounds [0, 3600]" "$H
drv-1,2026-01-05T08:00:00Z,Lyon 1er,1,20,-1"
bad_batch "bad timestamp" "line 2, column pub_time: not a TIMESTAMP" "$H
drv-1,2026-02-30T08:00:00Z,Lyon 1er,1,20,1"
bad_batch "bad UTF-8" "line 3, column district: not valid UTF-8" "$H
$G
drv-1,2026-01-05T08:00:00Z,Lyon $(printf '\xc3\x28'),1,20,1"
bad_batch "unterminated quote" "line 3: a quoted field is never closed" "$H
$G
drv-1,2026-01-05T08:00:00Z,\"Lyon 1er,1,20,1"
bad_batch "quote inside an unquoted field" "line 2: a quote inside an unquoted field" "$H
drv-1,2026-01-05T08:00:00Z,Lyon \"1er\",1,20,1"
bad_batch "text after a closing quote" "line 2: text after the closing quote" "$H
drv-1,2026-01-05T08:00:00Z,\"Lyon\" 1er,1,20,1"
bad_batch "header only" "a header row but no rows" "$H"
CTYPE=text/csv req POST "/v1/datasets/$DS/batches" "$NAV" " " -H "Idempotency-Key: bad-x"
expect_status 400 "a blank batch"
CTYPE=text/csv req POST "/v1/datasets/$DS/batches" "$NAV" "$H
$G"
expect_status 400 "a CSV batch without an id"
CTYPE=text/plain req POST "/v1/datasets/$DS/batches" "$NAV" "$H
$G" -H "Idempotency-Key: t1"
expect_status 415 "an unknown content type"
check "no trace of any bad batch: still 7 rows" test "$(rows)" = 7
check "no chunk without its receipt" test "$(q "select count(*) from chunks c where not exists (select 1 from batches b where b.dataset = c.dataset and b.batch_id = c.batch_id)")" = 0

# ---- who sees what ---------------------------------------------------------------
req GET "/v1/datasets/$DS" "$RENT"; expect_status 404 "another holder's dataset does not exist for it"
CTYPE=text/csv req POST "/v1/datasets/$DS/batches" "$RENT" "$H
$G" -H "Idempotency-Key: r1"; expect_status 404 "nor can it deposit into it"
req GET /v1/datasets "$RENT"; expect_json '.datasets | length' 0 "its list is empty"
req GET /v1/datasets "$NAV"; expect_json '.datasets | length' 2 "the holder lists its own"
req GET /v1/datasets "$CITY"; expect_json '.datasets | length' 0 "a data user sees only granted datasets (none yet)"
req GET /v1/datasets "$REG"; expect_json '.datasets | length' 2 "a regulator sees every dataset's metadata"
req GET "/v1/datasets/$DS/batches" "$NAV"; expect_status 200 "receipts listed"
expect_json '[.batches[].batchId] | join(",")' "b1,j1,p1" "in deposit order"
req POST "/v1/datasets/$DS/verify" "$NAV"; expect_json '.ok' true "every ciphertext opens"
expect_json '.rows' 7 "and holds every row"

# ---- the canary -----------------------------------------------------------------
pg_dump "$PGURL" -Fp -f "$FD_TMP/dump.sql"
pg_dump "$PGURL" -Fc -Z0 -f "$FD_TMP/dump.bin"
check "pg_dump ran" test -s "$FD_TMP/dump.sql"
check "the ciphertext is in the dump" grep -q chunk_columns "$FD_TMP/dump.sql"
for f in dump.sql dump.bin; do
	check "canary text absent from $f" bash -c "! grep -aqF '$MARK' '$FD_TMP/$f'"
	check "canary number absent from $f (decimal)" bash -c "! grep -aqF '$NUM' '$FD_TMP/$f'"
	# int64 little- and big-endian, float64 little- and big-endian, as hex
	for hexpat in $(python3 - "$NUM" <<'PY'
import struct, sys
n = int(sys.argv[1])
for f in ("<q", ">q", "<d", ">d"):
    print(struct.pack(f, n).hex())
print(struct.pack("<d", n + 0.5).hex())
PY
); do
		check "canary number absent from $f (binary $hexpat)" bash -c "! xxd -p -c 1000000 '$FD_TMP/$f' | tr -d '\n' | grep -q '$hexpat'"
	done
done
check "canary absent from fiduciad's log" bash -c "! grep -aqF '$MARK' '$LOG'"
check "no raw subject id in the ledger" test "$(q "select count(*) from ledger_entries where position(convert_to('$MARK', 'UTF8') in entry) > 0")" = 0
req GET "/v1/ledger/entries?dataset=$DS" "$REG"
expect_json '[.leaves[].decoded.action] | join(",")' "DATASET_REGISTERED,DEPOSIT,DEPOSIT,DEPOSIT" "registration and deposits ledgered"
expect_json '[.leaves[1].decoded.batchReceiptHash | length] | .[0]' 44 "a deposit entry carries its receipt hash"

# ---- tampering ------------------------------------------------------------------
C1=$(q "select encode(c.id, 'hex') from chunks c where c.dataset = '$DS' and c.batch_id = 'b1'")
q "update chunk_columns set sealed = set_byte(sealed, 40, get_byte(sealed, 40) # 1) where chunk = decode('$C1', 'hex') and col = 4" >/dev/null
req POST "/v1/datasets/$DS/verify" "$NAV"
expect_json '.ok // false' false "one flipped byte is found"
expect_json '.faults[0].column + " " + (.faults[0].error | test("integrity") | tostring)' "speed_kmh true" "as an integrity error on that column"
"$FIDUCIA" --url "$URL" --token <(echo "$NAV") dataset verify "$DS" >/dev/null; RC=$?
check "fiducia dataset verify exits 4 on a fault" test "$RC" = 4
q "update chunk_columns set sealed = set_byte(sealed, 40, get_byte(sealed, 40) # 1) where chunk = decode('$C1', 'hex') and col = 4" >/dev/null
req POST "/v1/datasets/$DS/verify" "$NAV"; expect_json '.ok' true "flipped back: intact again"
# Moved to another position: swap two chunks' sealed columns.
C2=$(q "select encode(c.id, 'hex') from chunks c where c.dataset = '$DS' and c.batch_id = 'j1'")
swap() { # CHUNK_A CHUNK_B COL
	q "with a as (select sealed from chunk_columns where chunk = decode('$1','hex') and col = $3), b as (select sealed from chunk_columns where chunk = decode('$2','hex') and col = $3) update chunk_columns set sealed = case when chunk = decode('$1','hex') then (select sealed from b) else (select sealed from a) end where col = $3 and chunk in (decode('$1','hex'), decode('$2','hex'))" >/dev/null
}
swap "$C1" "$C2" 5
req POST "/v1/datasets/$DS/verify" "$NAV"
expect_json '.faults | length' 2 "chunks swapped between positions: both fail to open"
swap "$C1" "$C2" 5
# Copied into another dataset: DS2's chunk takes DS's ciphertext.
C3=$(q "select encode(c.id, 'hex') from chunks c where c.dataset = '$DS2'")
q "create table saved as select * from chunk_columns where chunk = decode('$C3','hex') and col = 0" >/dev/null
q "update chunk_columns set sealed = (select sealed from chunk_columns where chunk = decode('$C1','hex') and col = 0) where chunk = decode('$C3','hex') and col = 0" >/dev/null
req POST "/v1/datasets/$DS2/verify" "$NAV"
expect_json '.ok // false' false "a chunk copied from another dataset fails to open"
q "update chunk_columns set sealed = (select sealed from saved) where chunk = decode('$C3','hex') and col = 0" >/dev/null
# A deleted chunk is missing from its receipt's count.
q "create table saved_chunk as select * from chunks where id = decode('$C2','hex'); create table saved_cols as select * from chunk_columns where chunk = decode('$C2','hex')" >/dev/null
q "delete from chunks where id = decode('$C2','hex')" >/dev/null
req POST "/v1/datasets/$DS/verify" "$NAV"
expect_json '.faults[0].error | test("says 2 rows")' true "a deleted chunk is detected"
q "insert into chunks select * from saved_chunk; insert into chunk_columns select * from saved_cols" >/dev/null
req POST "/v1/datasets/$DS/verify" "$NAV"; expect_json '.ok' true "restored: intact"

# ---- data-key rotation -------------------------------------------------------------
req POST "/v1/datasets/$DS/keys/rotate" "$RENT"; expect_status 404 "only the holder rotates"
req POST "/v1/datasets/$DS/keys/rotate" "$NAV"; expect_status 201 "data key rotated"
expect_json '.keyVersion' 2 "version 2"
CTYPE=text/csv req POST "/v1/datasets/$DS/batches" "$NAV" "$H
$G" -H "Idempotency-Key: after-rotate"
expect_json '.keyVersion' 2 "new chunks are sealed with the new key"
req POST "/v1/datasets/$DS/verify" "$NAV"
expect_json '.ok' true "old and new chunks both open"
check "keys stored only wrapped (72 bytes: nonce, key, tag)" test "$(q "select count(*) from dataset_keys where length(wrapped) <> 72")" = 0

# ---- the CLI --------------------------------------------------------------------
export FIDUCIA_URL=$URL FIDUCIA_TOKEN=$NAV
jq '.name = "cli-probes"' "$SCHEMA" >"$FD_TMP/cli.json"
DS3=$("$FIDUCIA" --json dataset create --schema "$FD_TMP/cli.json" | jq -r .id)
check "fiducia dataset create" test -n "$DS3"
check "fiducia dataset list" bash -c "'$FIDUCIA' dataset list | grep -q cli-probes"
"$FIDUCIA_BUILD/bench_gen_probes" 2000 7 >"$FD_TMP/probes.csv"
OUT=$("$FIDUCIA" deposit "$DS3" "$FD_TMP/probes.csv" --batch-size 1000 2>&1)
check "fiducia deposit: 2000 rows in 2 batches" grep -q "2000 rows in 2 batches (2 new, 0 already stored)" <<<"$OUT"
OUT=$("$FIDUCIA" deposit "$DS3" "$FD_TMP/probes.csv" --batch-size 1000 2>&1)
check "run again: nothing stored twice" grep -q "(0 new, 2 already stored)" <<<"$OUT"
# The same file, grown (as after an interrupted export): the stored batches
# are recognised, only the rest is stored.
"$FIDUCIA_BUILD/bench_gen_probes" 3100 7 >"$FD_TMP/probes.csv"
OUT=$("$FIDUCIA" deposit "$DS3" "$FD_TMP/probes.csv" --batch-size 1000 2>&1)
check "resumed: only the new batches are stored" grep -q "3100 rows in 4 batches (2 new, 2 already stored)" <<<"$OUT"
check "the dataset holds 3100 rows" test "$("$FIDUCIA" --json dataset show "$DS3" | jq -r .rows)" = 3100
sed -i '1502s/,[0-9.]*,\([0-9]*\)$/,900,\1/' "$FD_TMP/probes.csv"
"$FIDUCIA" deposit "$DS3" "$FD_TMP/probes.csv" --batch-size 1000 >/dev/null 2>"$FD_TMP/err"; RC=$?
check "a changed batch is refused" test "$RC" = 1
check "the error names the file's own line" grep -q "probes.csv line 1502, column speed_kmh" "$FD_TMP/err"
check "fiducia dataset batches" bash -c "'$FIDUCIA' dataset batches $DS3 | grep -q 'probes.csv.1000.000003'"
check "fiducia dataset verify" bash -c "'$FIDUCIA' dataset verify $DS3 | grep -q 'every ciphertext intact'"

# ---- withdrawal ----------------------------------------------------------------
KEYS_BEFORE=$(q "select count(*) from dataset_keys where dataset = '$DS2'")
check "the dataset had its keys" test "$KEYS_BEFORE" = 2
q "create table old_keys as select * from dataset_keys where dataset = '$DS2'" >/dev/null
req DELETE "/v1/datasets/$DS2" "$RENT"; expect_status 404 "another holder cannot withdraw it"
req DELETE "/v1/datasets/$DS2" "$NAV"; expect_status 200 "withdrawn"
expect_json '.state' WITHDRAWN "state WITHDRAWN"
req GET "/v1/datasets/$DS2" "$NAV"; expect_status 404 "404 from then on"
req GET "/v1/datasets/$DS2/batches" "$NAV"; expect_status 404 "its batches too"
CTYPE=text/csv req POST "/v1/datasets/$DS2/batches" "$NAV" "$(cat "$FD_TMP/wide.csv")" -H "Idempotency-Key: w2"
expect_status 404 "no deposit into a withdrawn dataset"
req DELETE "/v1/datasets/$DS2" "$NAV"; expect_status 404 "withdrawing twice: already gone"
check "its data keys and subject key are destroyed" test "$(q "select count(*) from dataset_keys where dataset = '$DS2'")" = 0
check "its chunks are deleted" test "$(q "select count(*) from chunks where dataset = '$DS2'")" = 0
check "the saved ciphertext has no key left to open it" test "$(q "select count(*) from saved s where exists (select 1 from dataset_keys k where k.dataset = '$DS2')")" = 0
req GET "/v1/ledger/entries?dataset=$DS2" "$REG"
expect_json '.leaves[-1].decoded.action' DATASET_WITHDRAWN "withdrawal ledgered"

fd_stop "$PID"; check "fiduciad exits cleanly" test "$RC" = 0
fd_finish
