#!/usr/bin/env bash
# Installs everything Fiducia needs to build, run, test and benchmark, from
# Debian 12's repositories only. Uses sudo when not root. The Dockerfile runs
# this same script, so the two cannot drift apart.
#   install-deps.sh            every package below (build, run, test, bench)
#   install-deps.sh --runtime  only those marked run: what the built fiduciad
#                              and fiducia need to run (the Docker image's
#                              runtime stage); the same list, never a second one
set -euo pipefail

runtime=false
case "${1:-}" in
"") ;;
--runtime) runtime=true ;;
*) echo "usage: install-deps.sh [--runtime]" >&2; exit 2 ;;
esac

PACKAGES=(
	# toolchain
	build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
	# the libraries Fiducia is written against
	libevent-dev libpq-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler
	libjwt-dev libjansson-dev libssl-dev
	# ... and the shared libraries of those that the binaries load (the -dev
	# packages above depend on them; run: marks what --runtime installs)
	run:libevent-core-2.1-7 run:libevent-extra-2.1-7 run:libevent-pthreads-2.1-7
	run:libevent-openssl-2.1-7 run:libpq5 run:libsodium23 run:libprotobuf-c1
	run:libjwt0 run:libjansson4 run:libssl3
	# google/protobuf/timestamp.proto, which the API imports
	libprotobuf-dev
	# the embedded default and the test harness's database
	postgresql-15 postgresql-client-15
	# tests and benchmarks: HTTP, JSON, protobuf decoding, load
	# (curl is also the container's health check)
	run:curl jq protobuf-compiler xxd openssl wrk run:ca-certificates util-linux procps
	# the scale-out test: two fiduciad processes behind a load balancer
	haproxy
)

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
	SUDO=sudo
fi

wanted=()
for p in "${PACKAGES[@]}"; do
	case "$p" in
	run:*) wanted+=("${p#run:}") ;;
	*) $runtime || wanted+=("$p") ;;
	esac
done

missing=()
for p in "${wanted[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#wanted[@]} packages present"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian's postgresql package would start a system cluster; Fiducia runs its
# own, so keep the system one from starting where policy-rc.d is honoured.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
