#!/usr/bin/env bash
# End to end on the embedded default: fiduciad manages its own PostgreSQL,
# the operator creates, lists, reads and disables organisations over HTTP in
# JSON and in binary protobuf, with curl and with the fiducia CLI; bad input
# gets a 4xx with an Error body and leaves nothing behind; SIGTERM exits 0
# and stops the cluster; a restart keeps keys and data.
source "$FIDUCIA_SRC/tests/harness/lib.sh"

fd_start main || fd_finish
OP=$(fd_token operator operator)
check "dev issuer key is PKCS#8 PEM" grep -q "BEGIN PRIVATE KEY" "$DATA/keys/dev-issuer.pem"
check "KEK is 32 bytes, mode 600" test "$(stat -c %s:%a "$DATA/keys/kek.key")" = "32:600"
check "ledger key is 32 bytes" test "$(stat -c %s "$DATA/keys/ledger-ed25519.key")" = 32
check "cluster listens on a unix socket in the data dir" test -S "$DATA/pg/run/.s.PGSQL.5432"
check "cluster has no TCP port" grep -q "listen_addresses = ''" "$DATA/pg/data/fiducia.conf"

err=$("$FIDUCIAD" --data-dir "$DATA" --listen 127.0.0.1:0 2>&1); rc=$?
check "a second fiduciad on the same data folder is refused" test "$rc" != 0
check "... saying the folder is in use" grep -q "in use by another fiduciad" <<<"$err"
req GET /healthz; expect_status 200 "healthz"
req GET /readyz; expect_status 200 "readyz"
expect_json .schemaVersion "$(ls "$FIDUCIA_SRC"/sql/*.sql | wc -l)" "readyz reports the schema"

req GET /v1/whoami "$OP"; expect_status 200 "whoami as operator"
expect_json .org operator "whoami org"; expect_json .role operator "whoami role"
expect_json .issuer fiducia-dev "whoami issuer"
expect_json '.expiresAt | test("^20[0-9-]+T[0-9:]+Z$")' true "whoami expiry is RFC 3339"

# Create, in JSON.
req POST /v1/orgs "$OP" '{"name":"city-lyon","kind":"PUBLIC_AUTHORITY","country":"FR","contact":"dpo@lyon.fr"}'
expect_status 201 "create city-lyon"
expect_json .kind PUBLIC_AUTHORITY "enum by name"; expect_json .country FR "country"
expect_json '.createdAt | test("Z$")' true "createdAt is a timestamp"
req POST /v1/orgs "$OP" '{"name":"city-lyon","kind":"HOLDER"}'
expect_status 409 "duplicate name"; expect_json .code already_exists "409 code"

# Bad input: a 4xx with an Error message naming the fault; nothing written.
req POST /v1/orgs "$OP" '{"name":"Bad Name","kind":"HOLDER"}'
expect_status 400 "bad slug"; expect_json '.message | contains("$.name")' true "names the field"
expect_json '.requestId | length > 0' true "Error carries the request id"
req POST /v1/orgs "$OP" '{"name":"waze","kind":"HOLDER","colour":"blue"}'
expect_status 400 "unknown field"; expect_json '.message | contains("colour")' true "names the unknown field"
req POST /v1/orgs "$OP" '{"name":"waze","kind":7.5}'
expect_status 400 "wrong type"; expect_json '.message | contains("$.kind")' true "names the mistyped field"
req POST /v1/orgs "$OP" '{"name":"waze","kind":"HOLDER"'
expect_status 400 "malformed JSON"; expect_json '.message | contains("byte")' true "names the byte offset"
req POST /v1/orgs "$OP" '{"name":"waze","kind":"OPERATOR"}'
expect_status 400 "a second operator is refused"
req POST /v1/orgs "$OP" '{"name":"waze","kind":"HOLDER","country":"France"}'
expect_status 400 "bad country"
CTYPE=text/plain req POST /v1/orgs "$OP" 'name=waze'
expect_status 415 "wrong content type"
req POST /v1/orgs "$OP" "" -H 'Content-Type: application/json' --data-binary ''
expect_status 400 "empty body"
req GET /v1/orgs "$OP"; expect_json '.orgs | length' 2 "no bad request left a trace"

# Binary protobuf in and out, encoded and decoded by protoc, not by us.
PROTO_I=(-I "$FIDUCIA_SRC/proto" -I /usr/include)
printf 'name: "waze"\nkind: HOLDER\ncountry: "FR"\n' |
	protoc "${PROTO_I[@]}" --encode=fiducia.v1.CreateOrgRequest fiducia/v1/orgs.proto >"$FD_TMP/org.pb"
STATUS=$(curl -s -o "$FD_TMP/out.pb" -w '%{http_code}' -X POST "$URL/v1/orgs" \
	-H "Authorization: Bearer $OP" -H 'Content-Type: application/x-protobuf' \
	-H 'Accept: application/x-protobuf' --data-binary @"$FD_TMP/org.pb")
expect_status 201 "create in protobuf"
protoc "${PROTO_I[@]}" --decode=fiducia.v1.Org fiducia/v1/orgs.proto <"$FD_TMP/out.pb" >"$FD_TMP/out.txt"
check "protobuf reply decodes as Org" grep -q 'name: "waze"' "$FD_TMP/out.txt"
check "protobuf reply has the kind" grep -q 'kind: HOLDER' "$FD_TMP/out.txt"
printf '\x0a\x05' >"$FD_TMP/trunc.pb"
STATUS=$(curl -s -o "$FD_TMP/err.pb" -w '%{http_code}' -X POST "$URL/v1/orgs" \
	-H "Authorization: Bearer $OP" -H 'Content-Type: application/x-protobuf' \
	-H 'Accept: application/x-protobuf' --data-binary @"$FD_TMP/trunc.pb")
expect_status 400 "truncated protobuf"
check "protobuf Error body" grep -q 'code: "invalid_argument"' \
	<(protoc "${PROTO_I[@]}" --decode=fiducia.v1.Error fiducia/v1/common.proto <"$FD_TMP/err.pb")
STATUS=$(curl -s -o "$FD_TMP/o.pb" -w '%{http_code}' "$URL/v1/orgs/waze" \
	-H "Authorization: Bearer $OP" -H 'Accept: application/x-protobuf')
expect_status 200 "read in protobuf"
check "GET reply decodes" grep -q 'country: "FR"' \
	<(protoc "${PROTO_I[@]}" --decode=fiducia.v1.Org fiducia/v1/orgs.proto <"$FD_TMP/o.pb")
req GET /v1/orgs "$OP" "" -H 'Accept: text/html'; expect_status 406 "unacceptable Accept"

# Reads.
req GET /v1/orgs "$OP"; expect_status 200 "list"
expect_json '[.orgs[].name] | join(",")' "city-lyon,operator,waze" "list is sorted by name"
req GET /v1/orgs/city-lyon "$OP"; expect_status 200 "show"; expect_json .contact dpo@lyon.fr "show contact"
req GET /v1/orgs/nobody "$OP"; expect_status 404 "unknown org"
req DELETE /v1/orgs "$OP"; expect_status 405 "wrong method"
req GET /v1/nothing "$OP"; expect_status 404 "unknown route"

# Roles.
HOLDER=$(fd_token waze holder)
req POST /v1/orgs "$HOLDER" '{"name":"x1","kind":"HOLDER"}'; expect_status 403 "holder may not create orgs"
req GET /v1/orgs "$HOLDER"; expect_status 403 "holder may not list orgs"
req GET /v1/orgs/waze "$HOLDER"; expect_status 200 "holder reads its own org"
req GET /v1/orgs/city-lyon "$HOLDER"; expect_status 403 "holder may not read another org"
GHOST=$(fd_token ghost-org holder)
req GET /v1/whoami "$GHOST"; expect_status 401 "token of an unknown org"

# Disable: refused from then on (the cache is updated at once).
req GET /v1/whoami "$HOLDER"; expect_status 200 "holder token works before disable"
req POST /v1/orgs/waze/disable "$OP"; expect_status 200 "disable"
expect_json .disabled true "disabled flag"; expect_json '.disabledAt | length > 0' true "disabledAt"
req GET /v1/whoami "$HOLDER"; expect_status 403 "disabled org's token refused"
req POST /v1/orgs/waze/disable "$OP"; expect_status 200 "disable is idempotent"
req POST /v1/orgs/operator/disable "$OP"; expect_status 409 "operator cannot be disabled"

# The CLI.
export FIDUCIA_URL="$URL"
printf '%s' "$OP" >"$FD_TMP/op.jwt"
out=$("$FIDUCIA" --token "$FD_TMP/op.jwt" org create airbnb --kind HOLDER --country IE 2>&1)
check "cli org create" grep -q airbnb <<<"$out"
out=$("$FIDUCIA" --token "$FD_TMP/op.jwt" org list 2>&1)
check "cli org list shows every org" bash -c "grep -q city-lyon <<<'$out' && grep -q airbnb <<<'$out'"
out=$(FIDUCIA_TOKEN="$OP" "$FIDUCIA" --json org show airbnb)
check "cli --json prints the JSON body" test "$(jq -r .country <<<"$out")" = IE
out=$(FIDUCIA_TOKEN="$OP" "$FIDUCIA" whoami)
check "cli whoami" grep -q "operator" <<<"$out"
FIDUCIA_TOKEN="$OP" "$FIDUCIA" org show nobody >/dev/null 2>"$FD_TMP/cli.err"; rc=$?
check "cli exits 1 on a 404" test "$rc" = 1
check "cli prints the server's error" grep -q "not_found" "$FD_TMP/cli.err"
FIDUCIA_TOKEN="$OP" "$FIDUCIA" org disable airbnb >/dev/null; rc=$?
check "cli org disable" test "$rc" = 0
"$FIDUCIA" --url http://127.0.0.1:1 --token "$FD_TMP/op.jwt" whoami >/dev/null 2>&1; rc=$?
check "cli exits 3 when the server is unreachable" test "$rc" = 3
"$FIDUCIA" org frobnicate >/dev/null 2>&1; rc=$?
check "cli exits 2 on a usage error" test "$rc" = 2

# Metrics.
req GET /metrics
check "metrics count requests by route and status" \
	grep -q 'fiducia_http_requests_total{route="/v1/orgs",method="POST",status="201"} 3' <<<"$BODY"
check "metrics have a latency histogram" grep -q 'fiducia_http_request_duration_seconds_bucket' <<<"$BODY"
check "metrics have pool statistics" grep -q 'fiducia_db_pool_connections{state="connected"}' <<<"$BODY"
req GET /metrics "" "" -H 'Accept: text/plain'; expect_status 200 "metrics asked for as text/plain"
req GET /metrics "" "" -H 'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5'
expect_status 200 "metrics with the Accept a Prometheus server sends"
req GET /v1/orgs "" "" -H 'Accept: text/plain'; expect_status 406 "a JSON route is not served as text/plain"

# Logs: JSON lines; no token in them.
check "every log line is JSON" bash -c "jq -e . '$LOG' >/dev/null"
check "access log has request id, status, org" \
	bash -c "grep '\"event\":\"access\"' '$LOG' | grep -q '\"org\":\"operator\"'"
check "no token in the log" bash -c "! grep -qF '${OP:0:40}' '$LOG'"

# SIGTERM: exit 0, cluster stopped; a restart keeps keys and data.
fd_stop "$PID"
check "SIGTERM exits 0" test "$RC" = 0
check "embedded cluster stopped" test ! -e "$DATA/pg/data/postmaster.pid"
fd_start main || fd_finish
req GET /v1/orgs/city-lyon "$OP"; expect_status 200 "restart keeps data and the dev issuer"
check "migrations not re-applied" test "$(grep -c 'migration 001_orgs.sql applied' "$LOG")" = 1

# kill -9: the cluster survives fiduciad; the next start adopts it and serves.
kill -KILL "$PID"; wait "$PID" 2>/dev/null
check "the cluster outlives a killed fiduciad" test -e "$DATA/pg/data/postmaster.pid"
fd_start main || fd_finish
check "the restart adopted the running cluster" grep -q "already running; adopting it" "$LOG"
req GET /v1/orgs/city-lyon "$OP"; expect_status 200 "data intact after kill -9"
fd_stop "$PID"
check "and stops it at exit" test ! -e "$DATA/pg/data/postmaster.pid"


fd_finish
