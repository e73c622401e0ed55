#!/usr/bin/env bash
# Gemma-2-2B-scale attribution on one GPU: babelgraph vs circuit-tracer 0.5.0 on identical random weights
# (docs/benchmarks.md, "Gemma-2-2B scale on a GPU").  Written for a machine with no network, in a copy of the repo
# root with the wheels of .whl/ carried along; everything, model writing and every model load included, fits in
# BUDGET seconds (default 345, so the script ends inside 6 minutes).
#
#   OUT=/some/empty/dir bash benchmarks/gpu/gemma_scale.sh
#
# Model: make_random_model.py --gemma-scale (GPT-2 architecture at Gemma-2-2B sizes: 26 layers, d_model 2304,
# 8x256 heads, d_mlp 9216, vocab VOCAB=256000), n_ctx 2048, 16384-wide ReLU transcoders WITHOUT skip, b_enc
# calibrated to L0=110 active features per layer and position (on the float32 weights), weights drawn on the GPU
# (--init-device) and written in bfloat16 (--save-dtype; float32 unless DTYPE=bfloat16), which both tools load in
# DTYPE (bfloat16).  The model folder is kept in WORK (/tmp, or /dev/shm when /tmp is short of room) and reused
# by a second run on the same machine.
#
# Runs, most important first, each in its own process under its own `timeout` (a failing or timed-out step is
# recorded and the next one runs; a step starts only if enough of the budget is left):
#   bg_main   babelgraph, prompts of SIZES (32 128) tokens, max_feature_nodes CAP (8192), batch BG_BATCHES
#             ("default 256": its GPU default 512 first, then 256), one model load
#   ct_main   circuit-tracer 0.5.0 attribute(), same prompts and cap, batch CT_BATCHES ("512 256"), one model load
#   bg_probe  babelgraph at PROBE_SIZES (1024 2048) tokens capped at PROBE_CAP (1024) features: the longest prompt
#             that fits; an out-of-memory error is recorded as such
#   ct_probe  circuit-tracer at the first PROBE_SIZES length, batch CT_PROBE_BATCH (128), cap PROBE_CAP
# seconds = wall clock of the attribute() call after a warm-up in the same process (model loading excluded);
# peak_gpu_mb = torch.cuda.max_memory_allocated() over that call (model weights included; gpu_allocated_before_mb
# is what was allocated when it started), peak_gpu_reserved_mb the caching allocator's peak.
#
# Writes to $OUT (as each step completes): results.jsonl (one JSON object per graph, tagged with its "step", and
# one {"event": ...} line per step: end / skipped / timed out), summary.txt (table, rewritten after every step),
# log.txt (everything printed), env.txt (GPU, python, package versions), bench_config.json (the model's
# calibration: L0 per layer), ct_main.json / ct_probe.json (circuit-tracer's own metadata, load seconds included).
#
# Python packages (the machine has torch, transformers 5.x, tokenizers, safetensors, ... but none of these):
#   .whl/common  datasets 5.0.1 (+ dill, multiprocess), better-abc, typeguard: imported by both transformer_lens
#   .whl/bg      transformer-lens 3.9.0, sae-lens 6.54.12 (+ simple-parsing, docstring-parser): babelgraph's side,
#                with the machine's transformers 5.x; babelgraph itself is this repo's src/
#   .whl/ct      circuit-tracer 0.5.0 with its pinned transformers 4.57.3, huggingface-hub 0.36.2, tokenizers
#                0.22.2, transformer-lens 3.2.1, pydantic 2.14.4: circuit-tracer's side only
# Fetch each set where pip works, for the machine's Python (3.12, manylinux x86_64), without dependencies:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl/ct circuit-tracer==0.5.0 ...
# Each side gets its own PYTHONPATH.  benchmarks/gpu/shims/ holds a stand-in `wandb` module for babelgraph's side
# only: sae_lens imports wandb at module level (training code) but never uses it here, and the real wheel is
# ~20 MB.  nnsight (circuit-tracer's other backend) and beartype are never imported and are not carried.
#
# Knobs for a CPU rehearsal (small model, same code path):
#   SCALE=small DEVICE=cpu VOCAB=4096 L0=14 SIZES="16 32" CAP=64 BG_BATCHES="default 32" CT_BATCHES="64 32" \
#   PROBE_SIZES="128 256" PROBE_CAP=32 CT_PROBE_BATCH=32 WHL=/path/to/cp311/wheels PY=/path/to/python \
#   OUT=/tmp/out bash benchmarks/gpu/gemma_scale.sh
set -u
START=$(date +%s)
cd "$(dirname "$0")/../.." || exit 1
REPO=$PWD
: "${OUT:?set OUT to the folder for the results}"
mkdir -p "$OUT"
PY=${PY:-python3}
WHL=${WHL:-$REPO/.whl}
SITE=${SITE:-/tmp/gemma-scale-site}
if [ -z "${WORK:-}" ]; then # the model files (about 10 GB at gemma scale in bfloat16) go where there is room
    WORK=/tmp/gemma-scale-work
    avail() { df -BG --output=avail "$1" 2>/dev/null | tail -1 | tr -dc 0-9; }
    if [ "$(avail /tmp)" -lt 14 ] 2>/dev/null && [ "$(avail /dev/shm)" -ge 14 ] 2>/dev/null; then
        WORK=/dev/shm/gemma-scale-work
    fi
fi
DEVICE=${DEVICE:-cuda}
DTYPE=${DTYPE:-bfloat16}
SCALE=${SCALE:-gemma}
VOCAB=${VOCAB:-256000}
L0=${L0:-110}
SIZES=${SIZES:-32 128}
CAP=${CAP:-8192}
BG_BATCHES=${BG_BATCHES:-default 256}
CT_BATCHES=${CT_BATCHES:-512 256}
PROBE_SIZES=${PROBE_SIZES:-1024 2048}
PROBE_CAP=${PROBE_CAP:-1024}
CT_PROBE_BATCH=${CT_PROBE_BATCH:-128}
BUDGET=${BUDGET:-345}
RES=$OUT/results.jsonl
LOG=$OUT/log.txt
SAVE_DTYPE=float32
if [ "$DTYPE" = bfloat16 ]; then SAVE_DTYPE=bfloat16; fi # half the bytes to write and read, same bf16 weights
MODEL=$WORK/model-$SCALE-v$VOCAB-l0$L0-$SAVE_DTYPE
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export TRANSFORMERS_VERBOSITY=error TQDM_DISABLE=1 WANDB_MODE=disabled
BG_PATH=$SITE/bg:$SITE/common:$REPO/benchmarks/gpu/shims:$REPO/src
CT_PATH=$SITE/ct:$SITE/common
: >"$RES"
: >"$LOG"

elapsed() { echo $(($(date +%s) - START)); }
log() { echo "[$(elapsed)s] $*" | tee -a "$LOG"; }
event() { # event STEP KIND [json fields]
    echo "{\"step\": \"$1\", \"event\": \"$2\", \"at_s\": $(elapsed)${3:+, $3}}" >>"$RES"
}
summarize() { "$PY" "$REPO/benchmarks/gpu/summarize.py" "$RES" >"$OUT/summary.txt" 2>>"$LOG"; }
trap summarize EXIT

# run_step NAME CAP_S MIN_S PYTHONPATH command...: runs if at least MIN_S of the budget is left, under a timeout
# of min(CAP_S, what is left); JSON lines it prints go to results.jsonl tagged with the step
run_step() {
    local name=$1 cap=$2 min=$3 path=$4
    shift 4
    local left=$((START + BUDGET - $(date +%s)))
    local limit=$((cap < left - 5 ? cap : left - 5))
    if ((limit < min)); then
        log "== $name skipped: ${left}s of the budget left, it needs ${min}s"
        event "$name" skipped "\"left_s\": $left"
        return 1
    fi
    log "== $name (timeout ${limit}s): $*"
    local t0
    t0=$(date +%s)
    timeout -k 5 "$limit" env PYTHONPATH="$path" "$@" 2> >(tee -a "$LOG" >&2) | tee -a "$LOG" |
        sed -u -n "s/^{\"/{\"step\": \"$name\", \"/p" >>"$RES"
    local rc=${PIPESTATUS[0]}
    local timed_out=false
    if ((rc == 124 || rc == 137)); then timed_out=true; fi
    log "== $name ended: exit $rc after $(($(date +%s) - t0))s (timed out: $timed_out)"
    event "$name" end "\"exit\": $rc, \"wall_s\": $(($(date +%s) - t0)), \"timeout_s\": $limit, \"timed_out\": $timed_out"
    summarize
    return "$rc"
}

# ---- machine, packages -------------------------------------------------------------------------------------
log "gemma_scale.sh: SCALE=$SCALE DEVICE=$DEVICE DTYPE=$DTYPE VOCAB=$VOCAB L0=$L0 SIZES=($SIZES) CAP=$CAP" \
    "BG_BATCHES=($BG_BATCHES) CT_BATCHES=($CT_BATCHES) PROBE_SIZES=($PROBE_SIZES) PROBE_CAP=$PROBE_CAP BUDGET=${BUDGET}s"
{
    echo "date: $(date -u +%FT%TZ)  host: $(hostname)  cpus: $(nproc)"
    free -g 2>/dev/null | head -2
    df -h "$(dirname "$WORK")" 2>/dev/null | tail -1
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.max.sm \
        --format=csv 2>&1
    echo "python: $($PY --version 2>&1) at $(command -v "$PY"); model folder: $MODEL"
} >"$OUT/env.txt" 2>&1
GPU=$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)
event machine machine "\"gpu\": \"${GPU:-none}\", \"cpus\": $(nproc), \"dtype\": \"$DTYPE\", \"scale\": \"$SCALE\""

install() { "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE/$1" \
    "$WHL/$1"/*.whl; }
rm -rf "$SITE"
if ! { install common && install bg; } >>"$LOG" 2>&1; then
    log "installing .whl/common and .whl/bg failed: see log.txt"
    event install failed
    exit 1
fi
(install ct >>"$LOG" 2>&1) &
CT_INSTALL=$!
log "installed common + bg wheels; circuit-tracer's wheels install in the background"
versions() { # the first of each name on that side's path
    PYTHONPATH=$1 "$PY" -c 'import importlib.metadata as m, sys
seen = {}
for d in m.distributions():
    seen.setdefault(d.metadata["Name"].lower().replace("_", "-"), d.version)
print(" ".join(f"{n}=={seen[n]}" for n in sys.argv[1:] if n in seen))' torch transformers tokenizers huggingface-hub \
        numpy safetensors transformer-lens sae-lens circuit-tracer datasets pyarrow fsspec pydantic accelerate
}
(
    echo "babelgraph side: $(versions "$BG_PATH")"
    while kill -0 "$CT_INSTALL" 2>/dev/null; do sleep 1; done
    echo "circuit-tracer side: $(versions "$CT_PATH")"
) >>"$OUT/env.txt" 2>&1 &

# ---- prompts (random token ids, BOS first; in the background) and model ---------------------------------------
mkdir -p "$WORK"
# shellcheck disable=SC2086
(
    "$PY" benchmarks/circuit_tracer/make_prompts.py --out "$WORK/prompts.json" --lengths $SIZES --seed 123 \
        --d-vocab "$VOCAB" &&
        "$PY" benchmarks/circuit_tracer/make_prompts.py --out "$WORK/probe_prompts.json" --lengths $PROBE_SIZES \
            --seed 124 --d-vocab "$VOCAB"
) >>"$LOG" 2>&1 &
PROMPTS=$!
if [ "$SCALE" = gemma ]; then
    MODEL_ARGS=(--gemma-scale --n-ctx 2048)
else
    MODEL_ARGS=(--n-layers 2)
fi
MODEL_ARGS+=(--d-vocab "$VOCAB" --no-skip --target-l0 "$L0" --seed 0 --device "$DEVICE" --init-device "$DEVICE"
    --save-dtype "$SAVE_DTYPE")
if [ -f "$MODEL/bench_config.json" ] && [ "$(cat "$MODEL/args" 2>/dev/null)" = "${MODEL_ARGS[*]}" ]; then
    log "reusing $MODEL (made earlier on this machine with the same arguments)"
    event model reused
else
    rm -rf "$MODEL"
    run_step model 170 60 "$BG_PATH" "$PY" benchmarks/circuit_tracer/make_random_model.py --out "$MODEL" "${MODEL_ARGS[@]}"
    if [ ! -f "$MODEL/bench_config.json" ]; then
        log "no model: nothing else can run"
        exit 1
    fi
    echo "${MODEL_ARGS[*]}" >"$MODEL/args"
fi
cp "$MODEL/bench_config.json" "$OUT/bench_config.json"
if ! wait "$PROMPTS"; then
    log "making the prompts failed: see log.txt"
    exit 1
fi
N_SIZES=$(echo $SIZES | wc -w)
N_PROBES=$(echo $PROBE_SIZES | wc -w)

# ---- the comparison: both tools at SIZES -------------------------------------------------------------------
# shellcheck disable=SC2046,SC2086
run_step bg_main 120 45 "$BG_PATH" "$PY" benchmarks/bench_attribute.py --worker --model-dir "$MODEL" \
    --prompts "$WORK/prompts.json" --index $(seq 0 $((N_SIZES - 1))) --device "$DEVICE" --dtype "$DTYPE" \
    --max-feature-nodes "$CAP" --worker-batch-sizes $BG_BATCHES --keep-going

if ! wait "$CT_INSTALL"; then
    log "installing .whl/ct failed: see log.txt"
    event ct_install failed
fi
# shellcheck disable=SC2086
run_step ct_main 170 45 "$CT_PATH" "$PY" benchmarks/circuit_tracer/run_circuit_tracer.py --model-dir "$MODEL" \
    --prompt-tokens "$WORK/prompts.json" --out "$WORK/ct_main.safetensors" --batch-size $CT_BATCHES \
    --max-feature-nodes "$CAP" --device "$DEVICE" --dtype "$DTYPE" --no-save --keep-going
cp "$WORK/ct_main.json" "$OUT/" 2>/dev/null

# ---- bonus, only if the budget allows: the longest prompt that fits ----------------------------------------
# shellcheck disable=SC2046
run_step bg_probe 90 35 "$BG_PATH" "$PY" benchmarks/bench_attribute.py --worker --model-dir "$MODEL" \
    --prompts "$WORK/probe_prompts.json" --index $(seq 0 $((N_PROBES - 1))) --device "$DEVICE" --dtype "$DTYPE" \
    --max-feature-nodes "$PROBE_CAP" --keep-going
"$PY" -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[:1], open(sys.argv[2], 'w'))" \
    "$WORK/probe_prompts.json" "$WORK/ct_probe_prompts.json"
run_step ct_probe 90 40 "$CT_PATH" "$PY" benchmarks/circuit_tracer/run_circuit_tracer.py --model-dir "$MODEL" \
    --prompt-tokens "$WORK/ct_probe_prompts.json" --out "$WORK/ct_probe.safetensors" --batch-size "$CT_PROBE_BATCH" \
    --max-feature-nodes "$PROBE_CAP" --device "$DEVICE" --dtype "$DTYPE" --no-save --keep-going
cp "$WORK/ct_probe.json" "$OUT/" 2>/dev/null

log "done in $(elapsed)s"
summarize
cat "$OUT/summary.txt"
