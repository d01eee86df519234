#!/usr/bin/env bash
# End to end: aggregate queries (issue 7), through two fiduciad processes on
# one PostgreSQL, with the test-only zero-noise hook (query_noise=zero, a
# FIDUCIA_TEST_HOOKS build) so that answers can be compared exactly:
#  - correctness: every measure, time bucket and filter against PostgreSQL
#    computing the same GROUP BY on the same plaintext;
#  - suppression by k and the dominance rule (non-personal), partition
#    selection and contribution caps (personal, DP on);
#  - consent: a withdrawn subject is no longer counted by the next query;
#  - budget: exhaustion gives 429 (ledgered), a repeat is free, and two
#    requests racing for the last epsilon through two processes: one wins;
#  - a denied query is ledgered and releases nothing;
#  - no row-level value: grouping by the subject or a measure is refused;
#  - the CLI's query and budget commands, and nothing deposited in the log.
source "$FIDUCIA_SRC/tests/harness/lib.sh"

fd_pg query
fd_start qa --set "database_url=$PG_URL" --set query_noise=zero --set query_max_groups_per_subject=1 \
	--set query_max_groups=5000 || fd_finish
URL_A=$URL
OP=$(fd_token operator operator)
EX="$FIDUCIA_SRC/policy/examples"
for o in "roadnav HOLDER" "city-lyon PUBLIC_AUTHORITY" "adco HOLDER" "cnil REGULATOR"; do
	set -- $o
	req POST /v1/orgs "$OP" "{\"name\":\"$1\",\"kind\":\"$2\"}"; expect_status 201 "create $1"
done
NAV=$(fd_token roadnav holder); CITY=$(fd_token city-lyon user); ADCO=$(fd_token adco user) # a user token of a holder org
putdoc() { # METHOD PATH TOKEN FILE
	STATUS=$(curl -s -o "$FD_TMP/body" -w '%{http_code}' -X "$1" "$URL$2" -H "Authorization: Bearer $3" \
		-H 'Content-Type: application/json' --data-binary @"$4"); BODY=$(cat "$FD_TMP/body")
}
putdoc PUT /v1/policy/baseline "$OP" "$EX/baseline.json"; expect_status 201 "the baseline"
psql_() { psql "$PG_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }

# ---- a non-personal dataset: traffic jams ---------------------------------------------
jams='{"name":"traffic-jams","personalData":false,"columns":[{"name":"city","type":"STRING","role":"DIMENSION"},{"name":"district","type":"STRING","role":"DIMENSION"},{"name":"road_class","type":"INT64","role":"DIMENSION"},{"name":"observed_at","type":"TIMESTAMP","role":"TIME"},{"name":"delay_s","type":"INT64","role":"MEASURE","min":0,"max":36000},{"name":"jam_length_m","type":"INT64","role":"MEASURE","min":0,"max":100000}]}'
req POST /v1/datasets "$NAV" "$jams"; expect_status 201 "roadnav registers traffic-jams"
JAMS=$(jq -r .id <<<"$BODY")
putdoc PUT "/v1/datasets/$JAMS/policy" "$NAV" "$EX/traffic-jams.json"; expect_status 201 "its policy"
# 30,000 jams over 45 days, 3 in a rare district (Lyon 10e), and a day of
# Lyon 11e where one jam holds almost all of the delay (dominance).
awk 'BEGIN { srand(7); print "city,district,road_class,observed_at,delay_s,jam_length_m"
	t0 = 1767225600000
	for (i = 0; i < 30000; i++)
		printf "Lyon,Lyon %de,%d,%.0f,%d,%d\n", 1 + int(rand() * 9), 1 + int(rand() * 5),
			t0 + int(rand() * 45 * 86400000), int(rand() * 3000), int(rand() * 5000)
	for (i = 0; i < 3; i++) printf "Lyon,Lyon 10e,1,%.0f,100,100\n", t0 + 86400000 * 3 + i * 1000
	for (i = 0; i < 20; i++) printf "Lyon,Lyon 11e,1,%.0f,%d,10\n", t0 + 86400000 * 14 + i * 1000, i ? 10 : 30000
}' >"$FD_TMP/jams.csv"
export FIDUCIA_URL=$URL FIDUCIA_TOKEN=$NAV
"$FIDUCIA" deposit "$JAMS" "$FD_TMP/jams.csv" --batch-size 1500 >/dev/null 2>&1
check "deposited" test "$(curl -s -H "Authorization: Bearer $NAV" "$URL/v1/datasets/$JAMS" | jq -r .rows)" = 30023
# the same plaintext in PostgreSQL, for the reference answers
psql_ -c "CREATE SCHEMA plain; CREATE TABLE plain.jams (city text, district text, road_class bigint, observed_at_ms bigint, delay_s bigint, jam_length_m bigint)"
psql_ -c "\\copy plain.jams FROM '$FD_TMP/jams.csv' CSV HEADER"
psql_ -c "CREATE VIEW plain.j AS SELECT *, to_timestamp(observed_at_ms / 1000.0) AT TIME ZONE 'UTC' AS t FROM plain.jams"
# a histogram bin of fewer than k = 10 rows is withheld (0) when there is no noise
bin() { echo "CASE WHEN count(*) FILTER (WHERE $1) BETWEEN 1 AND 9 THEN 0 ELSE count(*) FILTER (WHERE $1) END"; }
ts() { echo "to_char(date_trunc('$1', t), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"; }

# Compare fiduciad's rows ($BODY) with PostgreSQL's (SQL giving the same
# fields separated by |, sorted): keys exactly, numbers to 1e-9 relative.
same_rows() { # WHAT SQL
	jq -r '.rows[] | (.keys + [.values[].value | tostring]) | join("|")' <<<"$BODY" | LC_ALL=C sort >"$FD_TMP/got"
	psql_ -F '|' -c "$2" | LC_ALL=C sort >"$FD_TMP/want"
	if [ "$(wc -l <"$FD_TMP/want")" -gt 0 ] && awk -F'|' 'NR == FNR { w[FNR] = $0; n = FNR; next }
		{ if (FNR > n) exit 1; split(w[FNR], a, "|"); if (NF != length(a)) exit 1
		  for (i = 1; i <= NF; i++) { if ($i == a[i]) continue
		    d = $i - a[i]; if (d < 0) d = -d; m = a[i] < 0 ? -a[i] : a[i]; if (d > 1e-9 * (m > 1 ? m : 1)) exit 1 } }
		END { if (FNR != n) exit 1 }' "$FD_TMP/want" "$FD_TMP/got"; then
		ok "$1 ($(wc -l <"$FD_TMP/want") groups, as PostgreSQL computes them)"
	else
		fail "$1"; diff "$FD_TMP/want" "$FD_TMP/got" | head -10
	fi
}
Q() { # MEASURES GROUPBY FILTERS [TIMERANGE]
	printf '{"dataset":"%s","purpose":"dpv:ImproveTransportMobility","measures":%s,"groupBy":%s,"filters":%s%s}' \
		"$JAMS" "$1" "$2" "$3" "${4:+,\"timeRange\":$4}"
}
# k = 10 (the baseline's, stricter than the dataset's 5); dominance at 85%
# for each summed column
keep() { local h="HAVING count(*) >= 10" c; for c in "$@"; do h="$h AND max($c) <= 0.85 * sum($c)"; done; echo "$h"; }
req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"},{"fn":"SUM","column":"delay_s"},{"fn":"MEAN","column":"jam_length_m"},{"fn":"HISTOGRAM","column":"delay_s","bins":[0,500,1000,36000]}]' \
	'[{"column":"observed_at","bucket":"DAY"},{"column":"district"}]' '[{"column":"road_class","op":"IN","values":["2","1"]}]' \
	'{"from":"2026-01-01T00:00:00Z","to":"2026-02-01T00:00:00Z"}')"
expect_status 200 "the issue's query shape: COUNT, SUM, MEAN, HISTOGRAM by DAY x district, IN, time range"
same_rows "DAY x district, IN, time range: every measure" \
	"SELECT $(ts day), district, count(*), sum(delay_s), avg(jam_length_m)::float8, $(bin "delay_s < 500"), $(bin "delay_s >= 500 AND delay_s < 1000"), $(bin "delay_s >= 1000") FROM plain.j WHERE road_class IN (1, 2) AND t >= '2026-01-01' AND t < '2026-02-01' GROUP BY 1, 2 $(keep delay_s jam_length_m)"
expect_json '.columns | join(",")' "observed_at,district" "the key columns named"
expect_json '.rows[0].values | map(.measure) | join(",")' "COUNT,SUM(delay_s),MEAN(jam_length_m),HISTOGRAM(delay_s)[0,500),HISTOGRAM(delay_s)[500,1000),HISTOGRAM(delay_s)[1000,36000]" "each value labelled"
expect_json '[.rows[].values[] | select(.suppressed)] | length > 0' true "bins under k withheld, marked suppressed"
expect_json '.rows[0].values[0].noiseScale // 0' 0 "no DP in the non-personal policy: exact"
expect_json '.epsilonSpent // 0' 0 "no epsilon spent"
expect_json '[.policies[].scope] | join(",")' "baseline,$JAMS" "the policy versions applied"
expect_json '.ledgerIndex > 0' true "the decision's ledger index"
DOM=$(psql_ -c "SELECT count(*) FROM (SELECT 1 FROM plain.j WHERE road_class IN (1, 2) AND t >= '2026-01-01' AND t < '2026-02-01' GROUP BY $(ts day), district HAVING count(*) >= 10 AND (max(delay_s) > 0.85 * sum(delay_s) OR max(jam_length_m) > 0.85 * sum(jam_length_m))) x")
SMALL=$(psql_ -c "SELECT count(*) FROM (SELECT 1 FROM plain.j WHERE road_class IN (1, 2) AND t >= '2026-01-01' AND t < '2026-02-01' GROUP BY $(ts day), district HAVING count(*) < 10) x")
check "dominance: Lyon 11e's day suppressed ($DOM group)" test "$DOM" = 1 -a "$(jq -r '.suppressed[] | select(.reason == "dominance") | .groups' <<<"$BODY")" = "$DOM"
check "k: groups under 10 rows suppressed ($SMALL)" test "$(jq -r '[.suppressed[] | select(.reason == "min_group_size") | .groups] | add // 0' <<<"$BODY")" = "$SMALL"
check "no released key is Lyon 10e or 11e" test "$(jq '[.rows[] | select(.keys[1] == "Lyon 10e" or .keys[1] == "Lyon 11e")] | length' <<<"$BODY")" = 0
# A time range held to the finest granularity (DAY): bounds inside a day would let two
# daily questions difference out an hour.
req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"}]' '[{"column":"district"}]' '[]' '{"from":"2026-01-03T05:00:00Z","to":"2026-01-10T00:00:00Z"}')"
expect_status 403 "a time range starting inside a day is denied"
expect_json '.reasons[0]' "timeRange.from is not on a DAY boundary: the policies allow nothing finer than DAY" "... saying why"
expect_json '.ledgerIndex > 0' true "... and ledgered"

req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"},{"fn":"MEAN","column":"delay_s"}]' '[{"column":"observed_at","bucket":"WEEK"},{"column":"road_class"}]' \
	'[{"column":"district","op":"NE","values":["Lyon 1e"]},{"column":"road_class","op":"GE","values":["2"]}]')"
expect_status 200 "WEEK x road_class, NE and GE"
same_rows "WEEK x road_class (ISO weeks), NE, GE" \
	"SELECT $(ts week), road_class, count(*), avg(delay_s)::float8 FROM plain.j WHERE district <> 'Lyon 1e' AND road_class >= 2 GROUP BY 1, 2 $(keep delay_s)"
req POST /v1/queries "$CITY" "$(Q '[{"fn":"SUM","column":"jam_length_m"},{"fn":"COUNT"}]' '[{"column":"observed_at","bucket":"MONTH"},{"column":"city"}]' \
	'[{"column":"road_class","op":"LT","values":["4"]},{"column":"road_class","op":"GT","values":["1"]},{"column":"district","op":"LE","values":["Lyon 5e"]}]')"
expect_status 200 "MONTH x city, LT, GT, LE"
same_rows "MONTH x city, LT, GT, LE on strings" \
	"SELECT $(ts month), city, sum(jam_length_m), count(*) FROM plain.j WHERE road_class < 4 AND road_class > 1 AND district COLLATE \"C\" <= 'Lyon 5e' GROUP BY 1, 2 $(keep jam_length_m)"
req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"}]' '[{"column":"district"}]' '[{"column":"district","op":"EQ","values":["Lyon 3e"]}]')"
same_rows "EQ, no time bucket" "SELECT district, count(*) FROM plain.j WHERE district = 'Lyon 3e' GROUP BY 1 $(keep)"
req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"},{"fn":"SUM","column":"delay_s"}]' '[]' '[]')"
same_rows "no groupBy: the total" "SELECT count(*), sum(delay_s) FROM plain.j"

# ---- refused: policy, shape, row-level values ---------------------------------------
req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"}]' '[{"column":"observed_at","bucket":"HOUR"}]' '[]')"
expect_status 403 "an hourly breakdown: denied (finer than the policy's DAY)"
expect_json '.code' denied "code denied"
expect_json '.reasons | length > 0' true "with the reasons"
expect_json '.rows' null "and nothing released"
DENY_IDX=$(jq -r .ledgerIndex <<<"$BODY")
req GET "/v1/ledger/entries?start=$DENY_IDX&limit=1" "$CITY"
expect_json '.leaves[0].decoded.action' QUERY "the denial is ledgered: a QUERY entry"
expect_json '.leaves[0].decoded.decision' DENIED "decision DENIED"
expect_json '.leaves[0].decoded.canonicalQuery | contains("HOUR")' true "with the canonical question"
# HOUR, against PostgreSQL too, under a policy version that allows it
jq 'del(.permission[0].constraint[] | select(.leftOperand == "fiducia:timeGranularity"))' "$EX/traffic-jams.json" >"$FD_TMP/hourly.json"
putdoc PUT "/v1/datasets/$JAMS/policy" "$NAV" "$FD_TMP/hourly.json"; expect_status 201 "a policy version without the DAY floor"
req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"},{"fn":"SUM","column":"delay_s"}]' '[{"column":"observed_at","bucket":"HOUR"}]' '[{"column":"district","op":"IN","values":["Lyon 2e","Lyon 4e"]}]')"
expect_status 200 "HOUR, now permitted"
same_rows "HOUR buckets" "SELECT $(ts hour), count(*), sum(delay_s) FROM plain.j WHERE district IN ('Lyon 2e', 'Lyon 4e') GROUP BY 1 $(keep delay_s)"
putdoc PUT "/v1/datasets/$JAMS/policy" "$NAV" "$EX/traffic-jams.json"; expect_status 201 "the DAY floor back (a new version)"
req POST /v1/queries "$ADCO" "$(Q '[{"fn":"COUNT"}]' '[{"column":"district"}]' '[]')"
expect_status 403 "an org of another kind: denied (the policy names public authorities)"
req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"}]' '[{"column":"district"}]' '[]' | sed 's/dpv:ImproveTransportMobility/fiducia:TrafficEnforcement/')"
expect_status 403 "a prohibited purpose: denied"
req POST /v1/queries "$NAV" "$(Q '[{"fn":"COUNT"}]' '[]' '[]')"; expect_status 403 "a holder is not a data user"
for g in delay_s jam_length_m; do
	req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"}]' "[{\"column\":\"$g\"}]" '[]')"
	expect_status 400 "group by the measure $g: refused (row-level values)"
done
req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"}]' '[{"column":"observed_at"}]' '[]')"
expect_status 400 "group by the raw time: refused (a bucket is required)"
req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"}]' '[{"column":"nope"}]' '[]')"; expect_status 400 "an unknown column"
expect_json '.message | contains("groupBy[0]")' true "named by its JSON path"
req POST /v1/queries "$CITY" '{"dataset":"ds-0000000000000000","purpose":"dpv:ImproveTransportMobility","measures":[{"fn":"COUNT"}]}'
expect_status 404 "an unknown dataset"
req POST /v1/queries "$CITY" "$(Q '[{"fn":"COUNT"}]' '[]' '[]' | sed 's/dpv:ImproveTransportMobility/dpv:Nope/')"; expect_status 400 "an unknown purpose"

# ---- a personal dataset: probes, with DP -------------------------------------------------
req POST /v1/datasets "$NAV" "$(cat "$FIDUCIA_SRC/tests/e2e/data/probe-speeds.json")"; expect_status 201 "a personal dataset"
PR=$(jq -r .id <<<"$BODY")
cat >"$FD_TMP/probes-policy.json" <<JSON
{"@context": "http://www.w3.org/ns/odrl.jsonld", "@type": "Set", "uid": "urn:fiducia:policy:roadnav:probes",
 "profile": "urn:fiducia:odrl-profile:1", "assigner": "roadnav", "target": "$PR",
 "permission": [{"uid": "urn:fiducia:policy:roadnav:probes:mobility", "action": "aggregate", "constraint": [
   {"leftOperand": "purpose", "operator": "isA", "rightOperand": "dpv:ImproveTransportMobility"},
   {"leftOperand": "fiducia:recipientKind", "operator": "eq", "rightOperand": "PUBLIC_AUTHORITY"},
   {"leftOperand": "fiducia:timeGranularity", "operator": "gteq", "rightOperand": "DAY"},
   {"leftOperand": "fiducia:maxContributionsPerSubject", "operator": "lteq", "rightOperand": 2}]}]}
JSON
putdoc PUT "/v1/datasets/$PR/policy" "$NAV" "$FD_TMP/probes-policy.json"; expect_status 201 "its policy: at most 2 rows per driver and group"
# 600 drivers with 3 probes each in their home district (the same delay on
# the three), and 5 drivers of Lyon 9e; every driver but one in ten consents.
awk 'BEGIN { print "driver_id,pub_time,district,road_type,speed_kmh,delay_s"
	for (i = 0; i < 605; i++) for (k = 0; k < 3; k++)
		printf "drv-%04d,%.0f,Lyon %de,%d,%.2f,%d\n", i, 1767225600000 + i * 1000 + k, i < 600 ? 1 + i % 3 : 9, 1 + k, 20 + (i * 7 + k * 13) % 100, (i * 37) % 3600
}' >"$FD_TMP/probes.csv"
awk 'BEGIN { for (i = 0; i < 605; i++) if (i % 10) printf "{\"subject\":\"drv-%04d\",\"formId\":\"nav-altruism\",\"objective\":\"Better mobility in Lyon\",\"purposes\":[\"dpv:ImproveTransportMobility\"]}\n", i }' >"$FD_TMP/consents.ndjson"
"$FIDUCIA" deposit "$PR" "$FD_TMP/probes.csv" >/dev/null 2>&1
"$FIDUCIA" consent import "$PR" "$FD_TMP/consents.ndjson" >/dev/null 2>&1
req GET "/v1/datasets/$PR" "$NAV"; expect_json .rows 1815 "the holder sees its dataset's exact row count"
req GET "/v1/datasets/$PR" "$CITY"; expect_json '.rows // 0' 0 "a data user does not (before and after an erasure it would count a person's rows)"
req GET /v1/datasets "$CITY"; expect_json "[.datasets[] | select(.id == \"$PR\") | .rows // 0] | .[0]" 0 "nor in the list"
psql_ -c "CREATE TABLE plain.probes (driver_id text, pub_time bigint, district text, road_type bigint, speed_kmh float8, delay_s bigint)"
psql_ -c "\\copy plain.probes FROM '$FD_TMP/probes.csv' CSV HEADER"
psql_ -c "CREATE TABLE plain.consenting (driver_id text)"
jq -r .subject "$FD_TMP/consents.ndjson" | psql_ -c "\\copy plain.consenting FROM STDIN"
PQ() { printf '{"dataset":"%s","purpose":"dpv:ImproveTransportMobility","measures":[{"fn":"COUNT"},{"fn":"COUNT_SUBJECTS"},{"fn":"SUM","column":"delay_s"}],"groupBy":[{"column":"district"}]%s}' "$PR" "${1:-}"; }
# capped at 2 rows per driver: COUNT = 2 x drivers, SUM = 2 x their delay
PWANT="SELECT district, 2 * count(DISTINCT driver_id), count(DISTINCT driver_id), sum(delay_s) * 2 / 3 FROM plain.probes WHERE driver_id IN (SELECT driver_id FROM plain.consenting) GROUP BY 1 HAVING count(DISTINCT driver_id) >= 76"
proj_ev() { curl -s "$URL/metrics" | awk -v e="$1" '$1 == "fiducia_query_projection_total{event=\""e"\"}" { print $2 }'; }
check "no projection of the probes yet" test "$(proj_ev built)" = 0
req POST /v1/queries "$CITY" "$(PQ)"
expect_status 200 "a personal query under DP"
check "the first query scanned by chunk and built the subject-order projection" test "$(proj_ev built)" = 1 -a "$(proj_ev hit)" = 0
same_rows "consenting drivers only, 2 of each driver's 3 rows, COUNT_SUBJECTS" "$PWANT"
expect_json '.epsilonSpent' 1 "epsilon 1 spent (the baseline's epsilonPerQuery)"
expect_json '.budgetRemaining' 9 "9 of the baseline's 10 left this month"
expect_json '.rows[0].values[0].noiseScale' 8 "COUNT's noise scale: C x L0 / (1/4) = 2 x 1 x 4"
expect_json '.rows[0].values[2].noiseScale' 28800 "SUM's: 2 x 3600 x 4"
expect_json '.rows[0].values[0].ci95 > 0' true "a 95% half-width"
expect_json '[.rows[].keys[0]] | join(",")' "Lyon 1e,Lyon 2e,Lyon 3e" "Lyon 9e (5 drivers): withheld by partition selection"
expect_json '.suppressed // [] | length' 0 "under DP the exact number of withheld groups is not released"
expect_json '.maxContributionsPerSubject' 2 "the caps reported"
expect_json '.privacy | contains("differential privacy: epsilon 1 split evenly over 4")' true "and how the answer was protected, in words"
FIRST_IDX=$(jq -r .ledgerIndex <<<"$BODY"); FIRST=$(jq -c .rows <<<"$BODY")
req GET "/v1/ledger/entries?start=$FIRST_IDX&limit=1" "$CITY"
expect_json '.leaves[0].decoded.decision' GRANTED "the release is ledgered: GRANTED"
expect_json '.leaves[0].decoded.epsilonSpent' 1 "with its epsilon"
expect_json '.leaves[0].decoded.resultHash | length' 44 "and the hash of what was released"
req POST /v1/queries "$CITY" "$(PQ)"
expect_status 200 "the same question again"
expect_json '.repeat' true "a repeat"
expect_json ".repeatOf" "$FIRST_IDX" "of the first answer"
expect_json '.epsilonSpent // 0' 0 "spending nothing"
expect_json '.budgetRemaining' 9 "the budget unchanged"
check "the very same rows" test "$(jq -c .rows <<<"$BODY")" = "$FIRST"
req POST /v1/queries "$CITY" "$(PQ | jq -c '.filters = [] | .measures |= reverse | .measures |= reverse')"
expect_json '.repeat' true "the same question spelled differently: a repeat too"

# consent: a driver withdraws; the next answer no longer counts them
DRV=drv-0004 # Lyon 2e
curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $NAV" "$URL/v1/datasets/$PR/consents/$DRV"
psql_ -c "DELETE FROM plain.consenting WHERE driver_id = '$DRV'"
req POST /v1/queries "$CITY" "$(PQ)"
expect_json '.repeat // false' false "after a withdrawal, the question is answered again (the data changed)"
same_rows "the withdrawn driver no longer counted" "$PWANT"
check "... scanning the projection by subject (caps decided subject by subject)" test "$(proj_ev hit)" = 1
expect_json '.budgetRemaining' 8 "spending epsilon again"

# group by the subject: refused, by policy validation, before any data is read
req POST /v1/queries "$CITY" "$(PQ | jq -c '.groupBy = [{"column":"driver_id"}]')"
expect_status 400 "group by the SUBJECT column: refused"
# every combination of one or two columns that holds the subject, a measure or
# the raw time: refused before anything is read (and nothing ledgered)
COLS=(driver_id pub_time district road_type speed_kmh delay_s)
refused=0 total=0
for a in "${COLS[@]}"; do for b in "" "${COLS[@]}"; do
	[ "$a" = "$b" ] && continue
	case " $a $b " in *" driver_id "*|*" pub_time "*|*" speed_kmh "*|*" delay_s "*) ;; *) continue ;; esac
	total=$((total + 1))
	req POST /v1/queries "$CITY" "$(PQ | jq -c --arg a "$a" --arg b "$b" '.groupBy = [$a, $b | select(. != "") | {column: .}]')"
	[ "$STATUS" = 400 ] && refused=$((refused + 1)) || echo "# not refused: $a $b: $STATUS"
done; done
check "all $total groupings with the subject, a measure or the raw time refused" test "$refused" = "$total" -a "$total" -gt 20

# consent that lapses: a stored answer is not served past a record's
# validUntil (the question is answered again, without the driver)
UNTIL=$(date -u -d '+4 seconds' +%Y-%m-%dT%H:%M:%SZ)
req POST "/v1/datasets/$PR/consents" "$NAV" "{\"subject\":\"drv-0010\",\"formId\":\"nav-altruism\",\"objective\":\"Better mobility in Lyon\",\"purposes\":[\"dpv:ImproveTransportMobility\"],\"validUntil\":\"$UNTIL\"}"
expect_status 201 "drv-0010 consents until $UNTIL"
LAPSE=",\"filters\":[{\"column\":\"road_type\",\"op\":\"GE\",\"values\":[\"1\"]}]"
req POST /v1/queries "$CITY" "$(PQ "$LAPSE")"
WITH10="plain.consenting UNION SELECT 'drv-0010'"
same_rows "drv-0010 counted while its consent is valid" "${PWANT/plain.consenting/$WITH10}"
sleep 5
req POST /v1/queries "$CITY" "$(PQ "$LAPSE")"
expect_json '.repeat // false' false "past validUntil, the same question is answered again"
same_rows "and drv-0010 is no longer counted" "$PWANT"
check "a query needing another column scanned by chunk and rebuilt the projection with it, the next read it" \
	test "$(proj_ev built)" = 2 -a "$(proj_ev hit)" = 2

# the budget: spend down to 1 left, then race two processes for it (an
# answer kept from a past period goes with the next release)
psql_ -c "INSERT INTO query_answers (org, dataset, question, period_start, data_version, answer, ledger_pending) VALUES ('city-lyon', '$PR', decode(repeat('ab', 32), 'hex'), '2020-01-01', 'x', '\\x00', 0)"
check "(an answer of 2020 planted)" test "$(psql_ -c "SELECT count(*) FROM query_answers WHERE period_start < '2021-01-01'")" = 1
for i in 1 2 3 4 5; do
	req POST /v1/queries "$CITY" "$(PQ ",\"filters\":[{\"column\":\"road_type\",\"op\":\"LE\",\"values\":[\"$i\"]}]")"
done
check "answers of past periods are dropped" test "$(psql_ -c "SELECT count(*) FROM query_answers WHERE period_start < '2021-01-01'")" = 0
expect_json '.budgetRemaining' 1 "five more queries: 1 left"
req GET /v1/budgets "$CITY"
expect_json ".budgets[] | select(.dataset == \"$PR\") | .epsilonRemaining" 1 "GET /v1/budgets: 1 left"
expect_json ".budgets[] | select(.dataset == \"$PR\") | .queries" 9 "GET /v1/budgets: 9 queries debited"
mkdir -p "$FD_TMP/qb"; cp -a "$FD_TMP/qa/keys" "$FD_TMP/qb/"
# (the second process keeps no projection: its personal queries all scan by chunk)
fd_start qb --set "database_url=$PG_URL" --set query_noise=zero --set query_max_groups_per_subject=1 \
	--set query_projection_bytes=0 || fd_finish
URL_B=$URL; URL=$URL_A
race() { curl -s -o "$FD_TMP/race$1" -w '%{http_code}\n' -X POST "$2/v1/queries" -H "Authorization: Bearer $CITY" \
	-H 'Content-Type: application/json' --data-binary "$(PQ ",\"filters\":[{\"column\":\"road_type\",\"op\":\"EQ\",\"values\":[\"$1\"]}]")"; }
CODES=$( (race 1 "$URL_A" & race 2 "$URL_B" & wait) | sort | tr '\n' ' ')
check "two processes race for the last epsilon: exactly one wins ($CODES)" test "$CODES" = "200 429 "
check "with query_projection_bytes=0 a process never builds a projection" \
	test "$(curl -s "$URL_B/metrics" | awk '$1 == "fiducia_query_projection_total{event=\"built\"}" { print $2 }')" = 0
LOSER=$(grep -l budget_exhausted "$FD_TMP/race1" "$FD_TMP/race2")
check "the loser is told the budget left and the epsilon needed" test "$(jq -r '.epsilonNeeded' "$LOSER")" = 1
req POST /v1/queries "$CITY" "$(PQ ",\"filters\":[{\"column\":\"road_type\",\"op\":\"EQ\",\"values\":[\"3\"]}]")"
expect_status 429 "exhausted: 429"
expect_json '.code' budget_exhausted "budget_exhausted"
IDX=$(jq -r .ledgerIndex <<<"$BODY")
req GET "/v1/ledger/entries?start=$IDX&limit=1" "$CITY"
expect_json '.leaves[0].decoded.decision' DENIED "the refusal is ledgered"
expect_json '.leaves[0].decoded.reasons[0] | startswith("budget exhausted")' true "as budget exhausted"
check "never overspent" test "$(psql_ -c "SELECT spent_micro FROM budgets WHERE dataset = '$PR'")" = 10000000
req POST /v1/queries "$CITY" "$(PQ ",\"filters\":[{\"column\":\"road_type\",\"op\":\"LE\",\"values\":[\"5\"]}]")"
expect_status 200 "a repeat is still answered once the budget is spent"
expect_json '.repeat' true "(it spends nothing)"

# the regulator's activity report, from the ledger's QUERY entries
REG=$(fd_token cnil regulator)
req GET "/v1/reports/activity?dataset=$PR" "$REG"
ROW='.rows[] | select(.requester == "city-lyon" and .purpose == "dpv:ImproveTransportMobility")'
expect_json "$ROW | .queriesGranted" 13 "activity report: 13 answers (repeats included)"
expect_json "$ROW | .queriesDenied" 2 "2 budget refusals"
expect_json "$ROW | .epsilonSpent" 10 "epsilon 10 spent"
expect_json "$ROW | .topDenialReasons[0].reason | startswith(\"budget exhausted\")" true "the denial reason"
expect_json "$ROW | .techniques | index(\"differential privacy\") != null" true "differential privacy recorded"
# A new policy version: the stored answer was released under the old one, and is not
# served again; the question is asked afresh, and the budget is spent.
jq '.permission[0].constraint[3].rightOperand = 3' "$FD_TMP/probes-policy.json" >"$FD_TMP/probes-policy2.json"
putdoc PUT "/v1/datasets/$PR/policy" "$NAV" "$FD_TMP/probes-policy2.json"; expect_status 201 "the holder puts a new policy version (3 rows per driver)"
req POST /v1/queries "$CITY" "$(PQ ",\"filters\":[{\"column\":\"road_type\",\"op\":\"LE\",\"values\":[\"5\"]}]")"
expect_status 429 "under a new policy version the stored answer is not served (asked afresh: no budget)"

# ---- the CLI -----------------------------------------------------------------------------
export FIDUCIA_URL=$URL FIDUCIA_TOKEN=$CITY
Q '[{"fn":"COUNT"}]' '[{"column":"district"}]' '[]' >"$FD_TMP/q.json"
OUT=$("$FIDUCIA" query "$FD_TMP/q.json" 2>&1)
check "fiducia query: a table" grep -q "Lyon 3e" <<<"$OUT"
check "fiducia query --csv" bash -c "'$FIDUCIA' query '$FD_TMP/q.json' --csv | head -1 | grep -q '^district,COUNT'"
Q '[{"fn":"COUNT"}]' '[{"column":"observed_at","bucket":"HOUR"}]' '[]' >"$FD_TMP/hour.json"
OUT=$("$FIDUCIA" query "$FD_TMP/hour.json" 2>&1 || true)
check "fiducia query, denied: the reasons and the ledger entry printed" bash -c "grep -q '  reason: ' <<<\"\$1\" && grep -q '  ledger entry: [0-9]' <<<\"\$1\"" _ "$OUT"
OUT=$("$FIDUCIA" budget 2>&1)
check "fiducia budget" grep -q "$PR" <<<"$OUT"

# ---- an erasure wipes the erased rows' decrypted columns from the cache at once --------------
purged() { curl -s "$URL/metrics" | awk '/^fiducia_query_cache_total[{]event="purged"[}]/ { print $2 }'; }
P0=$(purged)
check "the column cache is in the metrics" test -n "$P0"
req POST "/v1/datasets/$PR/subjects/drv-0007/erase" "$NAV"; expect_status 200 "a driver's rows erased"
P1=$(purged)
check "the re-sealed chunk's cached columns are wiped at once ($P0 -> $P1)" test "${P1:-0}" -gt "${P0:-0}"
check "and the dataset's projection with them" test "$(proj_ev purged)" = 1
req DELETE "/v1/datasets/$JAMS" "$NAV"; expect_status 200 "the jams dataset withdrawn"
P2=$(purged)
check "its cached columns are wiped at once too ($P1 -> $P2)" test "${P2:-0}" -gt "${P1:-0}"

# ---- nothing deposited reached the log or the database in the clear -------------------------
check "no driver id in the ledger or the stored answers" test "$(psql_ -c "SELECT (SELECT count(*) FROM ledger_entries WHERE position(convert_to('drv-0', 'UTF8') IN entry) > 0) + (SELECT count(*) FROM query_answers WHERE position(convert_to('drv-0', 'UTF8') IN answer) > 0)")" = 0
check "no driver id in the logs" bash -c "! grep -q 'drv-0' '$FD_TMP/qa.log' '$FD_TMP/qb.log'"
fd_finish
