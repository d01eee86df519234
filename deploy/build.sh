#!/usr/bin/env bash
# Configures and builds Fiducia. usage: build.sh [BUILD_DIR] [cmake args...]
# The default build puts the binaries at build/fiduciad and build/fiducia.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
