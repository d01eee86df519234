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
for i in $(seq 1 50); do
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

# Fail closed: when the ledger cannot be written, the change is not made.
psql "$PGURL" -qc "ALTER TABLE ledger_entries ADD CONSTRAINT no_more CHECK (idx < 4)" >/dev/null
req POST /v1/orgs "$OP" '{"name":"airbnb","kind":"HOLDER"}'
expect_status 503 "an unrecordable change is refused"
check "and not made" test "$(psql "$PGURL" -tAc "select count(*) from orgs where name='airbnb'")" = 0
psql "$PGURL" -qc "ALTER TABLE ledger_entries DROP CONSTRAINT no_more" >/dev/null
req POST /v1/orgs "$OP" '{"name":"airbnb","kind":"HOLDER"}'; expect_status 201 "recordable again"

# Tampering with PostgreSQL is visible: the stored entry no longer hashes to its leaf.
psql "$PGURL" -qc "UPDATE ledger_entries SET entry = entry || '\\x00'::bytea WHERE idx = 2" >/dev/null
req GET "/v1/ledger/entries?start=2&limit=1" "$REG"
jq -r '.leaves[0].entry' <<<"$BODY" | base64 -d >"$FD_TMP/t2.bin"
check "an edited entry no longer matches the signed tree" \
	test "$({ printf '\x00'; cat "$FD_TMP/t2.bin"; } | h)" != "$L2"

fd_finish
