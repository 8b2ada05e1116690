#!/usr/bin/env bash
# Exports evarl's reference Decision Transformer, a padded batch, and evarl's
# predictions, loss and gradients, then recomputes them with PyTorch (torch_check.py).
# Needs Debian's python3-torch.
set -euo pipefail
cd "$(dirname "$0")/.."
py=""
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import torch' 2>/dev/null; then py=$cand; break; fi
done
if [[ -z $py ]]; then echo "no python3 with torch found (apt-get install -y python3-torch)" >&2; exit 1; fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
EVARL_TORCH_EXPORT=$out go test -count=1 -run '^TestExportForTorch$' ./policy >/dev/null
"$py" bench/torch_check.py "$out"
