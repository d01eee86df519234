#!/usr/bin/env bash
# End to end: fiduciad's command line and start-up rules. --help and
# --version; unknown options and bad values stop start-up naming them; flags
# override the config file; production refuses to generate keys or to run
# without database_url; an external database_url is used as given.
source "$FIDUCIA_SRC/tests/harness/lib.sh"

out=$("$FIDUCIAD" --help); rc=$?
check "--help exits 0" test "$rc" = 0
printf '%s\n' "$out" >"$FD_TMP/help.txt"
check "--help lists every option" bash -c "grep -q db_pool_size '$FD_TMP/help.txt' && grep -q ledger_origin '$FD_TMP/help.txt'"
check "--version" test "$("$FIDUCIAD" --version)" = "fiduciad 0.1.0"

err=$("$FIDUCIAD" --bogus 2>&1); rc=$?
check "unknown flag stops start-up" test "$rc" = 2
check "unknown flag is named" grep -q -- '--bogus' <<<"$err"
err=$("$FIDUCIAD" --set db_pool_size=0 2>&1); rc=$?
check "bad value stops start-up" test "$rc" = 2
check "bad value is named" grep -q 'db_pool_size: 0 is outside' <<<"$err"
printf 'listen = 127.0.0.1:1\ncolour = blue\n' >"$FD_TMP/bad.conf"
err=$("$FIDUCIAD" --config "$FD_TMP/bad.conf" 2>&1); rc=$?
check "unknown option in the file stops start-up" test "$rc" = 2
check "the file's error names file, line and option" grep -q 'bad.conf:2: unknown option "colour"' <<<"$err"

# Production: nothing generated, nothing embedded.
mkdir -p "$FD_TMP/prod"
err=$("$FIDUCIAD" --production --data-dir "$FD_TMP/prod" 2>&1); rc=$?
check "production without database_url fails" test "$rc" != 0
check "... naming database_url" grep -q database_url <<<"$err"
fd_pg prod
"$FIDUCIA" token mint --help >/dev/null 2>&1 || true
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$FD_TMP/iss.pem" 2>/dev/null
openssl pkey -in "$FD_TMP/iss.pem" -pubout -out "$FD_TMP/iss.pub.pem"
err=$("$FIDUCIAD" --production --data-dir "$FD_TMP/prod" --listen 127.0.0.1:0 \
	--set "database_url=$PG_URL" --set "issuer=corp-idp ES256 $FD_TMP/iss.pub.pem" 2>&1); rc=$?
check "production with a missing KEK fails" test "$rc" != 0
check "... naming the key" grep -q 'key-encryption key .*kek.key is missing' <<<"$err"
check "... and generated nothing" test ! -e "$FD_TMP/prod/keys/kek.key"

# Production with every key present, on the external cluster.
mkdir -p "$FD_TMP/prod/keys"
head -c 32 /dev/urandom >"$FD_TMP/prod/keys/kek.key"
head -c 32 /dev/urandom >"$FD_TMP/prod/keys/ledger-ed25519.key"
chmod 600 "$FD_TMP/prod/keys/"*
printf 'production = true\ndatabase_url = "%s"\nissuer = corp-idp ES256 %s\nlisten = 127.0.0.1:1\n' \
	"$PG_URL" "$FD_TMP/iss.pub.pem" >"$FD_TMP/prod.conf"
fd_start prod --config "$FD_TMP/prod.conf" || fd_finish   # --listen beats the file's port 1
check "production runs no embedded cluster" test ! -e "$DATA/pg"
check "production generates no dev issuer" test ! -e "$DATA/keys/dev-issuer.pem"
T=$("$FIDUCIA" token mint --key "$FD_TMP/iss.pem" --issuer corp-idp --org operator --role operator)
req GET /v1/whoami "$T"; expect_status 200 "configured ES256 issuer is trusted"
expect_json .issuer corp-idp "issuer name"
check "the external database holds the schema" test "$(psql "$PG_URL" -tAc 'select count(*) from orgs')" = 1

# A second production process with another ledger key is refused: one log,
# one signing key.
for i in $(seq 1 200); do curl -sf "$URL/v1/ledger/checkpoint" >/dev/null && break; sleep 0.1; done
mkdir -p "$FD_TMP/prod2/keys"
cp "$FD_TMP/prod/keys/kek.key" "$FD_TMP/prod2/keys/"
head -c 32 /dev/urandom >"$FD_TMP/prod2/keys/ledger-ed25519.key"
chmod 600 "$FD_TMP/prod2/keys/"*
err=$("$FIDUCIAD" --config "$FD_TMP/prod.conf" --data-dir "$FD_TMP/prod2" --listen 127.0.0.1:0 2>&1); rc=$?
check "a production process with another ledger key is refused" test "$rc" != 0
check "... saying the key must be shared" grep -q "share ledger_key_file" <<<"$err"

# Oversized bodies: 413 with an Error message naming the limit; nothing written.
fd_start small --set "database_url=$PG_URL" --set max_body_size=2048 --set dev_issuer=true || fd_finish
OPS=$(fd_token operator operator)
pad=$(head -c 3000 /dev/zero | tr '\0' x)
req POST /v1/orgs "$OPS" "{\"name\":\"big\",\"kind\":\"HOLDER\",\"contact\":\"$pad\"}"
expect_status 413 "a body over max_body_size"
expect_json '.message | contains("max_body_size")' true "413 names the limit"
head -c 200000 /dev/zero | tr '\0' x >"$FD_TMP/huge"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/orgs" -H "Authorization: Bearer $OPS" \
	-H 'Content-Type: application/json' --data-binary @"$FD_TMP/huge")
expect_status 413 "a body far over the limit is refused by the transport"
check "no oversized org was written" test "$(psql "$PG_URL" -tAc "select count(*) from orgs where name='big'")" = 0

# HS256 only when explicitly allowed.
head -c 48 /dev/urandom >"$FD_TMP/hs.secret"
err=$("$FIDUCIAD" --data-dir "$FD_TMP/hs" --listen 127.0.0.1:0 --set "database_url=$PG_URL" \
	--set "issuer=dev-hs HS256 $FD_TMP/hs.secret" 2>&1); rc=$?
check "HS256 issuer refused without allow_hs256" test "$rc" != 0
check "... saying why" grep -qi 'hs256' <<<"$err"

fd_finish
