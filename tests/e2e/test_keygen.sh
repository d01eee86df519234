#!/usr/bin/env bash
# End to end: `fiduciad keygen` and the production configuration. keygen
# writes the KEK and the ledger key with mode 0600 in a 0700 folder, never
# replaces a key without --force, and prints the verifier key and the config
# lines; a production fiduciad started with exactly those lines, as an
# unprivileged user, serves that verifier key at GET /v1/ledger/key and signs
# checkpoints that `fiducia ledger verify` accepts with it. `--check-config`
# parses deploy/fiduciad.conf.example, which documents every option.
source "$FIDUCIA_SRC/tests/harness/lib.sh"

ORIGIN=e2e.fiducia.test/ledger
mode() { stat -c '%a' "$1"; }
sum() { sha256sum "$1" | cut -d' ' -f1; }

# ---- keygen: files, modes, output -------------------------------------------
K="$FD_TMP/etc/fiducia/keys"
out=$("$FIDUCIAD" keygen --out "$K" --origin "$ORIGIN" 2>"$FD_TMP/keygen.err"); rc=$?
printf '%s\n' "$out" >"$FD_TMP/keygen.out"
check "keygen exits 0" test "$rc" = 0
check "the key folder is created with mode 0700" test "$(mode "$K")" = 700
check "its missing parents are created with mode 0755" test "$(mode "$FD_TMP/etc/fiducia")" = 755
check "kek.key has mode 0600" test "$(mode "$K/kek.key")" = 600
check "ledger-ed25519.key has mode 0600" test "$(mode "$K/ledger-ed25519.key")" = 600
check "kek.key is 32 bytes" test "$(stat -c %s "$K/kek.key")" = 32
check "ledger-ed25519.key is 32 bytes" test "$(stat -c %s "$K/ledger-ed25519.key")" = 32
check "the two keys differ" test "$(sum "$K/kek.key")" != "$(sum "$K/ledger-ed25519.key")"
VK=$(cat "$K/ledger.vkey")
# <origin>+<key id, 8 hex>+<base64 of 0x01 || the 32-byte Ed25519 key: 44 characters>
check "ledger.vkey is a verifier key" grep -qE '^[^+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$' <<<"$VK"
check "... named by the origin" test "${VK%%+*}" = "$ORIGIN"
check "the verifier key is printed" grep -qxF "$VK" <<<"$out"
check "the kek_file line is printed" grep -qxF "kek_file = $K/kek.key" <<<"$out"
check "the ledger_key_file line is printed" grep -qxF "ledger_key_file = $K/ledger-ed25519.key" <<<"$out"
check "the ledger_origin line is printed" grep -qxF "ledger_origin = $ORIGIN" <<<"$out"
check "no warning for a chosen origin" test ! -s "$FD_TMP/keygen.err"

# Two runs make different keys (libsodium's CSPRNG, not a fixed seed).
"$FIDUCIAD" keygen --out "$FD_TMP/other" --origin "$ORIGIN" >/dev/null 2>&1
check "another run makes another KEK" test "$(sum "$FD_TMP/other/kek.key")" != "$(sum "$K/kek.key")"
check "... and another ledger key" test "$(cat "$FD_TMP/other/ledger.vkey")" != "$VK"

# ---- never overwrite without --force ------------------------------------------
before="$(sum "$K/kek.key") $(sum "$K/ledger-ed25519.key") $(sum "$K/ledger.vkey")"
err=$("$FIDUCIAD" keygen --out "$K" --origin "$ORIGIN" 2>&1); rc=$?
check "keygen refuses an existing key set" test "$rc" = 1
check "... naming the file and --force" grep -q "kek.key exists already.*--force" <<<"$err"
check "... and leaves every file as it was" \
	test "$(sum "$K/kek.key") $(sum "$K/ledger-ed25519.key") $(sum "$K/ledger.vkey")" = "$before"
mkdir -p "$FD_TMP/partial"
printf 'verifier' >"$FD_TMP/partial/ledger.vkey"
err=$("$FIDUCIAD" keygen --out "$FD_TMP/partial" 2>&1); rc=$?
check "keygen refuses when any one of its files exists" test "$rc" = 1
check "... writing no key beside it" test ! -e "$FD_TMP/partial/kek.key" -a ! -e "$FD_TMP/partial/ledger-ed25519.key"
err=$("$FIDUCIAD" keygen --out "$FD_TMP/badorigin" --origin "no spaces+allowed" 2>&1); rc=$?
check "a bad origin is refused" test "$rc" = 1
check "... before anything is written" test ! -e "$FD_TMP/badorigin/kek.key"
"$FIDUCIAD" keygen 2>/dev/null; rc=$?
check "keygen without --out is a usage error" test "$rc" = 2
"$FIDUCIAD" keygen --out "$FD_TMP/x" --bogus 2>/dev/null; rc=$?
check "an unknown keygen argument is a usage error" test "$rc" = 2
cp -p "$FD_TMP/other/kek.key" "$FD_TMP/kek.before"
"$FIDUCIAD" keygen --out "$FD_TMP/other" --origin "$ORIGIN" --force >/dev/null 2>&1; rc=$?
check "--force replaces an existing key set" test "$rc" = 0 -a "$(sum "$FD_TMP/other/kek.key")" != "$(sum "$FD_TMP/kek.before")"
check "... keeping mode 0600" test "$(mode "$FD_TMP/other/kek.key")" = 600
# The origin can come from a config file.
printf 'ledger_origin = conf.fiducia.test/ledger\n' >"$FD_TMP/origin.conf"
"$FIDUCIAD" keygen --out "$FD_TMP/fromconf" --config "$FD_TMP/origin.conf" >/dev/null 2>&1
check "keygen takes ledger_origin from --config" grep -q '^conf\.fiducia\.test/ledger+' "$FD_TMP/fromconf/ledger.vkey"

# ---- --check-config, and the example configuration -----------------------------
EXAMPLE="$FIDUCIA_SRC/deploy/fiduciad.conf.example"
out=$("$FIDUCIAD" --check-config --config "$EXAMPLE" 2>&1); rc=$?
check "deploy/fiduciad.conf.example parses (--check-config exits 0)" test "$rc" = 0
check "... as a production configuration" grep -q 'valid (production)' <<<"$out"
"$FIDUCIAD" --help | grep -oE '^  [a-z_0-9]+ +(string|integer|boolean|list) ' | awk '{print $1}' >"$FD_TMP/options"
check "--help lists the options" test "$(wc -l <"$FD_TMP/options")" -gt 30
missing=""
while read -r o; do grep -qE "^#?$o = ?" "$EXAMPLE" || missing="$missing $o"; done <"$FD_TMP/options"
check "the example sets or shows every option (missing:${missing:- none})" test -z "$missing"
printf 'production = true\n' >"$FD_TMP/prod-bad.conf"
err=$("$FIDUCIAD" --check-config --config "$FD_TMP/prod-bad.conf" 2>&1); rc=$?
check "--check-config exits 2 on a configuration start-up would refuse" test "$rc" = 2
check "... saying why" grep -q 'database_url is required' <<<"$err"
printf 'db_pool_size = 0\n' >"$FD_TMP/bad.conf"
"$FIDUCIAD" --check-config --config "$FD_TMP/bad.conf" >/dev/null 2>&1; rc=$?
check "--check-config exits 2 on a bad value" test "$rc" = 2
mkdir -p "$FD_TMP/nothing"
"$FIDUCIAD" --check-config --data-dir "$FD_TMP/nothing/data" >/dev/null 2>&1; rc=$?
check "--check-config starts nothing (no data folder, no keys)" test "$rc" = 0 -a ! -e "$FD_TMP/nothing/data"

# ---- a production fiduciad on those keys, as an unprivileged user --------------
fd_pg keygen
PG_TCP=$(cat "$PG_STATE/conninfo_tcp") # the unix socket is the postgres user's alone
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$FD_TMP/iss.pem" 2>/dev/null
openssl pkey -in "$FD_TMP/iss.pem" -pubout -out "$FD_TMP/iss.pub.pem" 2>/dev/null
chmod 644 "$FD_TMP/iss.pub.pem"
RUNAS=()
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	# As the service would run: keys owned by (and only readable by) its user.
	chown -R nobody: "$FD_TMP/etc/fiducia/keys"
	RUNAS=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --)
fi
{
	printf 'production = true\n'
	printf 'database_url = "%s"\n' "$PG_TCP"
	printf 'issuer = e2e-idp ES256 %s\n' "$FD_TMP/iss.pub.pem"
	printf 'intermediary_name = "E2E Data Trust"\n'
	# The config lines exactly as keygen printed them.
	grep -E '^(kek_file|ledger_key_file|ledger_origin) = ' "$FD_TMP/keygen.out"
} >"$FD_TMP/prod.conf"
check "keygen printed the three config lines" test "$(grep -cE '^(kek_file|ledger_key_file|ledger_origin) = ' "$FD_TMP/prod.conf")" = 3
"$FIDUCIAD" --check-config --config "$FD_TMP/prod.conf" >/dev/null; rc=$?
check "the production configuration with keygen's lines is valid" test "$rc" = 0
cat >"$FD_TMP/fiduciad-as-user" <<EOF
#!/bin/sh
exec ${RUNAS[*]} "$FIDUCIAD" "\$@"
EOF
chmod 755 "$FD_TMP/fiduciad-as-user"
FIDUCIAD_REAL=$FIDUCIAD
FIDUCIAD="$FD_TMP/fiduciad-as-user"
fd_start prod --config "$FD_TMP/prod.conf" || fd_finish
FIDUCIAD=$FIDUCIAD_REAL
if [ ${#RUNAS[@]} -gt 0 ]; then
	check "fiduciad runs as the unprivileged user" test "$(stat -c %U "/proc/$PID")" = nobody
fi
check "production runs no embedded cluster" test ! -e "$DATA/pg"
check "... and generates no key" test ! -e "$DATA/keys"
STATUS=$(curl -s -o "$FD_TMP/vkey.out" -w '%{http_code}' "$URL/v1/ledger/key")
check "GET /v1/ledger/key answers 200" test "$STATUS" = 200
check "GET /v1/ledger/key equals the verifier key keygen printed" test "$(cat "$FD_TMP/vkey.out")" = "$VK"

# The ledger is signed with keygen's key: a regulator verifies it with the
# published verifier key and nothing else.
OPS=$("$FIDUCIA" token mint --key "$FD_TMP/iss.pem" --issuer e2e-idp --org operator --role operator)
req POST /v1/orgs "$OPS" '{"name":"cnil","kind":"REGULATOR"}'; expect_status 201 "an org is created (a ledgered change)"
"$FIDUCIA" token mint --key "$FD_TMP/iss.pem" --issuer e2e-idp --org cnil --role regulator >"$FD_TMP/reg.jwt"
for i in $(seq 1 100); do
	curl -sf "$URL/v1/ledger/checkpoint" | head -2 | tail -1 | grep -qx '[1-9][0-9]*' && break
	sleep 0.1
done
"$FIDUCIA" --url "$URL" --token "$FD_TMP/reg.jwt" ledger verify --vkey "$VK" >"$FD_TMP/verify.out" 2>&1; rc=$?
check "fiducia ledger verify accepts the log with keygen's verifier key" test "$rc" = 0
"$FIDUCIA" --url "$URL" --token "$FD_TMP/reg.jwt" ledger verify \
	--vkey "$(cat "$FD_TMP/other/ledger.vkey")" >/dev/null 2>&1; rc=$?
check "... and refuses it with another key's" test "$rc" != 0

# A dataset's keys are wrapped under keygen's KEK.
req POST /v1/orgs "$OPS" '{"name":"roadnav","kind":"HOLDER"}'; expect_status 201 "a holder"
HOLD=$("$FIDUCIA" token mint --key "$FD_TMP/iss.pem" --issuer e2e-idp --org roadnav --role holder)
req POST /v1/datasets "$HOLD" "$(cat "$FIDUCIA_SRC/tests/e2e/data/probe-speeds.json")"; expect_status 201 "a dataset, its keys wrapped under the KEK"

fd_stop "$PID"
check "SIGTERM stops it with status 0" test "$RC" = 0

# Another KEK in kek_file: the keys in the database are under one this process
# lacks, so it refuses to start rather than answer key_unavailable later.
KEK_ID=$(sed -n 's/.*KEK id \([0-9a-f]*\).*/\1/p' "$FD_TMP/keygen.out" | head -1)
sed "s|^kek_file = .*|kek_file = $FD_TMP/other/kek.key|" "$FD_TMP/prod.conf" >"$FD_TMP/prod-wrongkek.conf"
[ ${#RUNAS[@]} -eq 0 ] || chown -R nobody: "$FD_TMP/other"
"$FIDUCIAD" --config "$FD_TMP/prod-wrongkek.conf" --data-dir "$FD_TMP/prod2" --listen 127.0.0.1:0 >"$FD_TMP/wrongkek.out" 2>&1; rc=$?
check "a production fiduciad without the KEK in use refuses to start (exit $rc)" test "$rc" != 0
check "... naming the KEK it needs ($KEK_ID)" grep -q "wrapped under KEK ${KEK_ID:-none}" "$FD_TMP/wrongkek.out"
printf 'kek_previous_file = %s\n' "$(sed -n 's/^kek_file = //p' "$FD_TMP/prod.conf")" >>"$FD_TMP/prod-wrongkek.conf"
FIDUCIAD="$FD_TMP/fiduciad-as-user"
fd_start prod2 --config "$FD_TMP/prod-wrongkek.conf" || fd_finish
FIDUCIAD=$FIDUCIAD_REAL
check "with that KEK as kek_previous_file (mid-rotation), it starts" curl -sf "$URL/readyz" -o /dev/null
fd_stop "$PID"

fd_finish
