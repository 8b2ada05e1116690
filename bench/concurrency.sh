#!/usr/bin/env bash
# Does running independent fine-tuning runs one per core (child processes with one
# thread and one BLAS thread each, as `rl-train experiment` does) beat running them
# one at a time on both cores? Times configs/experiments/bench-concurrency.yaml (a
# small slice of the method comparison: 4 runs) both ways, alternating the two ways
# round by round, and prints each round's wall time and the median ratio.
#
#   bench/concurrency.sh [rounds]        # default 3
#
# Run it on an otherwise idle machine: other load slows the two ways unequally.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/rl-train" ./cmd/rl-train
cfg=configs/experiments/bench-concurrency.yaml
runs=$(sed -n 's/^runs_dir: *//p' "$cfg")
"$work/rl-train" experiment "$cfg" --status --log-level warn >/dev/null 2>&1 || true
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
ratios=()
for ((i = 1; i <= rounds; i++)); do
	for way in parallel sequential; do
		rm -rf "$runs"
		start=$(date +%s.%N)
		if [ "$way" = parallel ]; then
			"$work/rl-train" experiment "$cfg" --log-level warn >/dev/null
		else
			"$work/rl-train" experiment "$cfg" --in-process --log-level warn >/dev/null
		fi
		t=$(echo "$(date +%s.%N) - $start" | bc)
		printf 'round %d %-10s %6.1f s\n' "$i" "$way" "$t"
		eval "t_$way=$t"
	done
	ratios+=("$(echo "$t_parallel / $t_sequential" | bc -l)")
done
printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {printf "median ratio parallel/sequential: %.3f (over %d rounds)\n", a[int((NR+1)/2)], NR}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
