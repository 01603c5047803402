#!/usr/bin/env bash
# bench/generate.py at full size for every family on one lent GPU, as one prepared command.
#
#   bash bench/gpu_all.sh plan              # here or there: the plan, estimates, what is left out
#   bash bench/gpu_all.sh prepare [DIR]     # here (CPU host, repo root): packages for the device
#   DRY_RUN=1 bash bench/gpu_all.sh run     # anywhere: the commands run would issue, no GPU
#   bash bench/gpu_all.sh run               # there, through the device tool (see bench/README.md):
#       run(command="bash bench/gpu_all.sh run", carry=[".gpu_site"], timeout_s=570)
#
# The device image has python3 3.12 with torch 2.11+cu130 and transformers 5.17 but no
# bitsandbytes, pydicom, pylibjpeg, MONAI or nibabel (/work/.library/device/KINDS.md, "Python
# packages already there"). `prepare` puts them in .gpu_site/ (git-ignored through
# .git/info/exclude; under 64 MiB with the working tree): cp312 manylinux wheels fetched with
# pip download (transformers 5.24.0, the version RadLens is tested with, and the pure-Python or
# small binary packages), and bitsandbytes copied from this venv with only its CUDA 13.0 and CPU
# libraries (the full wheel carries 15 GPU builds, 125 MB; the libraries are loaded with ctypes,
# so the copy does not depend on the Python version).
#
# `run` installs those into /tmp/site, checks the imports and the GPU, then runs the plan below
# in order, each model as one bench/generate.py process with --record into $OUT/RESULTS-gpu.md
# (the card's name is in each table's title), skipping a model whose estimate no longer fits the
# budget (BUDGET_S, default 480 s: the device tool gives a session 15 minutes in all, a
# machine's start takes one or two) and stopping one that runs past twice its estimate.
# Everything it prints also goes to $OUT/gpu_all.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# id | precisions | cases | estimated seconds on one H200 (writing the random bf16 checkpoint at
# ~1-2 GB/s, loading and quantizing it, warm-up + 2 first-token runs + one 32-token run per case;
# ct85 is 85 slices, 22-28k prompt tokens). Estimates, not measurements: replace them with the
# logged times after the first run.
PLAN=(
  "medgemma-1.5-4b|nf4,bf16|cxr,ct85|110"  # Gemma3 4B: the issue's targets (8.6 GB)
  "qwen3-vl-8b|nf4,bf16|cxr,ct85|140"      # Qwen3-VL at its largest registry size (17.5 GB)
  "qwen2.5-vl-7b|nf4|cxr,ct85|90"          # Qwen2.5-VL 7B = Lingshu-7B (16.6 GB)
  "qwen3-vl-4b|nf4|cxr|45"                 # 8.9 GB
  "qwen2.5-vl-3b|nf4|cxr|40"               # 7.5 GB
  "qwen3-vl-2b|nf4|cxr|35"                 # 4.3 GB
)
# Registry ids left out of the default run, and why (`plan` prints these; the test checks that
# every local registry id is either planned or listed here).
LEFT_OUT=(
  "medgemma-4b|the same architecture as medgemma-1.5-4b: random weights give the same numbers"
  "lingshu-7b|the same architecture as qwen2.5-vl-7b: random weights give the same numbers"
  "medgemma-27b|55 GB of bf16 safetensors to write and read back on a 64 GiB disk: ~3-4 min for nf4 alone; run 'LARGE=1' in a session of its own"
  "lingshu-32b|67 GB of bf16 safetensors do not fit the device's 64 GiB disk at full size; LARGE=1 runs it with --layers 32 (half depth, every width; its count is not the registry's)"
)
# LARGE=1 replaces the plan with these (a second session's 8 minutes).
LARGE_PLAN=(
  "medgemma-27b|nf4|cxr|240"
  "lingshu-32b|nf4|cxr|200|--layers 32"
)
COMMON=(--device cuda --repeat 2 --new-tokens 32 --ct-slices 85 --ct-size 512)
BNB_LIBS=(libbitsandbytes_cpu.so libbitsandbytes_cuda130.so)
# The demo radiograph is JPEG 2000 (openjpeg); the synthetic CT is uncompressed, so the JPEG /
# JPEG-LS / RLE decoders are not needed (pylibjpeg-libjpeg 2.5.0 has no cp312 wheel for these
# platform tags anyway).
WHEELS=(
  transformers==5.24.0 pydicom==3.0.2 pylibjpeg==2.1.0 pylibjpeg-openjpeg==2.6.0
  monai==1.6.1 nibabel==5.4.2
)

plan() {
  local rows=("${PLAN[@]}")
  if [[ "${LARGE:-0}" == 1 ]]; then rows=("${LARGE_PLAN[@]}"); fi
  local total=0
  echo "planned (id, precisions, cases, estimate s):"
  for row in "${rows[@]}"; do
    IFS='|' read -r id precisions cases est extra <<<"$row"
    printf '  %-16s %-9s %-9s %4s s %s\n' "$id" "$precisions" "$cases" "$est" "${extra:-}"
    total=$((total + est))
  done
  echo "estimated total: ${total} s (budget ${BUDGET_S:-480} s)"
  echo "left out:"
  for row in "${LEFT_OUT[@]}"; do
    IFS='|' read -r id why <<<"$row"
    printf '  %-16s %s\n' "$id" "$why"
  done
}

prepare() {
  local dest="${1:-.gpu_site}"
  local python="${PYTHON:-.venv/bin/python}"
  local site
  site="$("$python" -c 'import bitsandbytes, os; print(os.path.dirname(bitsandbytes.__file__))')"
  rm -rf "$dest"
  mkdir -p "$dest/wheels" "$dest/bitsandbytes"
  "$python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$dest/wheels" "${WHEELS[@]}"
  (cd "$site" && find . -name '*.py' -o -name '*.pyi' -o -name 'py.typed') |
    while read -r f; do mkdir -p "$dest/bitsandbytes/$(dirname "$f")"; cp "$site/$f" "$dest/bitsandbytes/$f"; done
  for lib in "${BNB_LIBS[@]}"; do cp "$site/$lib" "$dest/bitsandbytes/"; done
  cp -r "$site/../bitsandbytes-"*.dist-info "$dest/"
  case "$dest" in
    .gpu_site) grep -qx '/.gpu_site/' .git/info/exclude 2>/dev/null || echo '/.gpu_site/' >>.git/info/exclude ;;
  esac
  du -sh "$dest"
}

run() {
  local out="${OUT:-$ROOT/bench/out}"
  mkdir -p "$out"
  local start=$SECONDS budget="${BUDGET_S:-480}" dry="${DRY_RUN:-0}" simulated=0
  local results="$out/RESULTS-gpu.md"
  if [[ "$dry" != 1 ]]; then
    exec > >(tee "$out/gpu_all.log") 2>&1
    setup "$results"
  fi
  echo "setup took $((SECONDS - start)) s"
  local rows=("${PLAN[@]}")
  if [[ "${LARGE:-0}" == 1 ]]; then rows=("${LARGE_PLAN[@]}"); fi
  local done_ids=() skipped=()
  for row in "${rows[@]}"; do
    IFS='|' read -r id precisions cases est extra <<<"$row"
    local left=$((budget - (SECONDS - start) - simulated))
    local limit=$((left < 2 * est ? left : 2 * est))
    if ((left < est)); then
      skipped+=("$id (estimate ${est} s, ${left} s left)")
      continue
    fi
    echo "=== $id: $precisions $cases (estimate ${est} s, ${left} s left)"
    local command=(python3 bench/generate.py --model "$id" --precisions "$precisions"
      --cases "$cases" "${COMMON[@]}")
    # shellcheck disable=SC2206  # $extra holds optional flags
    if [[ -n "${extra:-}" ]]; then command+=($extra); fi
    command+=(--record --results "$results")
    if [[ "$dry" == 1 ]]; then  # DRY_RUN=1: print the commands, count the estimates as spent
      echo "timeout $limit ${command[*]}"
      simulated=$((simulated + est))
      done_ids+=("$id (dry run)")
      continue
    fi
    local t0=$SECONDS
    if timeout "$limit" "${command[@]}"; then
      done_ids+=("$id $((SECONDS - t0)) s")
    else
      done_ids+=("$id FAILED or timed out after $((SECONDS - t0)) s")
    fi
  done
  echo "=== summary after $((SECONDS - start + simulated)) s"
  printf '  ran: %s\n' "${done_ids[@]:-none}"
  printf '  skipped for time: %s\n' "${skipped[@]:-none}"
}

# The device side's packages, the GPU check and the results file's header.
setup() {
  local results="$1"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu_site/wheels/*.whl
  cp -r .gpu_site/bitsandbytes .gpu_site/bitsandbytes-*.dist-info /tmp/site/
  export PYTHONPATH="/tmp/site:$ROOT" PYTHONUNBUFFERED=1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  df -h /tmp | tail -1
  python3 - <<'PY'
import importlib
for name in ("torch", "transformers", "bitsandbytes", "pydicom", "pylibjpeg", "openjpeg",
             "monai", "nibabel", "accelerate", "safetensors", "tokenizers"):
    module = importlib.import_module(name)
    print(f"{name} {getattr(module, '__version__', '?')}")
import torch
assert torch.cuda.is_available(), "no CUDA device"
print(torch.cuda.get_device_name(0))
PY
  [[ -f "$results" ]] || printf '# bench/gpu_all.sh results (append to bench/RESULTS.md)\n' >"$results"
}

case "${1:-plan}" in
  plan) plan ;;
  prepare) prepare "${2:-.gpu_site}" ;;
  run) run ;;
  *)
    echo "usage: bash bench/gpu_all.sh plan|prepare [DIR]|run" >&2
    exit 2
    ;;
esac
