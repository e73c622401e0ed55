#!/usr/bin/env bash
# Idempotent setup of a separate virtual env holding circuit-tracer 0.5.0 (CPU only).
# Usage: bash benchmarks/circuit_tracer/setup_venv.sh [VENV_DIR]   (default /tmp/ct-venv)
#
# torch is installed FIRST and pinned to 2.13.0 (the CPU wheel that lies on this
# machine's disk via pip's find-links), then circuit-tracer is installed with a
# constraint file that keeps torch at 2.13.0 so pip never pulls a (multi-GB) CUDA build.
set -euo pipefail
VENV="${1:-/tmp/ct-venv}"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
CONSTRAINTS="$VENV/ct-constraints.txt"
echo "torch==2.13.0" > "$CONSTRAINTS"

if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null; then
  "$VENV/bin/pip" install "torch==2.13.0"
fi
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('circuit-tracer')=='0.5.0' else 1)" 2>/dev/null; then
  "$VENV/bin/pip" install -c "$CONSTRAINTS" "circuit-tracer==0.5.0"
fi
# sanity: torch must still be the CPU 2.13.0 build
"$VENV/bin/python" - <<'PY'
import torch, importlib.metadata as m
assert torch.__version__.startswith("2.13.0"), torch.__version__
print("torch", torch.__version__, "| circuit-tracer", m.version("circuit-tracer"),
      "| transformer-lens", m.version("transformer-lens"), "| transformers", m.version("transformers"))
PY
