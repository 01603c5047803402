#!/usr/bin/env sh
# Install torch into the given interpreter's environment before anything that depends on it
# (monai, accelerate, bitsandbytes), so pip never resolves an unexpected multi-GB build later.
#   - torch already importable: nothing to do.
#   - an NVIDIA driver answers (nvidia-smi): the default CUDA build from PyPI.
#   - otherwise: the pinned CPU-capable release; set TORCH_INDEX_URL (for example the PyTorch
#     CPU wheel index) for a smaller CPU-only download.
set -eu
PY="${1:-python3}"
if "$PY" -c "import torch" >/dev/null 2>&1; then
    echo "torch $("$PY" -c 'import torch; print(torch.__version__)') already installed"
    exit 0
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    echo "NVIDIA GPU found: installing a CUDA build of torch"
    "$PY" -m pip install "torch>=2.6,<2.16"
else
    echo "No NVIDIA GPU found: installing torch for CPU"
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        "$PY" -m pip install --index-url "$TORCH_INDEX_URL" "torch==${TORCH_VERSION:-2.13.0}"
    else
        "$PY" -m pip install "torch==${TORCH_VERSION:-2.13.0}"
    fi
fi
