#!/usr/bin/env bash
# Runs the reference Decision Transformer training step in evarl (Go, BenchmarkTrainStep
# in package policy) and in PyTorch (bench/torch_dt.py) side by side and prints both
# times and their ratio, first with OpenBLAS and then with the pure-Go gonum backend.
#
# Usage: bench/run_torch_compare.sh [rounds] [steps]
#   rounds  alternating Go/PyTorch rounds (default 3); each result is the median over
#           rounds, so a busy machine hurts both sides alike
#   steps   timed steps per round and side (default 10)
#
# Needs Debian's python3-torch (apt-get install -y python3-torch) and, for the OpenBLAS
# numbers, libopenblas0. Both sides use one BLAS thread (OPENBLAS_NUM_THREADS=1), as
# DESIGN.md measured them.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-10}
export OPENBLAS_NUM_THREADS=1

# A python3 that can import torch: $PYTHON, else the first python3 on PATH that can,
# else Debian's system interpreter.
py=""
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import torch' 2>/dev/null; then py=$cand; break; fi
done
if [[ -z $py ]]; then echo "no python3 with torch found (apt-get install -y python3-torch)" >&2; exit 1; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/policy.test" ./policy

# Each side prints "<wall ms> <cpu ms>" per step; CPU time (all threads of the
# process) is the steadier measure on a shared machine, wall time the one that counts
# on an idle one.
go_ms() { # $1 = EVARL_BLAS value
  EVARL_BLAS=$1 "$tmp/policy.test" -test.run '^$' -test.bench '^BenchmarkTrainStep$' \
    -test.benchtime "${steps}x" 2>/dev/null | awk '/^BenchmarkTrainStep/ {
      for (i = 1; i < NF; i++) { if ($(i+1) == "ms/step") w = $i; if ($(i+1) == "cpu-ms/step") c = $i }
      print w, c }'
}
torch_ms() {
  "$py" bench/torch_dt.py --steps "$steps" --warmup 2 | awk -F= '/^torch_ms=/ { w = $2 } /^torch_cpu_ms=/ { c = $2 } END { print w, c }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

"$py" bench/torch_dt.py --steps 1 --warmup 0 | head -1
echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds × $steps steps"
for backend in openblas gonum; do
  : >"$tmp/go"; : >"$tmp/torch"
  for ((r = 1; r <= rounds; r++)); do
    g=$(go_ms "$backend"); t=$(torch_ms)
    if [[ -z ${g// /} || -z ${t// /} ]]; then
      echo "a benchmark failed (backend $backend unavailable? run: EVARL_BLAS=$backend go test -run '^\$' -bench TrainStep ./policy)" >&2
      exit 1
    fi
    echo "round $r  evarl/$backend wall ${g% *} ms cpu ${g#* } ms   torch wall ${t% *} ms cpu ${t#* } ms"
    echo "$g" >>"$tmp/go"; echo "$t" >>"$tmp/torch"
  done
  gw=$(cut -d' ' -f1 "$tmp/go" | median); gc=$(cut -d' ' -f2 "$tmp/go" | median)
  tw=$(cut -d' ' -f1 "$tmp/torch" | median); tc=$(cut -d' ' -f2 "$tmp/torch" | median)
  awk -v gw="$gw" -v gc="$gc" -v tw="$tw" -v tc="$tc" -v b="$backend" 'BEGIN {
    printf "evarl/%s: wall %.1f ms/step, cpu %.1f ms/step | torch: wall %.1f, cpu %.1f | ratio evarl/torch: wall %.2f, cpu %.2f\n",
      b, gw, gc, tw, tc, gw / tw, gc / tc }'
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
