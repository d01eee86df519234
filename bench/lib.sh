# Helpers shared by the benchmark scripts (sourced).

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

# results_replace NAME FILE: put FILE as the <!-- NAME:begin/end --> section of
# bench/RESULTS.md, replacing only that section (appending it when absent).
results_replace() {
	local name=$1 sec=$2 res=bench/RESULTS.md tmp
	tmp=$(mktemp)
	[ -f "$res" ] || printf '# Benchmark results\n' >"$res"
	awk -v sec="$sec" -v b="<!-- $name:begin -->" -v e="<!-- $name:end -->" '
		$0 == b { print; while ((getline l < sec) > 0) print l; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }' "$res" >"$tmp"
	grep -qF "<!-- $name:begin -->" "$res" ||
		{ printf '\n<!-- %s:begin -->\n' "$name"; cat "$sec"; printf '<!-- %s:end -->\n' "$name"; } >>"$tmp"
	mv "$tmp" "$res"
}
