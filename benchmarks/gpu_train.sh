#!/usr/bin/env bash
# One call for the lent GPU machine: install hinr (no network needed), then train the base
# hybrid-v3 and a base liif for GPU_TRAIN_MINUTES each (default 2.5) on CUDA, writing checkpoints,
# gpu_train.jsonl (held-out PSNR over time) and gpu_train_summary.json under $OUT. About 7 minutes
# in all, so one retry fits a 15-minute device budget. The photos come from .gpu_data/photos
# (carry it: `mkdir -p .gpu_data && cp -r ../shared/photos .gpu_data/`) or ../shared/photos.
#
#   bash benchmarks/gpu_train.sh                    # on the device machine
#   GPU_TRAIN_CPU_SMOKE=1 GPU_TRAIN_MINUTES=1 bash benchmarks/gpu_train.sh   # this script, on a CPU
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_train_out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
MINUTES=${GPU_TRAIN_MINUTES:-2.5}
export PYTHONUNBUFFERED=1
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # importable even if the install fails
exec > >(tee -a "$OUT/gpu_train.log") 2>&1
echo "gpu_train: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $MINUTES min per architecture"
if [ "${GPU_TRAIN_CPU_SMOKE:-0}" = 1 ]; then
    exec "$PY" benchmarks/gpu_train.py --out "$OUT" --minutes "$MINUTES" --cpu-smoke
fi
timeout 60 nvidia-smi || echo "nvidia-smi failed"
timeout 120 "$PY" -m pip install --no-deps --no-build-isolation --no-index -q -e . \
    || echo "editable install failed: hinr runs from PYTHONPATH"
[ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1 && timeout 120 "$PY" -m pip install --no-deps --no-index -q .whl/*.whl
# the training itself, with a hard stop so that a hang cannot eat the retry's time
timeout --kill-after=10 $(( ${MINUTES%.*} * 2 * 60 + 240 )) "$PY" benchmarks/gpu_train.py --out "$OUT" --minutes "$MINUTES"
