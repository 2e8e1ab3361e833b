#!/usr/bin/env bash
# Prove the CUDA path and measure it against the reference, in one run of at most --budget-s
# seconds (default 480 = 8 minutes). On a GPU machine without network:
#
#   benchmarks/fetch_gpu_wheels.sh        # once, on a networked machine: fills .wheels/
#   benchmarks/gpu_check.sh               # on the GPU machine (the checkout with .wheels/)
#
# Writes gpu_check.json and gpu_check.log to $OUT when set, else runs/gpu-check/. Options are
# those of benchmarks/gpu_check.py (--help). The Python driver keeps to the budget itself;
# `timeout` here is the backstop that ends the run even if the driver itself hangs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
PY="${PYTHON:-python3}"

budget=480
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --budget-s) budget="${args[i + 1]:-480}" ;;
    --budget-s=*) budget="${args[i]#*=}" ;;
  esac
done
case "$budget" in
  '' | *[!0-9.]* | .* | *.*.*)
    echo "gpu_check.sh: --budget-s must be a number of seconds, got '$budget'" >&2
    exit 2
    ;;
esac
wall=$((${budget%.*} + 15))

export PYTHONUNBUFFERED=1
exec timeout --kill-after=5 "$wall" "$PY" benchmarks/gpu_check.py "$@"
