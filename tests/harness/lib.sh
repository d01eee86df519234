# End-to-end test helpers, sourced by tests/e2e/test_*.sh. They start the
# real fiduciad (embedded PostgreSQL, or an external cluster from pg.sh),
# speak HTTP to it with curl and the fiducia CLI, and count results. Each
# check prints "ok - ..." or "FAIL - ..."; fd_finish prints the closing
# "N passed, N failed" line and sets the exit status.
set -uo pipefail

: "${FIDUCIA_BUILD:?FIDUCIA_BUILD must point at the build folder}"
: "${FIDUCIA_SRC:?FIDUCIA_SRC must point at the source folder}"
FIDUCIAD="$FIDUCIA_BUILD/fiduciad"
FIDUCIA="$FIDUCIA_BUILD/fiducia"
PG_SH="$FIDUCIA_SRC/tests/harness/pg.sh"

FD_PASSED=0
FD_FAILED=0
FD_TMP=$(mktemp -d /tmp/fiducia-e2e.XXXXXX)
chmod 711 "$FD_TMP"
FD_PIDS=()
FD_PG_STATES=()

fd_cleanup() {
	local pid
	for pid in "${FD_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	local st
	for st in "${FD_PG_STATES[@]}"; do
		"$PG_SH" stop "$st" >/dev/null 2>&1
	done
	if [ "$FD_FAILED" -eq 0 ]; then
		rm -rf "$FD_TMP"
	else
		echo "# kept $FD_TMP for inspection"
	fi
}
trap fd_cleanup EXIT

ok() { FD_PASSED=$((FD_PASSED + 1)); echo "ok - $*"; }
fail() { FD_FAILED=$((FD_FAILED + 1)); echo "FAIL - $*"; }

fd_finish() {
	echo "$FD_PASSED passed, $FD_FAILED failed"
	[ "$FD_FAILED" -eq 0 ]
	exit $?
}

# fd_pg NAME: start an external cluster; sets PG_STATE and PG_URL.
fd_pg() {
	PG_STATE="$FD_TMP/pg-$1"
	"$PG_SH" start "$PG_STATE" >/dev/null || { fail "start PostgreSQL"; fd_finish; }
	FD_PG_STATES+=("$PG_STATE")
	PG_URL=$(cat "$PG_STATE/conninfo")
}

# fd_start NAME [fiduciad args...]: start fiduciad with data dir
# $FD_TMP/NAME on a free port; waits for /readyz. Sets URL, DATA, PID, LOG.
fd_start() {
	local name=$1
	shift
	DATA="$FD_TMP/$name"
	mkdir -p "$DATA"
	chmod 711 "$DATA"
	LOG="$FD_TMP/$name.log"
	local before
	before=$(grep -c '"event":"listening"' "$LOG" 2>/dev/null)
	"$FIDUCIAD" --data-dir "$DATA" --listen 127.0.0.1:0 "$@" >>"$LOG" 2>&1 &
	PID=$!
	FD_PIDS+=("$PID")
	local port="" i
	for i in $(seq 1 600); do
		if [ "$(grep -c '"event":"listening"' "$LOG")" -gt "${before:-0}" ]; then
			port=$(grep -o '"event":"listening"[^}]*"port":[0-9]*' "$LOG" |
				tail -1 | grep -o '[0-9]*$')
			break
		fi
		if ! kill -0 "$PID" 2>/dev/null; then
			echo "# fiduciad exited:"; tail -5 "$LOG"
			fail "fiduciad $name starts"; return 1
		fi
		sleep 0.1
	done
	URL="http://127.0.0.1:$port"
	for i in $(seq 1 300); do
		curl -sf "$URL/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "fiduciad $name becomes ready"
	return 1
}

# fd_stop PID: SIGTERM and wait; sets RC to the exit status.
fd_stop() {
	kill -TERM "$1" 2>/dev/null
	wait "$1"
	RC=$?
}

# fd_token ORG ROLE [TTL]: a development token from $DATA's dev issuer.
fd_token() {
	"$FIDUCIA" token mint --data-dir "$DATA" --org "$1" --role "$2" --ttl "${3:-1h}"
}

# req METHOD PATH [TOKEN] [BODY] [curl args...]: request (JSON unless CTYPE is set);
# sets STATUS and BODY.
req() {
	local method=$1 path=$2 token=${3:-} body=${4:-}
	shift $(($# < 4 ? $# : 4))
	local args=(-s -o "$FD_TMP/body" -w '%{http_code}' -X "$method" "$URL$path")
	[ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
	[ -n "$body" ] && args+=(-H "Content-Type: ${CTYPE:-application/json}" --data-binary "$body")
	STATUS=$(curl "${args[@]}" "$@")
	BODY=$(cat "$FD_TMP/body")
}

# expect_status WANT WHAT
expect_status() {
	if [ "$STATUS" = "$1" ]; then ok "$2 ($1)"; else fail "$2: status $STATUS, want $1: $BODY"; fi
}

# expect_json JQ_FILTER WANT WHAT: the filter applied to BODY prints WANT.
expect_json() {
	local got
	got=$(printf '%s' "$BODY" | jq -r "$1" 2>/dev/null)
	if [ "$got" = "$2" ]; then ok "$3"; else fail "$3: $1 = '$got', want '$2' (body: $BODY)"; fi
}

# check WHAT CMD...: passes when CMD succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
