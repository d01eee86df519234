#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the tests: initdb + pg_ctl in a fresh
# folder under /tmp, on a unix socket only. As root, the cluster runs as the
# unprivileged user $FIDUCIA_PG_USER (default postgres), since PostgreSQL
# refuses root.
#   pg.sh start STATE_DIR        create and start; STATE_DIR/conninfo says how to connect
#   pg.sh stop STATE_DIR         stop and delete
#   pg.sh restart-stop STATE_DIR / restart-start STATE_DIR   (outage tests)
#   pg.sh run STATE_DIR CMD...   run CMD with FIDUCIA_TEST_DATABASE_URL set
set -euo pipefail

cmd=${1:?usage: pg.sh start|stop|run STATE_DIR [CMD...]}
state=${2:?usage: pg.sh start|stop|run STATE_DIR [CMD...]}
shift 2

bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=/usr/lib/postgresql/15/bin
pguser=${FIDUCIA_PG_USER:-postgres}

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid="$pguser" --regid="$(id -g "$pguser")" --init-groups -- "$@"
	else
		"$@"
	fi
}

pg_ctl_() { as_pg "$bindir/pg_ctl" -D "$(cat "$state/root")/data" "$@"; }

case "$cmd" in
start)
	if [ -f "$state/root" ] && [ -d "$(cat "$state/root")" ]; then
		"$0" stop "$state" || true
	fi
	mkdir -p "$state"
	root=$(mktemp -d /tmp/fiducia-pg.XXXXXX)
	chmod 711 "$root"
	mkdir -p "$root/data" "$root/run"
	[ "$(id -u)" = 0 ] && chown "$pguser:" "$root/data" "$root/run"
	chmod 700 "$root/data" "$root/run"
	echo "$root" > "$state/root"
	as_pg "$bindir/initdb" -D "$root/data" -U fiducia --auth=trust -E UTF8 --locale=C \
		--no-sync > "$state/initdb.log" 2>&1 || { cat "$state/initdb.log"; exit 1; }
		# Also on loopback TCP (trust, as initdb sets it: a throw-away cluster)
	# so that tests can reach it by host name.
	# A port below the kernel's ephemeral range (32768 and up), so that no
	# client connection's local port takes it between the probe and the
	# bind; and another port when the bind fails all the same.
	cat >> "$root/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$root/run'
unix_socket_permissions = 0700
fsync = off
max_connections = 200
CONF
	touch "$state/server.log"
	[ "$(id -u)" = 0 ] && chown "$pguser:" "$state/server.log" && chmod 711 "$state"
	started=0
	for _ in 1 2 3 4 5; do
		port=0
		for _ in $(seq 1 50); do
			p=$((20000 + RANDOM % 12000))
			(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }
		done
		[ "$port" != 0 ] || { echo "pg.sh: no free port"; exit 1; }
		echo "port = $port" > "$root/data/postgresql.auto.conf"
		[ "$(id -u)" = 0 ] && chown "$pguser:" "$root/data/postgresql.auto.conf"
		if pg_ctl_ -l "$state/server.log" -w -t 60 start > /dev/null; then
			started=1
			break
		fi
		grep -q "Address already in use" "$state/server.log" || break
	done
	[ "$started" = 1 ] || { cat "$state/server.log"; exit 1; }
		echo "host=$root/run port=$port dbname=postgres user=fiducia" > "$state/conninfo"
	echo "host=localhost port=$port dbname=postgres user=fiducia" > "$state/conninfo_tcp"
	echo "PostgreSQL test cluster up: $(cat "$state/conninfo")"
	;;
stop)
	[ -f "$state/root" ] || exit 0
	root=$(cat "$state/root")
	pg_ctl_ -m immediate -w stop > /dev/null 2>&1 || true
	rm -rf "$root" "$state/root"
	;;
restart-stop)
	pg_ctl_ -m fast -w stop > /dev/null
	;;
restart-start)
	pg_ctl_ -l "$state/server.log" -w -t 60 start > /dev/null
	;;
run)
		FIDUCIA_TEST_DATABASE_URL=$(cat "$state/conninfo") \
	FIDUCIA_TEST_DATABASE_URL_TCP=$(cat "$state/conninfo_tcp") \
	FIDUCIA_TEST_PG_STATE="$state" FIDUCIA_TEST_PG_SH="$0" exec "$@"
	;;
*)
	echo "pg.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
