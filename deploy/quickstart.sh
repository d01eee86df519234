#!/usr/bin/env bash
# The first README command: install what is needed, build, start fiduciad on
# its embedded default (a PostgreSQL cluster it manages in ./fiducia-data),
# run the whole story (deploy/demo.sh: platforms deposit, the city asks, the
# regulator verifies; every outcome checked), and stop it again cleanly.
#   --keep-running   leave fiduciad running after the demo
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
./deploy/build.sh build -DFIDUCIA_TEST_HOOKS=OFF

DATA=${FIDUCIA_DATA:-$PWD/fiducia-data}
PORT=${FIDUCIA_PORT:-8080}
mkdir -p "$DATA"
chmod 711 "$DATA"
./build/fiduciad --data-dir "$DATA" --listen "127.0.0.1:$PORT" >>"$DATA/fiduciad.log" 2>&1 &
PID=$!
stop() { kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; }
[ "${1:-}" = --keep-running ] || trap stop EXIT
for i in $(seq 1 300); do
	curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
	kill -0 "$PID" 2>/dev/null || { echo "fiduciad did not start:"; tail -5 "$DATA/fiduciad.log"; exit 1; }
	sleep 0.2
done
FIDUCIA_URL="http://127.0.0.1:$PORT" FIDUCIA_DATA="$DATA" ./deploy/demo.sh
if [ "${1:-}" = --keep-running ]; then
	echo "fiduciad keeps running (pid $PID) at http://127.0.0.1:$PORT; log: $DATA/fiduciad.log"
fi
