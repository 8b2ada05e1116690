#!/usr/bin/env bash
# CI: a tiny experiment through the local backend and through Slurm (a running
# cluster: SLURM_CONF, e.g. from scripts/slurm-single-node.sh), whose results.md and
# results.json must be identical byte for byte; then a resubmission of one deleted
# run; then a run stopped by SIGTERM mid-training (what Slurm sends at a time limit
# or on preemption), which resumes from last/ when submitted again and gives the
# uninterrupted run's tables.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t0=$SECONDS
step() { echo "slurm-compare: [$((SECONDS - t0)) s] $*"; }

go build -o "$work/bin/rl-train" ./cmd/rl-train
rl=$work/bin/rl-train
cd "$work"

# config NAME TASKS STEPS EVAL_EVERY SEEDS: an experiment writing NAME-out, NAME-runs.
config() {
  cat >"$1.yaml" <<EOF
out_dir: $1-out
runs_dir: $1-runs
seeds: $5
modes: [offline]
workers: 2
stats: {reps: 200}
variants:
  - {name: lora, method: lora}
  - {name: eva, method: eva}
families:
  - name: grid
    finetune:
      base: base
      tasks: $2
      datasets: [data/mixed.evds]
      lora: {r: 2, alpha: 4, dropout: 0, target_modules: [attention-mlp]}
      eva: {max_batches: 10, accept_unconverged: true, rollout_episodes: 2, rollout_max_steps: 20, batch: 4, num_envs: 2}
      train: {steps: $3, batch_size: 4, schedule: {kind: constant, lr: 1.0e-3, warmup_steps: 0}}
      eval: {every: $4, episodes: 2, test_episodes: 3, num_envs: 3, ref_episodes: 3}
      log_every: $4
EOF
}

# same A B: A-out and B-out hold the same tables.
same() {
  for f in results.md results.json; do
    if ! cmp "$1-out/$f" "$2-out/$f"; then
      diff "$1-out/$f" "$2-out/$f" | head -n 40 >&2 || true
      echo "slurm-compare: $f from $2 differs from $1's" >&2
      exit 1
    fi
  done
}

# The data (the held-out gridworld tasks, 12 episodes each) and a tiny base policy
# pretrained on it for 2 updates.
cat >collect.yaml <<EOF
task_set: gridworld/heldout
out_dir: data
datasets: [{name: mixed, episodes: 12, noise: [0, 0.5]}]
seed: 5000
num_envs: 2
EOF
cat >pretrain.yaml <<EOF
run_dir: pretrain
datasets: [data/mixed.evds]
task_set: gridworld/heldout
export: base
model: {embed_dim: 16, layers: 1, heads: 2, context: 4, max_episode_len: 512, dropout: 0, activation: gelu, head: categorical, return_scale: 1}
train: {steps: 2, batch_size: 4, schedule: {kind: constant, lr: 1.0e-3, warmup_steps: 0}}
eval: {every: 2, episodes: 1, test_episodes: 1, num_envs: 12, targets: [1.0], greedy: true, ref_episodes: 1}
EOF
step "data and a tiny base"
"$rl" collect --config collect.yaml --log-level warn >/dev/null
"$rl" pretrain --config pretrain.yaml --log-level warn >/dev/null

# 1. Eight runs (2 tasks × 2 methods × 2 seeds), locally and as a Slurm array.
config local gridworld/heldout-00,gridworld/heldout-01 6 3 "[0, 1]"
config slurm gridworld/heldout-00,gridworld/heldout-01 6 3 "[0, 1]"
step "local backend: 8 runs"
"$rl" experiment local.yaml --log-level warn >/dev/null
step "Slurm backend: 8 runs as an array, then the merge job"
"$rl" experiment slurm.yaml --slurm --wait --throttle 4 --time 10 --log-level warn >slurm-submit.txt
head -n 3 slurm-submit.txt
same local slurm
step "results.md and results.json identical"

# 2. Resubmission: only the run whose directory was deleted.
rm -r slurm-runs/grid/gridworld_heldout-01/offline/eva/seed1
"$rl" experiment slurm.yaml --status >status.txt
grep -q '8 runs: 7 done, 0 partial, 0 failed, 1 missing' status.txt || { cat status.txt >&2; exit 1; }
step "resubmitting"
"$rl" experiment slurm.yaml --slurm --wait --log-level warn >resubmit.txt
grep -q '1 of 8 runs to do (plan indices 7)' resubmit.txt || { cat resubmit.txt >&2; exit 1; }
same local slurm
"$rl" experiment slurm.yaml --slurm --log-level warn | grep -q 'nothing to submit' || { echo "slurm-compare: a third submission submitted runs" >&2; exit 1; }
step "resubmission took run 7 only; tables still identical"

# 3. A run stopped by SIGTERM mid-training resumes from last/.
config long-local gridworld/heldout-00 5000 500 "[0]"
config long gridworld/heldout-00 5000 500 "[0]"
sed -i '/name: lora/d' long-local.yaml long.yaml
step "local backend: one 5000-update run"
"$rl" experiment long-local.yaml --log-level warn >/dev/null
step "Slurm: the same run, signalled after its validation at update 500"
"$rl" experiment long.yaml --slurm --wait --log-level warn >long-submit.txt 2>&1 &
waiter=$!
log=long-runs/slurm/logs/run-0.log
for _ in $(seq 1 600); do
  grep -q 'msg=evaluation.*step=500 ' "$log" 2>/dev/null && break
  sleep 0.1
done
grep -q 'msg=evaluation.*step=500 ' "$log" || { echo "slurm-compare: the run never reached update 500" >&2; cat "$log" >&2 || true; exit 1; }
job=$(squeue -h -r -n evarl-long-runs -o %i | grep '_0$')
scancel --signal=TERM --batch "$job"
if wait "$waiter"; then
  echo "slurm-compare: --wait succeeded although the run was interrupted" >&2
  cat long-submit.txt >&2
  exit 1
fi
grep -q '1 runs have no result' long-submit.txt || { cat long-submit.txt >&2; exit 1; }
grep -q 'training interrupted at update' "$log" || { cat "$log" >&2; exit 1; }
"$rl" experiment long.yaml --status >long-status.txt
grep -q '1 runs: 0 done, 1 partial' long-status.txt || { cat long-status.txt >&2; exit 1; }
step "interrupted ($(grep -o 'interrupted at update [0-9]*' "$log")); resubmitting"
"$rl" experiment long.yaml --slurm --wait --log-level warn >/dev/null
grep -q 'msg=resuming' "$log" || { echo "slurm-compare: the resubmitted run did not resume" >&2; cat "$log" >&2; exit 1; }
same long-local long
for ckpt in best last; do
  for f in long-local-runs/grid/gridworld_heldout-00/offline/eva/seed0/$ckpt/*; do
    cmp "$f" "long-runs/grid/gridworld_heldout-00/offline/eva/seed0/$ckpt/$(basename "$f")"
  done
done
step "resumed from last/; tables and best/, last/ checkpoints identical to the uninterrupted run's"
