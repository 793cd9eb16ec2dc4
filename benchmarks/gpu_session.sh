#!/usr/bin/env bash
# The README's GPU benchmark figures in one run on a machine with one CUDA GPU, in about 8
# minutes: training throughput and FLOP utilisation at paper size with the default path and
# with the speed switches, and whole-volume reconstruction (DiffusionBlend++ and DDS, fp32 and
# bf16). Every output goes to the folder $OUT as a few text files (session.log says what ran,
# for how long and with which exit status).
#
#   OUT=/some/folder bash benchmarks/gpu_session.sh               # run, from the repository root
#   bash benchmarks/gpu_session.sh wheels DIR                     # see "Offline" below
#
# Python: $PYTHON if set (used as it is); else python3 when its torch sees a CUDA GPU, with
# dblend's other needs installed beside it into .gpu-site/ (from $WHEELS if set, else PyPI);
# else a new .venv-gpu with `pip install torch` (a CUDA build from PyPI) and `pip install -e .`.
#
# Offline (a GPU machine with torch but no package index): on a machine that reaches PyPI, run
# `bash benchmarks/gpu_session.sh wheels DIR`: it downloads the wheels dblend needs beyond such
# an image (for CPython $PYVER, default 3.12) and builds libcufft.so.11, a stand-in for the
# 200 MB cuFFT 11 that ASTRA's wheel links against: ASTRA's CPU projector, which builds the
# parallel-beam system matrix, never calls it; ASTRA's GPU FBP/FDK would fail with
# CUFFT_NOT_SUPPORTED. Copy DIR along and run with WHEELS=DIR.
#
# The sizes are variables so that the same commands can be tried on a CPU at a tiny size first:
#   DEVICE=cpu NETWORK=tiny SIZE=16 SLICES=9 BATCH=2 SLOWER=4 BUDGET=3600 \
#       PYTHON=.venv/bin/python OUT=/tmp/s bash benchmarks/gpu_session.sh
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHEEL_PINS=(
    astra-toolbox==2.5.0 nvidia-cuda-runtime-cu12==12.9.79 diffusers==0.42.1
    jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0
    rpds-py==2026.9.1
)
# ASTRA 2.5.0 calls these five cuFFT functions; the stand-in answers each with
# CUFFT_NOT_SUPPORTED (16), under the symbol version ASTRA was linked against.
CUFFT_STAND_IN='
int cufftPlan1d(void *plan, int nx, int type, int batch) { return 16; }
int cufftSetStream(void *plan, void *stream) { return 16; }
int cufftExecR2C(void *plan, void *in, void *out) { return 16; }
int cufftExecC2R(void *plan, void *in, void *out) { return 16; }
int cufftDestroy(void *plan) { return 16; }
'

build_cufft_stand_in() {  # build_cufft_stand_in TARGET_FILE
    local work
    work=$(mktemp -d)
    printf '%s' "$CUFFT_STAND_IN" >"$work/cufft.c"
    printf 'libcufft.so.11 { global: cufft*; local: *; };\n' >"$work/cufft.map"
    cc -shared -fPIC -nostdlib -O1 -Wl,--version-script="$work/cufft.map" \
        -Wl,-soname,libcufft.so.11 -o "$1" "$work/cufft.c"
    local status=$?
    rm -rf "$work"
    return $status
}

if [[ ${1:-} == wheels ]]; then
    dir=${2:?usage: gpu_session.sh wheels DIR}
    mkdir -p "$dir"
    python3 -m pip download --no-deps --only-binary=:all: --python-version "${PYVER:-3.12}" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$dir" "${WHEEL_PINS[@]}" || exit
    build_cufft_stand_in "$dir/libcufft.so.11" || exit
    du -sh "$dir"
    exit 0
fi

cd "$ROOT" || exit
OUT=${OUT:-results/gpu_session}
DEVICE=${DEVICE:-cuda}
NETWORK=${NETWORK:-paper}
SIZE=${SIZE:-256}      # paper slices are 256 x 256
SLICES=${SLICES:-504}  # the AAPM test volume L067
BATCH=${BATCH:-8}      # the paper config's training batch
BUDGET=${BUDGET:-480}  # seconds for the whole session, setup included
SLOWER=${SLOWER:-1}    # multiplies each step's time limit (for a try on a CPU)
mkdir -p "$OUT" || exit
OUT=$(cd "$OUT" && pwd)
export PYTHONUNBUFFERED=1
started=$SECONDS

log() { echo "[$((SECONDS - started)) s] $*" | tee -a "$OUT/session.log"; }

step() {  # step NAME LIMIT COMMAND...: run within LIMIT seconds and what is left of the budget
    local name=$1 limit=$(($2 * SLOWER))
    shift 2
    local left=$((BUDGET - (SECONDS - started)))
    ((left < limit)) && limit=$left
    if ((limit < 30)); then
        log "$name: skipped, ${left} s of the budget left"
        return
    fi
    log "$name: $* (limit ${limit} s)"
    timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.txt" 2>&1
    local status=$?
    if ((status == 124 || status == 137)); then
        log "$name: stopped at its limit of ${limit} s"
    else
        log "$name: exit status $status"
    fi
}

setup_python() {
    if [[ -n ${PYTHON:-} ]]; then
        return
    fi
    if python3 -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
        PYTHON=python3
        local site=$ROOT/.gpu-site
        if [[ -n ${WHEELS:-} ]]; then
            python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" \
                "$WHEELS"/*.whl || return
            mkdir -p "$site/nvidia/cufft/lib"
            cp "$WHEELS/libcufft.so.11" "$site/nvidia/cufft/lib/" 2>/dev/null ||
                build_cufft_stand_in "$site/nvidia/cufft/lib/libcufft.so.11" || return
        else
            python3 -m pip install -q --no-deps --no-compile --target "$site" \
                "${WHEEL_PINS[@]}" nvidia-cufft-cu12==11.4.1.4 || return
        fi
        export PYTHONPATH=$ROOT:$site
    else
        python3 -m venv .venv-gpu || return
        .venv-gpu/bin/pip install -q torch || return
        .venv-gpu/bin/pip install -q -e . || return
        PYTHON=.venv-gpu/bin/python
    fi
}

log "setup (DEVICE=$DEVICE NETWORK=$NETWORK SIZE=$SIZE SLICES=$SLICES BATCH=$BATCH)"
setup_python >"$OUT/setup.txt" 2>&1 || {
    log "setup failed: $OUT/setup.txt"
    exit 1
}
{
    nvidia-smi 2>&1 | head -20
    "$PYTHON" -c 'import torch, diffusers, astra, dblend; print("torch", torch.__version__,
"cuda", torch.version.cuda, "| diffusers", diffusers.__version__, "| astra",
astra.__version__, "| dblend from", dblend.__file__)'
} >>"$OUT/setup.txt" 2>&1
for script in train_throughput volume_reconstruction; do  # --help imports all they need
    "$PYTHON" "benchmarks/$script.py" --help >/dev/null 2>>"$OUT/setup.txt" || {
        log "setup failed: benchmarks/$script.py cannot import what it needs ($OUT/setup.txt)"
        exit 1
    }
done
log "setup done: python $PYTHON"

train=(benchmarks/train_throughput.py --device "$DEVICE" --threads 4 --networks "$NETWORK"
    --size "$SIZE" --crop 0 --batch-size "$BATCH" --warmup 3 --steps 10)
step train_defaults 120 "$PYTHON" "${train[@]}" --switches defaults
step volume 240 "$PYTHON" benchmarks/volume_reconstruction.py --device "$DEVICE" --threads 4 \
    --network "$NETWORK" --size "$SIZE" --slices "$SLICES" --steps-scale 0.02 --warmup 1
step train_switches 300 "$PYTHON" "${train[@]}" --switches channels_last,compile,fused_optimizer
step train_layout 90 "$PYTHON" "${train[@]}" --switches channels_last,fused_optimizer
log "done"
