#!/usr/bin/env bash
# Evaluate several policies on one task set and combine them into one Markdown table.
#
#   scripts/eval_table.sh -t gridworld/heldout -r 1 -o docs/heldout.md \
#       pretrained/gridworld \
#       pretrained/gridworld:runs/finetune-lora/adapter \
#       pretrained/gridworld:runs/finetune-eva/adapter
#
# Each POLICY is a checkpoint directory, or CHECKPOINT:ADAPTER for a checkpoint with a
# LoRA adapter. Every policy is evaluated with `rl-train eval --out` on the same tasks,
# episodes and seeds; `rl-train eval-merge` then writes one row per policy and target
# (mean normalised score, success rate and return over the tasks). The per-policy
# results.json and results.md stay in the work directory (-w) for the per-task detail.
# Extra `rl-train eval` flags go after --, e.g. -- --sample --num-envs 8.
# RL_TRAIN names an rl-train binary to use; by default the repository's is built once.
set -euo pipefail

usage() {
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
	echo "usage: $0 -t TASKS [-r TARGETS] [-n EPISODES] [-o TABLE.md] [-w WORKDIR] POLICY... [-- EVAL FLAGS]" >&2
	exit 2
}

tasks="" targets="" episodes="" table="" work=""
while getopts "t:r:n:o:w:h" opt; do
	case $opt in
	t) tasks=$OPTARG ;;
	r) targets=$OPTARG ;;
	n) episodes=$OPTARG ;;
	o) table=$OPTARG ;;
	w) work=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
policies=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	policies+=("$1")
	shift
done
[ "${1:-}" = "--" ] && shift
extra=("$@")
if [ -z "$tasks" ] || [ ${#policies[@]} -eq 0 ]; then
	echo "eval_table.sh: need -t TASKS and at least one POLICY" >&2
	usage
fi

if [ -z "$work" ]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

bin=${RL_TRAIN:-}
if [ -z "$bin" ]; then
	root=$(cd "$(dirname "$0")/.." && pwd)
	bin="$work/rl-train"
	(cd "$root" && go build -o "$bin" ./cmd/rl-train)
fi

flags=(--tasks "$tasks")
[ -n "$targets" ] && flags+=(--targets "$targets")
[ -n "$episodes" ] && flags+=(--episodes "$episodes")

results=()
i=0
for p in "${policies[@]}"; do
	ckpt=${p%%:*}
	args=(--checkpoint "$ckpt")
	if [ "$p" != "$ckpt" ]; then
		args+=(--adapter "${p#*:}")
	fi
	out="$work/$(printf '%02d' "$i")"
	echo "eval_table.sh: evaluating $p" >&2
	"$bin" eval --log-level warn "${args[@]}" "${flags[@]}" ${extra[@]+"${extra[@]}"} --out "$out" >/dev/null
	results+=("$out/results.json")
	i=$((i + 1))
done

merge=("$bin" eval-merge "${results[@]}")
[ -n "$table" ] && merge+=(--out "$table")
"${merge[@]}"
