#!/usr/bin/env bash
# Times Decision Transformer training steps in evarl (Go benchmarks of package policy)
# and in PyTorch (bench/torch_dt.py) side by side, rounds alternated evarl, torch,
# evarl, torch, … so that whatever else the machine runs slows both sides alike.
#
# Usage: bench/run_torch_compare.sh [-r rounds] [-s steps] [-b backends] [comparison …]
#        bench/run_torch_compare.sh [rounds] [steps]   (all three comparisons)
#   comparison  reference  BenchmarkTrainStep       vs torch_dt.py --size reference
#               small      BenchmarkTrainStepSmall  vs torch_dt.py --size small
#               lora       BenchmarkLoRAStepSmall   vs torch_dt.py --size small --lora
#               reference-lora  BenchmarkLoRAStep   vs torch_dt.py --size reference --lora
#               (default: reference, small, lora)
#   -r rounds   alternated rounds per comparison (default 5)
#   -s steps    timed steps per round and side (default 10 for reference, 100 otherwise)
#   -b backends evarl BLAS backends, comma-separated (default openblas; gonum is the
#               pure-Go fallback)
#
# Prints each round, then per comparison and backend the median step time of each
# side (wall and CPU), the median and range of the pairwise evarl/torch ratios of the
# rounds, and the load average before and after. Needs Debian's python3-torch
# (apt-get install -y python3-torch) and, for OpenBLAS, libopenblas0. Both sides use
# one BLAS thread (OPENBLAS_NUM_THREADS=1); PyTorch runs on one core, evarl on all.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5 steps="" backends=openblas
while getopts r:s:b: opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    s) steps=$OPTARG ;;
    b) backends=$OPTARG ;;
    *) sed -n '2,23p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
# The old positional form, run_torch_compare.sh [rounds] [steps], still works.
if [[ ${1:-} =~ ^[0-9]+$ ]]; then rounds=$1; shift; fi
if [[ ${1:-} =~ ^[0-9]+$ ]]; then steps=$1; shift; fi
comparisons=("$@")
[[ ${#comparisons[@]} -gt 0 ]] || comparisons=(reference small lora)
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
go_ms() { # $1 = benchmark, $2 = EVARL_BLAS value, $3 = steps
  (cd policy && EVARL_BLAS=$2 "$tmp/policy.test" -test.run '^$' -test.bench "^$1\$" \
    -test.benchtime "${3}x" 2>/dev/null) | awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {
      for (i = 1; i < NF; i++) { if ($(i+1) == "ms/step") w = $i; if ($(i+1) == "cpu-ms/step") c = $i }
      print w, c }'
}
torch_ms() { # $@ = torch_dt.py arguments
  "$py" bench/torch_dt.py --warmup 3 "$@" | awk -F= '/^torch_ms=/ { w = $2 } /^torch_cpu_ms=/ { c = $2 } END { print w, c }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "# $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg), $rounds rounds"
"$py" -c 'import torch; print("# torch", torch.__version__)'
summary=()
for c in "${comparisons[@]}"; do
  case $c in
    reference) bench=BenchmarkTrainStep targs=(--size reference) n=${steps:-10} ;;
    small) bench=BenchmarkTrainStepSmall targs=(--size small) n=${steps:-100} ;;
    lora) bench=BenchmarkLoRAStepSmall targs=(--size small --lora) n=${steps:-100} ;;
    reference-lora) bench=BenchmarkLoRAStep targs=(--size reference --lora) n=${steps:-10} ;;
    *) echo "unknown comparison $c: want reference, small, lora or reference-lora" >&2; exit 2 ;;
  esac
  for backend in ${backends//,/ }; do
    : >"$tmp/go"; : >"$tmp/torch"; : >"$tmp/ratio"
    for ((r = 1; r <= rounds; r++)); do
      g=$(go_ms "$bench" "$backend" "$n"); t=$(torch_ms --steps "$n" "${targs[@]}")
      if [[ -z ${g// /} || -z ${t// /} ]]; then
        echo "a benchmark failed (backend $backend unavailable? run: EVARL_BLAS=$backend go test -run '^\$' -bench '^$bench\$' ./policy)" >&2
        exit 1
      fi
      echo "$c round $r  evarl/$backend wall ${g% *} ms cpu ${g#* } ms   torch wall ${t% *} ms cpu ${t#* } ms"
      echo "$g" >>"$tmp/go"; echo "$t" >>"$tmp/torch"
      paste -d' ' <(echo "$g") <(echo "$t") | awk '{ print $1 / $3, $2 / $4 }' >>"$tmp/ratio"
    done
    gw=$(cut -d' ' -f1 "$tmp/go" | median); gc=$(cut -d' ' -f2 "$tmp/go" | median)
    tw=$(cut -d' ' -f1 "$tmp/torch" | median); tc=$(cut -d' ' -f2 "$tmp/torch" | median)
    rw=$(cut -d' ' -f1 "$tmp/ratio" | median); rc=$(cut -d' ' -f2 "$tmp/ratio" | median)
    range=$(cut -d' ' -f1 "$tmp/ratio" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f–%.2f", lo, hi }')
    summary+=("$(awk -v c="$c" -v b="$backend" -v gw="$gw" -v gc="$gc" -v tw="$tw" -v tc="$tc" -v rw="$rw" -v rc="$rc" -v range="$range" 'BEGIN {
      printf "%-9s evarl/%s: wall %.2f ms/step, cpu %.2f | torch: wall %.2f, cpu %.2f | evarl/torch, median of the rounds: wall %.2f (%s), cpu %.2f",
        c, b, gw, gc, tw, tc, rw, range, rc }')")
  done
done
printf '%s\n' "${summary[@]}"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
