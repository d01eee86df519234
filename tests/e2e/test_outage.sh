#!/usr/bin/env bash
# End to end on an external PostgreSQL: a restart of the database while
# fiduciad runs gives 503 during the outage and recovery afterwards without
# intervention; two fiduciad processes started together on one database
# apply the migrations once and share organisation state (a disable on one
# is refused on the other).
source "$FIDUCIA_SRC/tests/harness/lib.sh"

fd_pg shared
# Two processes at once, on the same fresh database.
# One deployment, one ledger signing key (like the KEK): every process signs
# checkpoints of the same log, so they must sign with the same key.
head -c 32 /dev/urandom >"$FD_TMP/ledger.key"; chmod 600 "$FD_TMP/ledger.key"
"$FIDUCIAD" --data-dir "$FD_TMP/a" --listen 127.0.0.1:0 --set "database_url=$PG_URL" \
	--set "ledger_key_file=$FD_TMP/ledger.key" >"$FD_TMP/a.log" 2>&1 &
FD_PIDS+=($!)
fd_start b --set "database_url=$PG_URL" --set "ledger_key_file=$FD_TMP/ledger.key" || fd_finish
URL_B=$URL; DATA_B=$DATA
for i in $(seq 1 100); do grep -q '"event":"listening"' "$FD_TMP/a.log" && break; sleep 0.1; done
PORT_A=$(grep -o '"event":"listening"[^}]*"port":[0-9]*' "$FD_TMP/a.log" | grep -o '[0-9]*$')
URL_A="http://127.0.0.1:$PORT_A"
check "both processes serve" curl -sf "$URL_A/readyz" -o /dev/null
check "migrations applied exactly once" \
	test "$(psql "$PG_URL" -tAc 'select count(*) from schema_migrations where version = 1')" = 1
check "one operator org" test "$(psql "$PG_URL" -tAc "select count(*) from orgs where name='operator'")" = 1

# Trust b's dev issuer on both (a has its own): use b's tokens against b, a's against a.
OP_B=$(fd_token operator operator)
URL=$URL_B
req POST /v1/orgs "$OP_B" '{"name":"waze","kind":"HOLDER"}'; expect_status 201 "create on b"
DATA="$FD_TMP/a"; HOLDER_A=$(fd_token waze holder); DATA=$DATA_B
URL=$URL_A
req GET /v1/whoami "$HOLDER_A"; expect_status 200 "a sees the org created on b"
req GET /v1/whoami "$HOLDER_A"; expect_status 200 "a caches it"
URL=$URL_B
req POST /v1/orgs/waze/disable "$OP_B"; expect_status 200 "disable on b"
URL=$URL_A
refused=0
for i in $(seq 1 200); do
	req GET /v1/whoami "$HOLDER_A"
	[ "$STATUS" = 403 ] && { refused=1; break; }
	sleep 0.1
done
check "a refuses the disabled org's token (NOTIFY reached its cache)" test "$refused" = 1

# Both processes append concurrently: one log, contiguous, whose signed root
# is the RFC 6962 root of its entries (recomputed here with openssl).
DATA="$FD_TMP/a"; OP_A=$(fd_token operator operator); DATA=$DATA_B
pids=()
for i in $(seq 1 10); do
	curl -s -o /dev/null -X POST "$URL_A/v1/orgs" -H "Authorization: Bearer $OP_A" \
		-H 'Content-Type: application/json' --data-binary "{\"name\":\"a$i\",\"kind\":\"HOLDER\"}" & pids+=($!)
	curl -s -o /dev/null -X POST "$URL_B/v1/orgs" -H "Authorization: Bearer $OP_B" \
		-H 'Content-Type: application/json' --data-binary "{\"name\":\"b$i\",\"kind\":\"HOLDER\"}" & pids+=($!)
done
wait "${pids[@]}"
check "every concurrent create committed" test "$(psql "$PG_URL" -tAc "select count(*) from orgs where name ~ '^[ab][0-9]+$'")" = 20
N=$(psql "$PG_URL" -tAc "select count(*) from ledger_entries")
check "one ledger entry per change" test "$N" = 22
check "indexes contiguous from 0" test "$(psql "$PG_URL" -tAc "select max(idx) + 1 = count(*) and min(idx) = 0 from ledger_entries")" = t
mapfile -t LEAVES < <(psql "$PG_URL" -tAc "select encode(sha256('\x00'::bytea || entry), 'hex') from ledger_entries order by idx")
h() { openssl dgst -sha256 -binary | xxd -p -c 64; }
mth() { # start n
	local s=$1 n=$2 k=1
	if [ "$n" = 1 ]; then echo "${LEAVES[$s]}"; return; fi
	while [ $((k * 2)) -lt "$n" ]; do k=$((k * 2)); done
	printf '01%s%s' "$(mth "$s" "$k")" "$(mth $((s + k)) $((n - k)))" | xxd -r -p | h
}
ROOT=$(mth 0 "$N")
for i in $(seq 1 200); do
	CP=$(curl -s "$URL_A/v1/ledger/checkpoint")
	[ "$(sed -n 2p <<<"$CP")" = "$N" ] && break
	sleep 0.1
done
check "a checkpoint covers every entry" test "$(sed -n 2p <<<"$CP")" = "$N"
check "its root is the independent RFC 6962 root" test "$(sed -n 3p <<<"$CP" | base64 -d | xxd -p -c 64)" = "$ROOT"
check "both processes serve the same checkpoint" test "$(curl -s "$URL_B/v1/ledger/checkpoint")" = "$CP"
check "and the same verifier key" test "$(curl -s "$URL_A/v1/ledger/key")" = "$(curl -s "$URL_B/v1/ledger/key")"

# Database restart while fiduciad runs.
URL=$URL_B
req GET /v1/orgs "$OP_B"; expect_status 200 "before the outage"
"$PG_SH" restart-stop "$PG_STATE"
sleep 0.5
req GET /v1/orgs "$OP_B"; expect_status 503 "during the outage: 503"
expect_json .code unavailable "503 carries an Error"
req GET /readyz; expect_status 503 "readyz says not ready"
req GET /healthz; expect_status 200 "healthz still answers"
"$PG_SH" restart-start "$PG_STATE"
recovered=0
for i in $(seq 1 100); do
	req GET /v1/orgs "$OP_B"
	[ "$STATUS" = 200 ] && { recovered=1; break; }
	sleep 0.1
done
check "after the outage: recovered by itself" test "$recovered" = 1
req GET /readyz; expect_status 200 "ready again"
URL=$URL_A
for i in $(seq 1 100); do   # a's pool reconnects on its own schedule
	req GET /v1/whoami "$HOLDER_A"
	[ "$STATUS" != 503 ] && break
	sleep 0.1
done
expect_status 403 "org state survives the restart"
URL=$URL_B

# SIGTERM drains: a request held up in the database still completes.
URL=$URL_B
psql "$PG_URL" -qc "BEGIN; LOCK TABLE orgs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;" >/dev/null &
LOCKER=$!
sleep 0.5
curl -s -o "$FD_TMP/slow" -w '%{http_code}' "$URL/v1/orgs" -H "Authorization: Bearer $OP_B" >"$FD_TMP/slow.status" &
SLOW=$!
sleep 0.3
B_PID=${FD_PIDS[-1]}
kill -TERM "$B_PID"
sleep 0.3
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")
check "no new connections while draining" test "$STATUS" = 000
wait "$SLOW"; wait "$LOCKER"
check "the in-flight request completed with 200" test "$(cat "$FD_TMP/slow.status")" = 200
wait "$B_PID"; rc=$?
check "fiduciad exited 0 after draining" test "$rc" = 0

fd_finish
