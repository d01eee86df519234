#!/usr/bin/env bash
# End to end on an external PostgreSQL: PostgreSQL stopped in the middle of
# a large deposit (no partial batch is ever visible, and the CLI's retry
# completes it); a KEK rotation interrupted half-way and run again (every
# dataset readable under the new KEK, a process holding only the old one
# refuses with a clear error).
source "$FIDUCIA_SRC/tests/harness/lib.sh"

fd_pg ops
fd_start ops --set "database_url=$PG_URL" || fd_finish
q() { psql "$PG_URL" -tAc "$1"; }
OP=$(fd_token operator operator)
req POST /v1/orgs "$OP" '{"name":"navapp","kind":"HOLDER"}'; expect_status 201 "create navapp"
NAV=$(fd_token navapp holder)
export FIDUCIA_URL=$URL FIDUCIA_TOKEN=$NAV
SCHEMA="$FIDUCIA_SRC/tests/e2e/data/probe-speeds.json"
DS=$("$FIDUCIA" --json dataset create --schema "$SCHEMA" | jq -r .id)
check "dataset registered" test -n "$DS"

# ---- PostgreSQL stops during a deposit ------------------------------------------
ROWS=1500000 # enough batches that PostgreSQL stops mid-deposit even on a fast machine
"$FIDUCIA_BUILD/bench_gen_probes" $ROWS 3 >"$FD_TMP/big.csv"
"$FIDUCIA" deposit "$DS" "$FD_TMP/big.csv" --batch-size 10000 --parallel 2 >"$FD_TMP/dep.out" 2>"$FD_TMP/dep.err" &
DEP=$!
for i in $(seq 1 300); do
	n=$(q "select count(*) from batches where dataset = '$DS'" 2>/dev/null || echo 0)
	[ "${n:-0}" -ge 3 ] && break
	sleep 0.05
done
"$PG_SH" restart-stop "$PG_STATE"
check "the deposit was still running when PostgreSQL stopped" kill -0 "$DEP"
sleep 3
"$PG_SH" restart-start "$PG_STATE"
wait "$DEP"; RC=$?
check "the CLI retried and finished (exit 0)" test "$RC" = 0
check "it saw the outage" grep -q "server unavailable, retrying" "$FD_TMP/dep.err"
check "every row stored once" test "$(q "select sum(rows) from batches where dataset = '$DS'")" = $ROWS
check "$((ROWS / 10000)) batches, no more" test "$(q "select count(*) from batches where dataset = '$DS'")" = $((ROWS / 10000))
check "no partial batch: every receipt's chunks are all there" test "$(q "select count(*) from batches b where b.rows <> (select coalesce(sum(c.rows), 0) from chunks c where c.dataset = b.dataset and c.batch_id = b.batch_id) or not exists (select 1 from ledger_entries e where e.idx = b.ledger_idx or e.pending_id = b.ledger_pending)")" = 0
check "no chunk without a receipt" test "$(q "select count(*) from chunks c where not exists (select 1 from batches b where b.dataset = c.dataset and b.batch_id = c.batch_id)")" = 0
check "no chunk without all its columns" test "$(q "select count(*) from chunks c where (select count(*) from chunk_columns k where k.chunk = c.id) <> 6")" = 0
check "every deposit has its ledger entry" test "$(q "select count(*) from ledger_entries where action = 'DEPOSIT' and dataset = '$DS'")" = $((ROWS / 10000))
req POST "/v1/datasets/$DS/verify" "$NAV"; expect_json '.ok' true "every ciphertext opens after the outage"

# ---- KEK rotation, interrupted and run again --------------------------------------
for i in $(seq 1 12); do
	jq ".name = \"more-$i\"" "$SCHEMA" >"$FD_TMP/s$i.json"
	"$FIDUCIA" dataset create --schema "$FD_TMP/s$i.json" >/dev/null || fail "create more-$i"
done
req POST "/v1/datasets/$DS/keys/rotate" "$NAV"; expect_status 201 "a second data key for the big dataset"
NKEYS=$(q "select count(*) from dataset_keys")
OLD_ID=$(q "select distinct kek_id from dataset_keys")
check "all $NKEYS keys under one KEK" test "$(q "select count(distinct kek_id) from dataset_keys")" = 1
fd_stop "$PID"
cp "$DATA/keys/kek.key" "$FD_TMP/old.key"
# A failure half-way: the row of the 7th dataset in rotation order refuses.
MID=$(q "select dataset from dataset_keys order by dataset limit 1 offset 13")
q "create function no_rewrap() returns trigger language plpgsql as \$\$ begin if new.dataset = '$MID' then raise exception 'simulated crash'; end if; return new; end \$\$; create trigger no_rewrap before update on dataset_keys for each row execute function no_rewrap()" >/dev/null
ROT=("$FIDUCIAD" rotate-kek --new-key "$FD_TMP/new.key" --keys-per-transaction 2 --data-dir "$DATA" --set "database_url=$PG_URL")
"${ROT[@]}" >"$FD_TMP/rot1.out" 2>"$FD_TMP/rot1.err"; RC=$?
check "the interrupted rotation fails" test "$RC" != 0
check "interrupted half-way: keys under both KEKs" test "$(q "select count(distinct kek_id) from dataset_keys")" = 2
check "the old KEK file is still in place" cmp -s "$DATA/keys/kek.key" "$FD_TMP/old.key"
q "drop trigger no_rewrap on dataset_keys" >/dev/null
"${ROT[@]}" >"$FD_TMP/rot2.out" 2>"$FD_TMP/rot2.err"; RC=$?
check "run again, it completes" test "$RC" = 0
check "every key under the new KEK" test "$(q "select count(distinct kek_id) from dataset_keys where kek_id <> '$OLD_ID'")" = 1
check "none under the old" test "$(q "select count(*) from dataset_keys where kek_id = '$OLD_ID'")" = 0
check "the key count is unchanged" test "$(q "select count(*) from dataset_keys")" = "$NKEYS"
check "the new KEK is installed" cmp -s "$DATA/keys/kek.key" "$FD_TMP/new.key"
check "rotations are ledgered" test "$(q "select count(*) from ledger_entries where action = 'KEY_ROTATED' and actor_org = 'operator'")" -ge 2
check "no chunk was touched (still one sealed chunk per batch)" test "$(q "select count(*) from chunks where dataset = '$DS'")" = $((ROWS / 10000))

fd_start ops --set "database_url=$PG_URL" || fd_finish
NAV=$(fd_token navapp holder)
req POST "/v1/datasets/$DS/verify" "$NAV"; expect_json '.ok' true "all data readable under the new KEK"
expect_json '.rows' $ROWS "every row"
CTYPE=text/csv req POST "/v1/datasets/$DS/batches" "$NAV" "$(head -3 "$FD_TMP/big.csv")" -H "Idempotency-Key: after-kek"
expect_status 201 "deposits go on"
fd_stop "$PID"
# A process that holds only the old KEK cannot unwrap, and says so.
fd_start old --set "database_url=$PG_URL" --set "kek_file=$FD_TMP/old.key" || fd_finish
NAV=$(fd_token navapp holder)
req POST "/v1/datasets/$DS/verify" "$NAV"; expect_status 500 "a process with the retired KEK only"
expect_json '.code' key_unavailable "names the missing key-encryption key"
fd_stop "$PID"
fd_start both --set "database_url=$PG_URL" --set "kek_file=$FD_TMP/old.key" --set "kek_previous_file=$FD_TMP/new.key" || fd_finish
NAV=$(fd_token navapp holder)
req POST "/v1/datasets/$DS/verify" "$NAV"; expect_json '.ok' true "kek_previous_file bridges a rolling restart"
fd_stop "$PID"
fd_finish
