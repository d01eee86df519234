#!/usr/bin/env bash
# Installs everything Fiducia needs to build, run, test and benchmark, from
# Debian 12's repositories only. Uses sudo when not root. The Dockerfile runs
# this same script, so the two cannot drift apart.
set -euo pipefail

PACKAGES=(
	# toolchain
	build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
	# the libraries Fiducia is written against
	libevent-dev libpq-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler
	libjwt-dev libjansson-dev libssl-dev
	# google/protobuf/timestamp.proto, which the API imports
	libprotobuf-dev
	# the embedded default and the test harness's database
	postgresql-15 postgresql-client-15
	# tests and benchmarks: HTTP, JSON, protobuf decoding, load
	curl jq protobuf-compiler xxd openssl wrk ca-certificates util-linux procps
	# the scale-out test: two fiduciad processes behind a load balancer
	haproxy
)

SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
	SUDO=sudo
fi

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian's postgresql package would start a system cluster; Fiducia runs its
# own, so keep the system one from starting where policy-rc.d is honoured.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
