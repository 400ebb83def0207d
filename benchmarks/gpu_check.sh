#!/usr/bin/env bash
# The one-shot GPU check for a lent H200 machine (fresh and bare, no network): sets hinr up, then
# runs each part under its own time limit so that one failure or hang leaves the rest standing,
# all inside GPU_CHECK_BUDGET_S seconds (default 540, to fit one 600 s device call):
#
#   nvidia-smi · install hinr · CUDA smoke checks · matmul peak · base training images/s and its
#   fraction of the bf16 peak · base renders of 1024² and 4096² (time, max_memory_allocated) ·
#   the test suite · mamba-ssm (local wheels in .whl/ first, then PyPI if reachable) · its kernel
#   against our fast scan, when it imports.
#
# Everything goes to $OUT/gpu_check.md (the report), $OUT/gpu_check.log (the whole output),
# $OUT/gpu_check.json (the numbers) and $OUT/pytest.log. Run from the repository root:
#
#   bash benchmarks/gpu_check.sh            # $OUT defaults to ./gpu_check_out
#
# Without a GPU, GPU_CHECK_CPU_SMOKE=1 runs the same flow on the CPU at tiny sizes, installing
# nothing and testing one file (a check of this script, not of the GPU).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
MD=$OUT/gpu_check.md
LOG=$OUT/gpu_check.log
BUDGET=${GPU_CHECK_BUDGET_S:-540}
START=$(date +%s)
DEADLINE=$((START + BUDGET))
PY=${PYTHON:-python3}
SMOKE=${GPU_CHECK_CPU_SMOKE:-0}
SMOKE_FLAG=""
[ "$SMOKE" = 1 ] && SMOKE_FLAG="--cpu-smoke"
export PYTHONUNBUFFERED=1
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # hinr importable even if the install fails
exec > >(tee -a "$LOG") 2>&1

md() { printf '%s\n' "$*" >>"$MD"; }
left() { echo $((DEADLINE - $(date +%s))); }
# seconds a part may use: its cap, or what is left of the budget if less
limit() { local cap=$1 rest; rest=$(left); echo $((cap < rest ? cap : rest)); }
banner() { echo; echo "=== $1 ($(($(date +%s) - START)) s in, $(left) s left) ==="; }

# py_section NAME CAP: one python section of gpu_check.py in its own process and time limit
py_section() {
    local name=$1 t rc
    t=$(limit "$2")
    banner "$name"
    if [ "$t" -lt 15 ]; then md ""; md "## $name"; md ""; md "skipped: out of time"; return; fi
    timeout --kill-after=10 "$t" "$PY" benchmarks/gpu_check.py "$name" --out "$OUT" --md "$MD" \
        --budget $((t - 10)) $SMOKE_FLAG
    rc=$?
    if [ $rc -ne 0 ]; then
        md ""; md "**section $name ended with exit status $rc$([ $rc -eq 124 ] && echo ": timed out after $t s")** (see gpu_check.log)"
    fi
}

{
    echo "# hinr GPU check"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC') · commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ local changes)') · budget ${BUDGET} s"
} >"$MD"

banner "nvidia-smi"
md ""; md "## nvidia-smi"; md ""; md '```'
timeout 30 nvidia-smi 2>&1 | tee -a "$MD" || md "nvidia-smi failed"
md '```'

banner "torch"
if [ "$SMOKE" = 1 ]; then
    md ""; md "CPU smoke run: nothing installed, CPU only, tiny sizes"
elif ! timeout 120 "$PY" -c "import torch; assert torch.cuda.is_available()"; then
    # the H200 image ships a CUDA torch; only a machine without one gets here (PyPI's default
    # Linux wheel is the CUDA build)
    md ""; md "python3's torch sees no GPU; trying \`pip install torch\`"
    timeout "$(limit 240)" "$PY" -m pip install --retries 1 --timeout 15 torch \
        || md "pip install torch failed (no network?)"
fi

banner "install hinr"
md ""; md "## install"; md ""
# no index: the machine has no network, and the image already holds torch, einops, typer, rich,
# pillow, safetensors, huggingface-hub, numpy and pytest
if [ "$SMOKE" = 1 ]; then
    md "- CPU smoke run: not installed"
elif timeout "$(limit 120)" "$PY" -m pip install --no-deps --no-build-isolation --no-index -q -e .; then
    md "- hinr installed editable (no dependencies fetched)"
else
    md "- editable install failed; hinr runs from PYTHONPATH"
fi
missing=$("$PY" -c "
import importlib.util as u
print(' '.join(m for m in ('torch', 'einops', 'typer', 'rich', 'PIL', 'safetensors', 'huggingface_hub', 'numpy', 'pytest') if u.find_spec(m) is None))" 2>&1)
md "- missing dependencies: ${missing:-none}"
if [ "$SMOKE" != 1 ] && [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    # carried wheels (see benchmarks/README.md): mamba-ssm and causal-conv1d built for this torch
    if timeout "$(limit 120)" "$PY" -m pip install --no-deps --no-index -q .whl/*.whl; then
        md "- installed the carried wheels: $(ls .whl | tr '\n' ' ')"
    else
        md "- installing the carried wheels failed"
    fi
fi

py_section env 60
py_section smoke 70
py_section peak 40
py_section train 130
py_section render 80

banner "pytest"
md ""; md "## tests"; md ""
t=$(limit 150)
if [ "$t" -ge 30 ]; then
    extra=""
    [ "$SMOKE" = 1 ] && extra="tests/test_scan.py"
    "$PY" -c "import xdist" 2>/dev/null && extra="-n 4"
    "$PY" -c "import pytest_timeout" 2>/dev/null && extra="$extra --timeout 120"
    # the whole suite with the GPU visible (training tests pick CUDA on their own); no -x, so
    # every failure is listed
    OMP_NUM_THREADS=4 timeout --kill-after=10 "$t" "$PY" -m pytest -q -rfE -p no:cacheprovider \
        $extra >"$OUT/pytest.log" 2>&1
    rc=$?
    md "\`python3 -m pytest -q -rfE $extra\` (with the GPU visible): exit status $rc$([ $rc -eq 124 ] && echo ", timed out after $t s")"
    md ""; md '```'; tail -n 25 "$OUT/pytest.log" >>"$MD"; md '```'
    tail -n 25 "$OUT/pytest.log"
else
    md "skipped: out of time"
fi

banner "mamba-ssm"
md ""; md "## mamba-ssm install"; md ""
if "$PY" -c "import selective_scan_cuda" 2>/dev/null; then
    md "- already importable"
elif [ "$SMOKE" = 1 ]; then
    md "- CPU smoke run: not installed"
else
    t=$(limit 300)
    t=$((t - 80))  # leave time for the kernel section
    if [ "$t" -ge 20 ]; then
        if timeout "$t" "$PY" -m pip install --retries 0 --timeout 10 -q --no-build-isolation \
            mamba-ssm causal-conv1d; then
            md "- pip install mamba-ssm causal-conv1d: done"
        else
            md "- pip install mamba-ssm causal-conv1d failed or timed out after $t s (no network on the H200; carry wheels in .whl/, see benchmarks/README.md)"
        fi
    else
        md "- skipped: out of time"
    fi
fi

py_section kernel 90

banner "done"
md ""; md "_total: $(($(date +%s) - START)) s_"
