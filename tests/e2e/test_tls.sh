#!/usr/bin/env bash
# End to end: optional TLS through libevent's OpenSSL bufferevents, with a
# throw-away certificate made here; plain HTTP is then refused.
source "$FIDUCIA_SRC/tests/harness/lib.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$FD_TMP/tls.key" -out "$FD_TMP/tls.crt" 2>/dev/null
fd_start_tls() {
	DATA="$FD_TMP/tls"; mkdir -p "$DATA"; chmod 711 "$DATA"; LOG="$FD_TMP/tls.log"
	"$FIDUCIAD" --data-dir "$DATA" --listen 127.0.0.1:0 --set "tls_cert=$FD_TMP/tls.crt" \
		--set "tls_key=$FD_TMP/tls.key" >>"$LOG" 2>&1 &
	PID=$!; FD_PIDS+=("$PID")
	local port="" i
	for i in $(seq 1 600); do
		port=$(grep -o '"event":"listening"[^}]*"port":[0-9]*' "$LOG" | grep -o '[0-9]*$')
		[ -n "$port" ] && break; sleep 0.1
	done
	URL="https://127.0.0.1:$port"
	for i in $(seq 1 300); do
		curl -sf --cacert "$FD_TMP/tls.crt" "$URL/readyz" >/dev/null && return 0; sleep 0.1
	done
	return 1
}
check "fiduciad starts with TLS" fd_start_tls
check "the log says tls on" grep -q '"tls":"on"' "$LOG"
OP=$(fd_token operator operator)
req GET /v1/whoami "$OP" "" --cacert "$FD_TMP/tls.crt"; expect_status 200 "whoami over TLS"
STATUS=$(curl -s -o /dev/null -w '%{http_code}' "http://${URL#https://}/healthz")
check "plain HTTP gets no answer" test "$STATUS" = 000
out=$(FIDUCIA_TOKEN="$OP" "$FIDUCIA" --url "$URL" --cacert "$FD_TMP/tls.crt" whoami 2>&1)
check "the CLI speaks TLS with --cacert" grep -q operator <<<"$out"
FIDUCIA_TOKEN="$OP" "$FIDUCIA" --url "$URL" whoami >/dev/null 2>&1; rc=$?
check "the CLI refuses an unknown certificate" test "$rc" = 3

fd_finish
