# Helpers shared by the benchmark scripts (sourced, from the repository's root).
# shellcheck shell=bash
#
# Every script writes one section of the results file, between
# <!-- NAME:begin --> and <!-- NAME:end -->, with the machine, the date and the
# command line, and ends the section with one machine-readable line per goal:
#   <!-- summary: benchmark|fiducia median|baseline median|ratio|goal|met -->
# from which results_summary builds the table at the top of the file.
# The file is bench/RESULTS.md unless FIDUCIA_BENCH_RESULTS names another
# (bench/run --quick does, so that a smoke run never touches the real figures).

# median [N...]: the median of the numbers given as arguments, or read from
# standard input (whitespace-separated) when there are none.
median() {
	{ if [ $# -gt 0 ]; then printf '%s\n' "$@"; else tr ' ' '\n'; fi; } | grep -v '^$' | sort -g |
		awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}

# machine: one line describing this machine, for the results.
machine() {
	local cpu
	cpu=$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')
	echo "$(nproc) cores, $cpu, $(free -g | awk '/Mem:/ {print $2 " GiB"}'), $(uname -sr), Debian $(cat /etc/debian_version)"
}

# results_file: the file the sections go to.
results_file() { echo "${FIDUCIA_BENCH_RESULTS:-bench/RESULTS.md}"; }

# meets A OP B: "met" when A OP B holds (OP: ge, gt, le, lt), else "not met".
meets() {
	awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
		ok = op == "ge" ? a >= b : op == "gt" ? a > b : op == "le" ? a <= b : op == "lt" ? a < b : 0
		print (ok ? "met" : "not met") }'
}

# summary_line BENCHMARK FIDUCIA BASELINE RATIO GOAL MET: the section's
# machine-readable line for one goal (no field may hold "|").
summary_line() {
	printf '<!-- summary: %s|%s|%s|%s|%s|%s -->\n' "$1" "$2" "$3" "$4" "$5" "$6"
}

# results_summary: rebuild the <!-- summary:begin/end --> block of the results
# file from the summary lines of its sections (inserted before the first
# section when absent). Each row also carries its section's date, since the
# sections of one file may come from different runs.
results_summary() {
	local res tmp blk
	res=$(results_file)
	[ -f "$res" ] || return 0
	blk=$(mktemp) tmp=$(mktemp)
	{
		echo "## Summary"
		echo
		echo "One row per goal, from the sections below; *measured* is the section's date (a section not"
		echo "re-run keeps its figures). Ratios as the sections give them: throughput against the baseline"
		echo "(http, deposit, ledger, policy), time against it (consent: extra time over the plain scan;"
		echo "query: a fraction of PostgreSQL's time), stored bytes against the plaintext table."
		echo
		echo "| benchmark | fiducia (median) | baseline (median) | ratio | goal | met | measured |"
		echo "|---|---|---|---|---|---|---|"
		awk '
			/^<!-- [A-Za-z0-9_-]+:begin -->$/ { name = substr($2, 1, length($2) - 6); date = ""; n = 0; next }
			/^<!-- [A-Za-z0-9_-]+:end -->$/ {
				if (name != "summary") for (i = 1; i <= n; i++) print row[i] " " (date == "" ? "" : date) " |"
				name = ""; next }
			name == "" || name == "summary" { next }
			date == "" && tolower($0) ~ /^- date: / { date = substr($0, 9) }
			/^<!-- summary: .* -->$/ {
				l = substr($0, 15, length($0) - 18); gsub(/\|/, " | ", l)
				row[++n] = "| " l " |" }' "$res"
	} >"$blk"
	awk -v blk="$blk" '
		function put() { while ((getline l < blk) > 0) print l; done = 1 }
		$0 == "<!-- summary:begin -->" { print; put(); skip = 1; next }
		$0 == "<!-- summary:end -->" { skip = 0 }
		skip { next }
		!done && !have && /^<!-- [A-Za-z0-9_-]+:begin -->$/ {
			print "<!-- summary:begin -->"; put(); print "<!-- summary:end -->"; print "" }
		{ print }' have="$(grep -c '^<!-- summary:begin -->$' "$res")" "$res" >"$tmp"
	cat "$tmp" >"$res"
	rm -f "$tmp" "$blk"
}

# results_replace NAME FILE: put FILE as the <!-- NAME:begin/end --> section of
# the results file, replacing only that section (appending it when absent),
# then rebuild the summary block.
results_replace() {
	local name=$1 sec=$2 res tmp
	res=$(results_file)
	tmp=$(mktemp)
	[ -f "$res" ] || printf '# Benchmark results\n' >"$res"
	awk -v sec="$sec" -v b="<!-- $name:begin -->" -v e="<!-- $name:end -->" '
		$0 == b { print; while ((getline l < sec) > 0) print l; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }' "$res" >"$tmp"
	grep -qF "<!-- $name:begin -->" "$res" ||
		{ printf '\n<!-- %s:begin -->\n' "$name"; cat "$sec"; printf '<!-- %s:end -->\n' "$name"; } >>"$tmp"
	cat "$tmp" >"$res" # not mv: keep the file's mode
	rm -f "$tmp"
	results_summary
}
