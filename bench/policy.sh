#!/usr/bin/env bash
# Policy decisions per second (issue 4): build/bench_policy pinned to one core
# (taskset -c 0), the compiled example policies deciding a fixed mix of 4
# permitted and 4 denied requests (see policy/BENCH.md), 5 timed runs of
# DECISIONS decisions, heap allocations counted during the timed loops.
# The baseline is the issue's goal: 1,000,000 decisions/s on one core with no
# allocation per decision. The runs, their median and the allocation count go
# to bench/RESULTS.md (only this section; see bench/lib.sh).
# usage: bench/policy.sh [DECISIONS=2000000]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
N=${1:-2000000}
BUILD=${FIDUCIA_BUILD:-build}
[ -x "$BUILD/bench_policy" ] || ./deploy/build.sh "$BUILD"
TMP=$(mktemp -d /tmp/fiducia-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

PIN=(taskset -c 0)
"${PIN[@]}" true 2>/dev/null || PIN=()
rc=0
"${PIN[@]}" "$BUILD/bench_policy" "$N" | tee "$TMP/out" || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 2 ] || { echo "bench: bench_policy failed ($rc)"; exit 1; }
RUNS=$(awk '/^run [0-9]+:/ {print $(NF - 3)}' "$TMP/out")
MED=$(awk '/^median:/ {print $2}' "$TMP/out")
NS=$(awk -v m="$MED" 'BEGIN {printf "%.0f", 1e9 / m}')
ALLOCS=$(awk '/^allocations during/ {print $(NF - 3)}' "$TMP/out")
NRUNS=$(wc -l <<<"$RUNS")
RATIO=$(awk -v m="$MED" 'BEGIN {printf "%.2f", m / 1e6}')
# the compiler and build type, as CMake saw them (an empty type is RelWithDebInfo: CMakeLists.txt)
CCV=$(cat "$BUILD"/CMakeFiles/*/CMakeCCompiler.cmake 2>/dev/null |
	awk -F'"' '/CMAKE_C_COMPILER_ID / {id = $2} /CMAKE_C_COMPILER_VERSION / {v = $2} END {if (id != "") print (id == "GNU" ? "gcc" : id) " " v}')
TYPE=$(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
if [ -z "$ALLOCS" ]; then MET="not met"; ALLOC_LINE="not counted in this build (sanitizer or non-glibc)"
else
	MET=$([ "$ALLOCS" = 0 ] && meets "$MED" ge 1000000 || echo "not met")
	ALLOC_LINE="**$ALLOCS** ($(awk -v a="$ALLOCS" -v n=$((NRUNS * N)) 'BEGIN {print a / n}') per decision)"
fi
{
	echo "## Policy decisions per second (issue 4)"
	echo
	echo "- machine: $(machine)"
	echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "- command: \`bench/policy.sh $N\`: \`${PIN[*]}${PIN:+ }$BUILD/bench_policy $N\`, $NRUNS timed runs of $N decisions on one thread (see \`policy/BENCH.md\` for the request mix); ${CCV:-compiler unknown}, build type ${TYPE:-RelWithDebInfo}"
	echo "- baseline: the issue's goal, 1,000,000 decisions/s on one core with no allocation per decision"
	echo
	echo "| run | decisions/s |"
	echo "|---|---|"
	awk '{printf "| %d | %s |\n", NR, $1}' <<<"$RUNS"
	echo "| **median** | **$MED ($NS ns per decision)** |"
	echo
	echo "- Allocations during the $((NRUNS * N)) timed decisions: $ALLOC_LINE."
	echo "- Goal (issue 4): ≥ 1 000 000 decisions/s on one core with no allocation per decision: $MET (${RATIO}× the goal)."
	echo
	summary_line "policy: decisions/s, one core" "$MED decisions/s" "1000000 decisions/s (goal)" "${RATIO}×" "≥ 1,000,000/s, 0 allocations" "$MET"
} >"$TMP/section.md"
results_replace policy "$TMP/section.md"
cat "$TMP/section.md"
