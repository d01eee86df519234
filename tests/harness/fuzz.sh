#!/usr/bin/env bash
# Runs one libFuzzer harness for a bounded time over a scratch copy of its corpus.
# usage: fuzz.sh BINARY CORPUS_DIR WORK_DIR SECONDS
set -euo pipefail
bin=$1 corpus=$2 work=$3 secs=$4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp -r "$corpus"/. "$work/corpus/" 2>/dev/null || true
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	-artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus"
