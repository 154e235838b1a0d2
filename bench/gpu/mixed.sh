#!/usr/bin/env bash
# Issue 14 on the GPU machine, as one prepared command that stays inside a device call's
# 10 minutes (MDMT_BUDGET_S, default 560 s: a step that would not finish in what is left is
# skipped and says so) and returns at most 4 files (summary.txt, results.jsonl, gpu.txt,
# logs.tgz). Steps, in order (default: all but build):
#   prebuilt  the prebuilt addon (prebuilds/linux-x64/mdmt.napi.glibc.node, made here by
#           `node scripts/pack.js`: the CUDA kernels are compiled on the development machine),
#           its devices() report; MDMT_ADDON points at it
#   build   or: build the addon on the GPU machine (CMake + Ninja into build-gpu/)
#   dev     compile and run the kernel workshops this work added or touched (kernels/dev:
#           reorder, batchnorm_nhwc, activations, elementwise, pool, layout, reduce, optim (with
#           the CUDA-graph replay checks), dropout, masked_xent; MDMT_DEV_HARNESSES)
#   mixed   test/cuda/mixed (every bf16 / NHWC op form vs the CPU) and test/cuda/ops
#           (reorder vs the CPU), strict fp32 (MDMT_TF32=0)
#   graph   test/cuda/graph: a plan replayed as a CUDA graph == the same plan uncaptured, bit
#           for bit, over several steps (MDMT_DETERMINISTIC=1: deterministic cuDNN algorithms)
#   bf16    test/cuda/bf16_step: the bf16 + NHWC compiled MDMT step tracks the fp32 eager step
#           over 20 steps (loss within 2 % relative) on the five backbones of the issue
#   speed   per backbone, alternating in this one command: mdmt (bf16 + NHWC + CUDA graph,
#           bench/gpu/step.js) and PyTorch (bf16 + channels_last + CUDA graph,
#           bench/peers/torch_step.py --modes graph), batch 128, 256², with peak memory
# Prepare here: npm run build && node scripts/pack.js && bash ../shared/gpu/prepare.sh; carry
# prebuilds, dist and .device. On the GPU machine, from the repo root:
#   source .device/env.sh && OUT=$OUT bash bench/gpu/mixed.sh [--dry-run] [prebuilt|build|dev|mixed|graph|bf16|speed]...
# --dry-run: what the development machine can do without a GPU — no build, workshops compiled
# but not run, the test suites in their CPU dry-run or skip mode, one tiny CPU bench row, and
# the packing; it checks the script, not the GPU.
set -uo pipefail
DRY=0
steps=()
for a in "$@"; do
  case $a in
    --dry-run) DRY=1 ;;
    prebuilt | build | dev | mixed | graph | bf16 | speed) steps+=("$a") ;;
    *) echo "mixed.sh: unknown step '$a' (steps: prebuilt build dev mixed graph bf16 speed; flag: --dry-run)" >&2; exit 2 ;;
  esac
done
[ ${#steps[@]} -gt 0 ] || steps=(prebuilt dev mixed graph bf16 speed)
OUT=${OUT:-/tmp/mdmt-gpu}
mkdir -p "$OUT"
LOGS="$OUT/logs"
mkdir -p "$LOGS"
BUDGET=${MDMT_BUDGET_S:-560}
T0=$(date +%s)
SPEED_MODELS=${MDMT_MODELS:-resnet18 resnet50 densenet121 mobilenet_v2 efficientnet_b0 shufflenet_v2_x1_0}
export PATH=/usr/local/cuda/bin:$PATH
PREBUILT=$PWD/prebuilds/linux-x64/mdmt.napi.glibc.node
if [ $DRY = 1 ]; then
  export MDMT_CUDA_TEST_DEVICE=cpu
else
  export MDMT_ADDON=${MDMT_ADDON:-$PREBUILT}
fi
left() { echo $((BUDGET - ($(date +%s) - T0))); }
say() { echo "$*" | tee -a "$OUT/summary.txt"; }
# run_for SECONDS LABEL CMD...: the command under `timeout`, or skipped when the budget is short
run_for() {
  local want=$1 label=$2
  shift 2
  local l
  l=$(left)
  if [ "$l" -lt 15 ]; then say "$label: skipped (budget: ${l} s left)"; return 99; fi
  [ "$want" -le "$l" ] || want=$l
  timeout "$want" "$@"
}
UVU=(node node_modules/uvu/bin.js dist/test/cuda)
tally() { sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -E 'Total|Passed|Skipped' | tr -s ' \n' ' '; }

say "# mixed.sh $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD 2>/dev/null) steps: ${steps[*]}$([ $DRY = 1 ] && echo ' (dry run)')"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.txt" 2>&1 || echo "no nvidia-smi (dry run: $DRY)" > "$OUT/gpu.txt"
for s in "${steps[@]}"; do
  t=$(date +%s)
  case $s in
    prebuilt)
      [ -f "$PREBUILT" ] || { say "prebuilt: no $PREBUILT (run node scripts/pack.js here and carry prebuilds/)"; break; }
      [ $DRY = 1 ] || export MDMT_ADDON=$PREBUILT
      say "prebuilt addon $(sha256sum "$PREBUILT" | cut -c1-16) $(stat -c %s "$PREBUILT") bytes"
      node -e "for (const d of require('./dist/ts/devices.js').devices()) console.log(d.name, d.available ? 'available' : 'unavailable: ' + d.reason, d.description)" \
        2>&1 | cut -c1-240 | tee -a "$OUT/summary.txt"
      ;;
    build)
      if [ $DRY = 1 ]; then say "build: skipped (dry run uses build/ and dist/ as they are)"; continue; fi
      export MDMT_ADDON=$PWD/build-gpu/mdmt.node
      run_for 240 build bash -c "cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMDMT_CUDA=ON \
        -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DCMAKE_LIBRARY_OUTPUT_DIRECTORY=$PWD/build-gpu > $LOGS/cmake.log 2>&1 &&
        cmake --build build-gpu -j 16 > $LOGS/build.log 2>&1"
      rc=$?
      say "build rc=$rc in $(($(date +%s) - t)) s"
      [ $rc = 0 ] || { tail -40 "$LOGS/build.log" "$LOGS/cmake.log" 2>/dev/null | tee -a "$OUT/summary.txt"; break; }
      ;;
    dev)
      DEV=${MDMT_DEV_HARNESSES:-reorder batchnorm_nhwc activations elementwise pool layout reduce optim dropout masked_xent}
      for b in $DEV; do
        [ -f "kernels/dev/$b.cu" ] || { say "dev $b: no kernels/dev/$b.cu"; continue; }
        nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels "kernels/dev/$b.cu" -o "/tmp/dev_$b" > "$LOGS/dev_$b.build.log" 2>&1 &
      done
      wait
      for b in $DEV; do
        if [ ! -x "/tmp/dev_$b" ]; then say "dev $b: does not compile: $(head -3 "$LOGS/dev_$b.build.log" | tr '\n' ' ')"; continue; fi
        if [ $DRY = 1 ]; then say "dev $b: compiled (not run: dry run)"; continue; fi
        run_for 90 "dev $b" "/tmp/dev_$b" > "$LOGS/dev_$b.log" 2>&1
        say "dev $b rc=$? $(tail -1 "$LOGS/dev_$b.log")"
        grep -E 'GB/s|ms' "$LOGS/dev_$b.log" | head -8 >> "$OUT/summary.txt"
      done
      ;;
    mixed)
      MDMT_TF32=0 run_for 150 mixed "${UVU[@]}" 'mixed\.test\.js$' > "$LOGS/mixed.log" 2>&1
      say "test/cuda/mixed rc=$? $(tally "$LOGS/mixed.log")"
      MDMT_TF32=0 run_for 120 ops "${UVU[@]}" 'ops\.test\.js$' > "$LOGS/ops.log" 2>&1
      say "test/cuda/ops rc=$? $(tally "$LOGS/ops.log")"
      ;;
    graph)
      MDMT_DETERMINISTIC=1 run_for 150 graph "${UVU[@]}" 'graph\.test\.js$' > "$LOGS/graph.log" 2>&1
      say "test/cuda/graph rc=$? $(tally "$LOGS/graph.log")"
      grep -E '^  [a-z_0-9]+: ' "$LOGS/graph.log" >> "$OUT/summary.txt"
      ;;
    bf16)
      run_for 200 bf16 "${UVU[@]}" 'bf16_step\.test\.js$' > "$LOGS/bf16.log" 2>&1
      say "test/cuda/bf16_step rc=$? $(tally "$LOGS/bf16.log")"
      grep -E '^  [a-z_0-9]+: ' "$LOGS/bf16.log" >> "$OUT/summary.txt"
      ;;
    speed)
      # one backbone at a time, mdmt then PyTorch, each in its own process (a failure or a leak
      # in one cannot touch the next); rows into results.jsonl as they come. step.js --no-peer:
      # the peer runs here, under its own share of the budget
      for m in $SPEED_MODELS; do
        if [ $DRY = 1 ]; then
          run_for 120 "speed $m mdmt" node dist/bench/gpu/step.js --models "$m" --device cpu --batch 2 --size 32 --steps 1 --warmup 1 \
            --mode compiled --precision fp32 --json "$OUT/results.jsonl" > "$LOGS/speed_$m.log" 2>&1
          say "speed $m mdmt (cpu dry run) rc=$?"
          break  # one row shows the plumbing
        fi
        run_for 100 "speed $m mdmt" node dist/bench/gpu/step.js --no-peer --models "$m" --steps "${MDMT_BENCH_STEPS:-10}" --warmup 3 \
          --mode compiled --precision bf16 --graph --json "$OUT/results.jsonl" > "$LOGS/speed_$m.log" 2>&1
        rc=$?
        [ $rc = 0 ] || echo "{\"engine\":\"mdmt\",\"model\":\"$m\",\"error\":\"rc $rc $(tail -c 300 "$LOGS/speed_$m.log" | tr -d '"\n')\"}" >> "$OUT/results.jsonl"
        run_for 80 "speed $m torch" python3 bench/peers/torch_step.py --models "$m" --modes graph --steps "${MDMT_BENCH_STEPS:-10}" --warmup 3 \
          --json "$LOGS/torch_$m.jsonl" > "$LOGS/torch_$m.log" 2>&1
        rc=$?
        if [ -s "$LOGS/torch_$m.jsonl" ]; then sed 's/^{/{"engine":"torch",/' "$LOGS/torch_$m.jsonl" >> "$OUT/results.jsonl"
        else echo "{\"engine\":\"torch\",\"model\":\"$m\",\"error\":\"rc $rc $(tail -c 300 "$LOGS/torch_$m.log" | tr -d '"\n')\"}" >> "$OUT/results.jsonl"; fi
        say "speed $m: $(grep -h "\"model\": *\"$m\"\|\"model\":\"$m\"" "$OUT/results.jsonl" | tr -d ' ' | cut -c1-220 | tr '\n' ' ')"
      done
      ;;
  esac
  say "  ($s: $(($(date +%s) - t)) s; $(left) s of the budget left)"
done
# failures, compact (uvu prints "FAIL <test>" then the message)
for f in "$LOGS"/*.log; do
  if grep -q "FAIL" "$f" 2>/dev/null; then
    echo "==== $(basename "$f")" >> "$OUT/summary.txt"
    sed 's/\x1b\[[0-9;]*m//g' "$f" | grep -A1 "FAIL " | grep -v '^--$' | cut -c1-300 | head -30 >> "$OUT/summary.txt"
  fi
done
# the device tool returns a few files: everything else goes into one archive
tar -czf /tmp/mdmt_mixed_logs.tgz -C "$LOGS" . && mv /tmp/mdmt_mixed_logs.tgz "$OUT/logs.tgz" && rm -rf "$LOGS"
ls "$OUT" | tee -a "$OUT/summary.txt"
cat "$OUT/summary.txt"
