#!/usr/bin/env bash
# Regenerate the shipped pretrained Decision Transformers under pretrained/<family>/.
#
#   scripts/pretrain_all.sh                     # gridworld, cartpole and pendulum
#   scripts/pretrain_all.sh cartpole pendulum   # only these families
#
# For each family, in sequence: `rl-train collect --config configs/collect-FAMILY.yaml`
# (datasets under data/FAMILY/), then `rl-train pretrain --config
# configs/pretrain-FAMILY.yaml` (run under runs/pretrain-FAMILY/; the best checkpoint
# and its results.md are exported to pretrained/FAMILY/). Families run one after the
# other, never in parallel: every step already uses all cores. The wall time of each
# step is printed at the end. All randomness is seeded in the configs; numbers may
# still differ slightly across machines and BLAS backends (floating-point summation
# order). See docs/pretrained.md for the results and timings. RL_TRAIN names an
# rl-train binary to use; by default the repository's is built once.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

families=("$@")
[ ${#families[@]} -eq 0 ] && families=(gridworld cartpole pendulum)
for f in "${families[@]}"; do
	for kind in collect pretrain; do
		if [ ! -f "configs/$kind-$f.yaml" ]; then
			echo "pretrain_all.sh: no configs/$kind-$f.yaml for family $f" >&2
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
for f in "${families[@]}"; do
	for kind in collect pretrain; do
		echo "pretrain_all.sh: $kind $f" >&2
		start=$SECONDS
		"$bin" "$kind" --config "configs/$kind-$f.yaml"
		timings+=("$(printf '%-10s %-9s %5d s' "$f" "$kind" $((SECONDS - start)))")
	done
done

echo >&2
echo "pretrain_all.sh: wall time per step" >&2
printf '  %s\n' "${timings[@]}" >&2
