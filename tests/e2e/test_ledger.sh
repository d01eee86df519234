#!/usr/bin/env bash
# End to end: organisation events land in the transparency ledger in the
# same transaction as the change; checkpoints are C2SP signed notes whose
# Ed25519 signature, key id and Merkle root are checked here with openssl
# and protoc, independently of Fiducia's code; proofs match an independent
# recomputation; readers see only what they may; the ledger fails closed.
source "$FIDUCIA_SRC/tests/harness/lib.sh"

fd_start led || fd_finish
OP=$(fd_token operator operator)
PGURL="host=$DATA/pg/run dbname=fiducia user=fiducia"
PROTO_I=(-I "$FIDUCIA_SRC/proto" -I /usr/include)

for o in "cnil REGULATOR" "city-lyon PUBLIC_AUTHORITY" "waze HOLDER"; do
	set -- $o
	req POST /v1/orgs "$OP" "{\"name\":\"$1\",\"kind\":\"$2\"}"; expect_status 201 "create $1"
done
req POST /v1/orgs/waze/disable "$OP"; expect_status 200 "disable waze"
req POST /v1/orgs/waze/disable "$OP"; expect_status 200 "disable waze again"
REG=$(fd_token cnil regulator)

req GET /v1/ledger/entries "$REG"; expect_status 200 "regulator reads the ledger"
expect_json '.leaves | length' 4 "four events (a repeated disable records nothing)"
expect_json '[.leaves[].decoded.action] | join(",")' "ORG_CREATED,ORG_CREATED,ORG_CREATED,ORG_DISABLED" "actions in order"
expect_json '[.leaves[].decoded.targetOrg] | join(",")' "cnil,city-lyon,waze,waze" "targets in order"
expect_json '[.leaves[] | (.index // "0")] | join(",")' "0,1,2,3" "contiguous indexes (0 is omitted, as proto3 JSON does)"
expect_json '.leaves[0].decoded.actorOrg' operator "actor recorded"
expect_json '.leaves[0].decoded.tokenJtiHash | length' 44 "token jti only as a hash"
# The leaf bytes decode with protoc: the entry is a plain LedgerEntry.
for i in 0 1 2 3; do
	jq -r ".leaves[$i].entry" <<<"$BODY" | base64 -d >"$FD_TMP/e$i.bin"
done
check "leaf bytes decode with protoc" grep -q 'action: ORG_DISABLED' \
	<(protoc "${PROTO_I[@]}" --decode=fiducia.v1.LedgerEntry fiducia/v1/ledger.proto <"$FD_TMP/e3.bin")
check "no token in the ledger" bash -c "! grep -qaF '${OP:0:30}' '$FD_TMP'/e*.bin"

# Independent Merkle math (RFC 6962) with openssl.
h() { openssl dgst -sha256 -binary | xxd -p -c 64; }
leaf() { { printf '\x00'; cat "$FD_TMP/e$1.bin"; } | h; }
node() { printf '01%s%s' "$1" "$2" | xxd -r -p | h; }
L0=$(leaf 0) L1=$(leaf 1) L2=$(leaf 2) L3=$(leaf 3)
N01=$(node "$L0" "$L1"); N23=$(node "$L2" "$L3"); ROOT4=$(node "$N01" "$N23")

# The checkpoint: wait for size 4, then check it byte by byte.
for i in $(seq 1 200); do
	CP=$(curl -s "$URL/v1/ledger/checkpoint")
	[ "$(sed -n 2p <<<"$CP")" = 4 ] && break
	sleep 0.1
done
printf '%s\n' "$CP" >"$FD_TMP/cp"
check "checkpoint origin" test "$(sed -n 1p "$FD_TMP/cp")" = "fiducia.localhost/ledger"
check "checkpoint size signed within a second or so" test "$(sed -n 2p "$FD_TMP/cp")" = 4
check "checkpoint root = independent RFC 6962 root" \
	test "$(sed -n 3p "$FD_TMP/cp" | base64 -d | xxd -p -c 64)" = "$ROOT4"
KEY=$(curl -s "$URL/v1/ledger/key")
check "the key and the checkpoint are served to Accept: text/plain" test \
	"$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: text/plain' "$URL/v1/ledger/key")-$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: text/plain' "$URL/v1/ledger/checkpoint")" = 200-200
name=${KEY%%+*}; rest=${KEY#*+}; kid=${rest%%+*}; pkb64=${rest#*+}
check "vkey names the origin" test "$name" = "fiducia.localhost/ledger"
pk=$(base64 -d <<<"$pkb64" | xxd -p -c 64)
check "vkey is type 0x01 + 32 bytes" test "${#pk}" = 66 -a "${pk:0:2}" = 01
check "key id = SHA-256(name || 0x0A || 0x01 || pk)[:4]" \
	test "$({ printf '%s\n' "$name"; printf '%s' "$pk" | xxd -r -p; } | h | cut -c1-8)" = "$kid"
# Signature line: "— name base64(keyid || sig)" over the text before the blank line.
sigline=$(grep -a '^— ' "$FD_TMP/cp")
check "one signature line, by the origin" test "$(awk '{print $2}' <<<"$sigline")" = "$name"
awk '{print $3}' <<<"$sigline" | base64 -d >"$FD_TMP/sig.bin"
check "signature carries the key id" test "$(head -c 4 "$FD_TMP/sig.bin" | xxd -p)" = "$kid"
tail -c 64 "$FD_TMP/sig.bin" >"$FD_TMP/sig64"
head -n 3 "$FD_TMP/cp" >"$FD_TMP/text"
{ printf '302a300506032b6570032100'; printf '%s' "${pk:2}"; } | xxd -r -p >"$FD_TMP/pk.der"
openssl pkey -pubin -inform DER -in "$FD_TMP/pk.der" -out "$FD_TMP/pk.pem" 2>/dev/null
check "Ed25519 signature verifies with openssl" openssl pkeyutl -verify -pubin -inkey "$FD_TMP/pk.pem" \
	-rawin -in "$FD_TMP/text" -sigfile "$FD_TMP/sig64"

# Proofs against the independent hashes.
req GET "/v1/ledger/proof/inclusion?index=1&size=4" "$REG"; expect_status 200 "inclusion proof"
expect_json '[.hashes[] | @base64d] | length' 2 "inclusion path has 2 hashes"
got=$(jq -r '.hashes[]' <<<"$BODY" | while read -r x; do base64 -d <<<"$x" | xxd -p -c 64; done | paste -sd,)
check "inclusion path = [leaf 0, node(2,3)]" test "$got" = "$L0,$N23"
req GET "/v1/ledger/proof/consistency?first=2&second=4" "$REG"; expect_status 200 "consistency proof"
got=$(jq -r '.hashes[]' <<<"$BODY" | while read -r x; do base64 -d <<<"$x" | xxd -p -c 64; done | paste -sd,)
check "consistency path 2->4 = [node(2,3)]" test "$got" = "$N23"
req GET "/v1/ledger/proof/inclusion?index=1&size=99" "$REG"; expect_status 400 "proof beyond the log"
req GET "/v1/ledger/proof/inclusion?index=5&size=4" "$REG"; expect_status 400 "index beyond size"
req GET "/v1/ledger/entries?limit=5000" "$REG"; expect_status 400 "limit bounded"

# Readers see only what they may.
CITY=$(fd_token city-lyon user)
req GET /v1/ledger/entries "$CITY"; expect_status 200 "a user reads the ledger"
expect_json '[.leaves[].decoded.targetOrg] | join(",")' "city-lyon" "a user sees only events about itself"
req GET "/v1/ledger/entries?org=waze" "$CITY"
expect_json '.leaves | length' 0 "a user cannot read another org's entries"
req GET "/v1/ledger/entries?org=waze" "$REG"
expect_json '.leaves | length' 2 "the regulator filters by org"
req GET "/v1/ledger/entries?action=ORG_DISABLED" "$REG"
expect_json '.leaves | length' 1 "the regulator filters by action"
req GET "/v1/ledger/entries?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z" "$REG"
expect_json '.leaves | length' 4 "a time range that covers everything"
req GET "/v1/ledger/entries?to=2000-01-01T00:00:00Z" "$REG"
expect_json '.leaves | length' 0 "a time range before the log"
req GET "/v1/ledger/entries?from=yesterday-ish" "$REG"; expect_status 400 "a bad timestamp"

# The regulator's own check: fiducia ledger verify trusts nothing the server says.
export FIDUCIA_URL="$URL"
VK=$(curl -s "$URL/v1/ledger/key")
printf '%s' "$REG" >"$FD_TMP/reg.jwt"
verify() { "$FIDUCIA" --token "$FD_TMP/reg.jwt" ledger verify --vkey "$VK" "$@" >"$FD_TMP/verify.out" 2>&1; }
verify --index 0 --index 3 --state "$FD_TMP/state"; rc=$?
check "fiducia ledger verify passes (entries, root, inclusion)" test "$rc" = 0
check "... and says so" grep -q "ledger verified" "$FD_TMP/verify.out"
"$FIDUCIA" --token "$FD_TMP/reg.jwt" ledger export --out "$FD_TMP/archive" >/dev/null 2>&1
check "an export verifies offline" "$FIDUCIA" ledger verify --dir "$FD_TMP/archive" --vkey "$VK"
verify --vkey "x+00000000+AQ==" 2>/dev/null; rc=$?
check "a malformed verifier key is a usage error" test "$rc" = 2

# Fail closed: when the ledger cannot be written, the change is not made.
psql "$PGURL" -qc "ALTER TABLE ledger_pending ADD CONSTRAINT no_more CHECK (id < 0) NOT VALID" >/dev/null
req POST /v1/orgs "$OP" '{"name":"airbnb","kind":"HOLDER"}'
expect_status 503 "an unrecordable change is refused"
check "and not made" test "$(psql "$PGURL" -tAc "select count(*) from orgs where name='airbnb'")" = 0
psql "$PGURL" -qc "ALTER TABLE ledger_pending DROP CONSTRAINT no_more" >/dev/null

# Group commit: a change commits with its entry in ledger_pending; the
# sequencer places it in the tree within milliseconds. While the tree cannot
# be written, the entry is not lost, and a reader of the ledger waits for it
# (read your writes) rather than miss it.
psql "$PGURL" -qc "ALTER TABLE ledger_entries ADD CONSTRAINT no_more CHECK (idx < 4) NOT VALID" >/dev/null
req POST /v1/orgs "$OP" '{"name":"airbnb","kind":"HOLDER"}'
expect_status 201 "a change commits with its entry while the tree cannot be written"
check "its entry is pending" test "$(psql "$PGURL" -tAc "select count(*) from orgs o, ledger_pending p where o.name = 'airbnb' and p.target_org = 'airbnb'")" = 1
# The pending row's own columns are not trusted: the log's are read from the
# entry, whose MAC the sequencer checks.
psql "$PGURL" -qc "UPDATE ledger_pending SET actor_org = 'mallory', target_org = 'nobody', dataset = 'ds-0000000000000000' WHERE target_org = 'airbnb'" >/dev/null
curl -s -o "$FD_TMP/entries.out" -w '%{http_code}' "$URL/v1/ledger/entries?start=4" -H "Authorization: Bearer $REG" >"$FD_TMP/entries.status" &
READER=$!
sleep 2
check "a reader of the ledger waits while it cannot be placed" kill -0 "$READER"
psql "$PGURL" -qc "ALTER TABLE ledger_entries DROP CONSTRAINT no_more" >/dev/null
wait "$READER"
check "then reads it, placed" test "$(jq -r '.leaves[0].decoded.targetOrg' "$FD_TMP/entries.out")" = airbnb
check "as leaf 4" test "$(psql "$PGURL" -tAc "select idx from ledger_entries where target_org = 'airbnb'")" = 4
check "its columns come from the entry, not from the tampered pending row" test "$(psql "$PGURL" -tAc "select actor_org || ',' || target_org || ',' || dataset from ledger_entries where idx = 4")" = "operator,airbnb,"
check "nothing left pending" test "$(psql "$PGURL" -tAc "select count(*) from ledger_pending")" = 0

# A pending row that no fiduciad wrote (its MAC does not verify under the
# deployment's ledger key) is never placed in the log: moved aside, reported.
psql "$PGURL" -qc "INSERT INTO ledger_pending (entry, mac, actor_org, action) VALUES ('\\x0a0141', decode(repeat('00', 32), 'hex'), 'mallory', 'ORG_CREATED')" >/dev/null
for i in $(seq 1 50); do [ "$(psql "$PGURL" -tAc "select count(*) from ledger_refused")" = 1 ] && break; sleep 0.1; done
check "a forged pending entry is refused by the sequencer's sweep" test "$(psql "$PGURL" -tAc "select count(*) from ledger_refused where actor_org = 'mallory'")" = 1
check "and never placed in the log" test "$(psql "$PGURL" -tAc "select count(*) from ledger_entries where actor_org = 'mallory'")" = 0
check "nor left pending" test "$(psql "$PGURL" -tAc "select count(*) from ledger_pending")" = 0
check "the refusal is logged" grep -q "has no valid MAC" "$LOG"

# A caller may ask to wait for a checkpoint covering a size: signed at once.
CP5=$(curl -s "$URL/v1/ledger/checkpoint?size=5")
check "?size=5 returns a checkpoint covering the new entry" test "$(sed -n 2p <<<"$CP5")" -ge 5
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/ledger/checkpoint?size=999")
check "?size beyond the log is a 400" test "$STATUS" = 400

# Tampering with PostgreSQL is detected by fiducia ledger verify (exit 4).
for i in $(seq 1 200); do   # a checkpoint covering the airbnb entry
	[ "$(curl -s "$URL/v1/ledger/checkpoint" | sed -n 2p)" = 5 ] && break; sleep 0.1
done
verify --state "$FD_TMP/state"; rc=$?
check "the grown log verifies, consistent with the saved state" test "$rc" = 0
check "... with a consistency proof" grep -q "consistency: from 4 to 5 ok" "$FD_TMP/verify.out"
tamper() { # WHAT SQL... : apply, verify, undo by restoring a copy
	local what=$1; shift
	psql "$PGURL" -q -c "CREATE TABLE IF NOT EXISTS le_copy AS TABLE ledger_entries" -c "$@" >/dev/null
	verify; local rc=$?
	psql "$PGURL" -q -c "DELETE FROM ledger_entries" \
		-c "INSERT INTO ledger_entries SELECT * FROM le_copy" -c "DROP TABLE le_copy" >/dev/null
	if [ "$rc" = 4 ] && grep -q "LEDGER VERIFICATION FAILED" "$FD_TMP/verify.out"; then
		ok "tamper detected: $what"
	else
		fail "tamper not detected: $what (exit $rc: $(tail -1 "$FD_TMP/verify.out"))"
	fi
}
tamper "an entry edited" "UPDATE ledger_entries SET entry = entry || '\\x00'::bytea WHERE idx = 2"
tamper "an entry deleted" "DELETE FROM ledger_entries WHERE idx = 1"
tamper "two entries reordered" "UPDATE ledger_entries SET entry = CASE idx WHEN 1 THEN (SELECT entry FROM le_copy WHERE idx = 2) ELSE (SELECT entry FROM le_copy WHERE idx = 1) END WHERE idx IN (1, 2)"
verify; rc=$?
check "the restored log verifies again" test "$rc" = 0

URL_LED=$URL; DATA_LED=$DATA; PID_LED=$PID

# A log truncated and re-grown differently (another database behind the
# same key): the saved state exposes the fork.
mkdir -p "$FD_TMP/fork/keys"; chmod 711 "$FD_TMP/fork"
cp "$DATA/keys/ledger-ed25519.key" "$FD_TMP/fork/keys/"
fd_start fork || fd_finish
OPF=$(fd_token operator operator)
for o in cnil x1 x2 x3 x4 x5; do
	req POST /v1/orgs "$OPF" "{\"name\":\"$o\",\"kind\":\"REGULATOR\"}" >/dev/null
done
for i in $(seq 1 200); do
	[ "$(curl -s "$URL/v1/ledger/checkpoint" | sed -n 2p)" = 6 ] && break; sleep 0.1
done
check "the forked log is signed by the same key" test "$(curl -s "$URL/v1/ledger/key")" = "$VK"
"$FIDUCIA" --url "$URL" --token <(fd_token cnil regulator) ledger verify --vkey "$VK" \
	--state "$FD_TMP/state" >"$FD_TMP/verify.out" 2>&1; rc=$?
check "a fork against the saved state fails verification (exit 4)" test "$rc" = 4
check "... reported as such" grep -Eq "FORK|INCONSISTENT" "$FD_TMP/verify.out"

# kill -9 in the middle of a burst: every answer a client received has its
# entry, and the log verifies after the restart.
URL=$URL_LED; DATA=$DATA_LED; PID=$PID_LED
mkdir -p "$FD_TMP/burst"
burst=()
for i in $(seq 1 60); do
	curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/orgs" -H "Authorization: Bearer $OP" \
		-H 'Content-Type: application/json' \
		--data-binary "{\"name\":\"burst$i\",\"kind\":\"HOLDER\"}" >"$FD_TMP/burst/$i" 2>/dev/null &
	burst+=($!)
done
sleep 0.15
kill -KILL "$PID"; wait "$PID" 2>/dev/null
wait "${burst[@]}"
created=$(grep -l '^201$' "$FD_TMP"/burst/* | wc -l)
check "at least one request was answered before the kill" test "$created" -ge 1
fd_start led || fd_finish
# Creates committed but not yet placed at the kill are pending: the restarted
# process's sweep places them.
for i in $(seq 1 50); do [ "$(psql "$PGURL" -tAc "select count(*) from ledger_pending")" = 0 ] && break; sleep 0.1; done
check "entries pending at the kill are placed after the restart" test "$(psql "$PGURL" -tAc "select count(*) from ledger_pending")" = 0
missing=0
for f in $(grep -l '^201$' "$FD_TMP"/burst/*); do
	n=$(basename "$f")
	[ "$(psql "$PGURL" -tAc "select count(*) from ledger_entries where target_org = 'burst$n' and action = 'ORG_CREATED'")" = 1 ] || missing=$((missing + 1))
done
check "every answered create ($created) has its ledger entry" test "$missing" = 0
check "no org exists without its entry" test "$(psql "$PGURL" -tAc "select count(*) from orgs o where name like 'burst%' and not exists (select 1 from ledger_entries e where e.target_org = o.name)")" = 0
SZ=$(psql "$PGURL" -tAc "select size from ledger_head")
curl -s "$URL/v1/ledger/checkpoint?size=$SZ" >/dev/null
FIDUCIA_URL="$URL" verify; rc=$?
check "the log verifies after the restart" test "$rc" = 0

fd_finish
