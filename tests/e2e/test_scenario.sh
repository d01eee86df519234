#!/usr/bin/env bash
# End to end: the whole story (issue 8). deploy/demo.sh — the scenario the
# quickstart prints — runs without a terminal through HAProxy in front of two
# fiduciad processes on one PostgreSQL, with the test-only zero-noise hook so
# that the withdrawal is checked to the host; every outcome of the story is
# asserted by the script itself (it stops at the first one that differs).
# Then, of the scale-out:
#  - requests were spread over both processes;
#  - the ledger verifies as one log through either process (the state saved
#    by verifying through one is consistent with the other's checkpoint);
#  - no budget is overspent, and 12 questions racing through the balancer for
#    the last 7 epsilon of the stays budget: exactly 7 win.
source "$FIDUCIA_SRC/tests/harness/lib.sh"

command -v haproxy >/dev/null || { fail "haproxy is installed (deploy/install-deps.sh)"; fd_finish; }
fd_pg scenario
fd_start s1 --set "database_url=$PG_URL" --set query_noise=zero --set worker_threads=2 || fd_finish
URL1=$URL DATA1=$DATA LOG1=$LOG
mkdir -p "$FD_TMP/s2"
cp -a "$DATA1/keys" "$FD_TMP/s2/"
fd_start s2 --set "database_url=$PG_URL" --set query_noise=zero --set worker_threads=2 || fd_finish
URL2=$URL LOG2=$LOG

# The balancer, on a port nobody holds.
for attempt in 1 2 3 4 5 6 7 8; do
	LBPORT=$((20000 + RANDOM % 20000))
	FIDUCIA_LB_BIND=127.0.0.1:$LBPORT FIDUCIA_BACKEND_1=${URL1#http://} FIDUCIA_BACKEND_2=${URL2#http://} \
		haproxy -f "$FIDUCIA_SRC/deploy/haproxy.cfg" -db >>"$FD_TMP/haproxy.log" 2>&1 &
	LBPID=$!
	FD_PIDS+=("$LBPID")
	for i in $(seq 1 50); do
		curl -sf "http://127.0.0.1:$LBPORT/readyz" >/dev/null 2>&1 && break 2
		kill -0 "$LBPID" 2>/dev/null || break
		sleep 0.1
	done
	kill "$LBPID" 2>/dev/null
done
LB=http://127.0.0.1:$LBPORT
check "HAProxy balances the two processes" curl -sf "$LB/readyz" -o /dev/null
# Both servers pass their health checks before the story starts.
for i in $(seq 1 50); do
	seen=$(for k in 1 2 3 4; do curl -s -D - -o /dev/null "$LB/readyz" | grep -i '^x-fiducia-backend' ; done | sort -u | wc -l)
	[ "$seen" = 2 ] && break
	sleep 0.2
done
check "both processes are in rotation" test "$seen" = 2
check "the balancer does not expose /metrics" test "$(curl -s -o /dev/null -w '%{http_code}' "$LB/metrics")" = 404

# ---- the story ---------------------------------------------------------------------------
before1=$(grep -c '"path":"/v1/queries"' "$LOG1")
before2=$(grep -c '"path":"/v1/queries"' "$LOG2")
FIDUCIA_URL=$LB FIDUCIA_DATA=$DATA1 FIDUCIA_BUILD=$FIDUCIA_BUILD FIDUCIA_DEMO_EXACT=1 \
	FIDUCIA_DEMO_DIR=$FD_TMP/demo bash "$FIDUCIA_SRC/deploy/demo.sh" >"$FD_TMP/story.txt" 2>&1
rc=$?
sed 's/^/# /' "$FD_TMP/story.txt" | grep -E '✓|✗|== ' 
check "the scenario runs through the balancer, every outcome as told ($(grep -c '✓' "$FD_TMP/story.txt") checked)" test "$rc" = 0
if [ "$rc" != 0 ]; then tail -40 "$FD_TMP/story.txt"; fi
check "the story prints no escape codes without a terminal" bash -c "! grep -q $'\\033' '$FD_TMP/story.txt'"
q1=$(($(grep -c '"path":"/v1/queries"' "$LOG1") - before1))
q2=$(($(grep -c '"path":"/v1/queries"' "$LOG2") - before2))
check "queries were spread over both processes ($q1 and $q2)" test "$q1" -gt 3 -a "$q2" -gt 3
d1=$(grep -c '"path":"/v1/datasets/[^"]*/batches' "$LOG1")
d2=$(grep -c '"path":"/v1/datasets/[^"]*/batches' "$LOG2")
check "deposit batches were spread over both processes ($d1 and $d2)" test "$d1" -gt 0 -a "$d2" -gt 0

# ---- one ledger --------------------------------------------------------------------------
OP=$(DATA=$DATA1 fd_token operator operator)
REG=$(DATA=$DATA1 fd_token cnil regulator)
sleep 1.5
VKEY=$(curl -s "$URL1/v1/ledger/key")
check "both processes publish the same verifier key" test "$VKEY" = "$(curl -s "$URL2/v1/ledger/key")"
FIDUCIA_TOKEN=$REG "$FIDUCIA" --url "$URL1" ledger verify --vkey "$VKEY" --state "$FD_TMP/reg.state" >"$FD_TMP/v1" 2>&1
check "the ledger verifies through process 1" test $? = 0
FIDUCIA_TOKEN=$REG "$FIDUCIA" --url "$URL2" ledger verify --vkey "$VKEY" --state "$FD_TMP/reg.state" >"$FD_TMP/v2" 2>&1
check "and through process 2, consistent with what process 1 showed: one log" test $? = 0

# ---- budgets -----------------------------------------------------------------------------
psql_() { psql "$PG_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }
check "no budget is overspent" test "$(psql_ -c 'SELECT count(*) FROM budgets WHERE spent_micro > total_micro')" = 0
STAYS=$(psql_ -c "SELECT id FROM datasets WHERE holder = 'rental-platform' AND state = 'ACTIVE' ORDER BY created_at DESC LIMIT 1")
left=$(psql_ -c "SELECT total_micro - spent_micro FROM budgets WHERE org = 'city-lyon' AND dataset = '$STAYS'")
check "the stays budget has 7 epsilon left after the story" test "$left" = 7000000
CITY=$(DATA=$DATA1 fd_token city-lyon user)
RACERS=()
for m in 01 02 03 04 05 06 07 08 09 10 11 12; do
	q='{"dataset":"'$STAYS'","purpose":"dpv:ProvideOfficialStatistics","measures":[{"fn":"SUM","column":"guests"}],"groupBy":[{"column":"district"}],"timeRange":{"from":"2026-'$m'-01T00:00:00Z","to":"'$(date -u -d "2026-$m-01 + 1 month" +%F)'T00:00:00Z"}}'
	curl -s -o /dev/null -D "$FD_TMP/race.$m" -w '%{http_code}\n' -X POST "$LB/v1/queries" \
		-H "Authorization: Bearer $CITY" -H 'Content-Type: application/json' --data-binary "$q" >"$FD_TMP/race.$m.status" &
	RACERS+=($!)
done
wait "${RACERS[@]}"
won=$(cat "$FD_TMP"/race.*.status | grep -c '^200$')
lost=$(cat "$FD_TMP"/race.*.status | grep -c '^429$')
check "12 questions race through the balancer for 7 epsilon: 7 win, 5 get 429 ($won, $lost)" test "$won-$lost" = 7-5
backends=$(cat "$FD_TMP"/race.[0-9][0-9] | grep -i '^x-fiducia-backend' | tr -d '\r' | sort -u | wc -l)
check "the racers reached both processes" test "$backends" = 2
check "the budget is spent to the last micro-epsilon and not beyond" \
	test "$(psql_ -c "SELECT spent_micro - total_micro FROM budgets WHERE org = 'city-lyon' AND dataset = '$STAYS'")" = 0

# ---- nothing raw in the database or the logs ---------------------------------------------
host=$(awk -F, 'NR == 2 { print $1 }' "$FD_TMP/demo/stays.csv")
check "no host id in PostgreSQL" bash -c "! pg_dump '$PG_URL' | grep -q '$host'"
check "no host id in either log" bash -c "! grep -q '$host' '$LOG1' '$LOG2'"
check "no bearer token in either log" bash -c "! grep -q '$CITY' '$LOG1' '$LOG2'"

fd_finish
