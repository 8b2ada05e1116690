#!/usr/bin/env bash
# Regenerate the shipped pretrained Decision Transformers under pretrained/<family>/.
#
#   scripts/pretrain_all.sh                     # gridworld, cartpole, pendulum, pendulum-gaussian
#   scripts/pretrain_all.sh cartpole pendulum   # only these policies
#
# For each policy NAME, in sequence: `rl-train collect --config
# configs/collect-FAMILY.yaml` (datasets under data/FAMILY/; FAMILY is NAME up to its
# first "-", so pendulum-gaussian trains on pendulum's data, collected once per
# invocation), then `rl-train pretrain --config configs/pretrain-NAME.yaml` (run
# under runs/pretrain-NAME/; the best checkpoint and its results.md are exported to
# pretrained/NAME/). Policies run one after the
# other, never in parallel: every step already uses all cores. The wall time of each
# step is printed at the end. All randomness is seeded in the configs; numbers may
# still differ slightly across machines and BLAS backends (floating-point summation
# order). It regenerates: datasets and runs of earlier invocations are replaced
# (--overwrite). See docs/pretrained.md for the results and timings. RL_TRAIN names an
# rl-train binary to use; by default the repository's is built once.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

families=("$@")
[ ${#families[@]} -eq 0 ] && families=(gridworld cartpole pendulum pendulum-gaussian)
for f in "${families[@]}"; do
	for cfg in "configs/collect-${f%%-*}.yaml" "configs/pretrain-$f.yaml"; do
		if [ ! -f "$cfg" ]; then
			echo "pretrain_all.sh: no $cfg for policy $f" >&2
			exit 2
		fi
	done
done

bin=${RL_TRAIN:-}
if [ -z "$bin" ]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	bin="$work/rl-train"
	go build -o "$bin" ./cmd/rl-train
fi

timings=()
collected=" "
for f in "${families[@]}"; do
	family=${f%%-*}
	if [[ $collected != *" $family "* ]]; then
		echo "pretrain_all.sh: collect $family" >&2
		start=$SECONDS
		"$bin" collect --config "configs/collect-$family.yaml" --overwrite
		timings+=("$(printf '%-18s %-9s %5d s' "$family" collect $((SECONDS - start)))")
		collected+="$family "
	fi
	echo "pretrain_all.sh: pretrain $f" >&2
	start=$SECONDS
	"$bin" pretrain --config "configs/pretrain-$f.yaml" --overwrite
	timings+=("$(printf '%-18s %-9s %5d s' "$f" pretrain $((SECONDS - start)))")
done

echo >&2
echo "pretrain_all.sh: wall time per step" >&2
printf '  %s\n' "${timings[@]}" >&2
