#!/usr/bin/env bash
# One GPU-machine session of the CUDA backend's checks, logs under $OUT:
#   prebuilt  the prebuilt addon exactly as `npm pack` ships it (prebuilds/linux-x64/
#             mdmt.napi.glibc.node, copied as is: its sha256 is logged): `mdmt doctor` with
#             LD_LIBRARY_PATH unset (the addon's own search must find cuDNN/cuBLAS, on the H200
#             only in PyTorch's pip packages) and as env.sh sets it; MDMT_ADDON points at it
#   build     or: build the addon here with CMake + Ninja into build-gpu/ (MDMT_ADDON -> it)
#   dev       compile and run the kernel workshops kernels/dev/*.cu (validation + GB/s)
#   tests     the CUDA suites dist/test/cuda/*.test.js, then
#   ops       the op suites with MDMT_DEVICE=cuda (strict fp32: MDMT_TF32=0, so the fp32
#             tolerances of test/ops apply)
#   ptx       the CUDA op suite again with CUDA_FORCE_PTX_JIT=1: the compute_90 PTX the addon
#             carries for GPUs newer than sm_90, JIT-compiled by the driver instead of the SASS
# Prepare on the development machine (no GPU needed), from the repo root:
#   npm install && node node_modules/typescript/bin/tsc -p tsconfig.json   # dist/ (the suites)
#   node scripts/pack.js             # dist/ts + prebuilds/: what npm pack puts in the tarball
#   bash ../shared/gpu/prepare.sh    # .device/ (Node.js + node_modules)
# then one device call carrying prebuilds, dist and .device (git-ignored paths):
#   source .device/env.sh && OUT=$OUT bash bench/gpu/validate.sh        (default: prebuilt tests ops ptx)
#   OUT=/some/dir bash bench/gpu/validate.sh [prebuilt|build|dev|tests|ops|ptx|step|bench|torch]...
set -uo pipefail
OUT=${OUT:-/tmp/mdmt-gpu}
mkdir -p "$OUT"
steps=${*:-prebuilt tests ops ptx}
export PATH=/usr/local/cuda/bin:$PATH
PREBUILT=$PWD/prebuilds/linux-x64/mdmt.napi.glibc.node
export MDMT_ADDON=${MDMT_ADDON:-$PREBUILT}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.txt" 2>&1
git rev-parse HEAD > "$OUT/commit.txt" 2>/dev/null || true
for s in $steps; do
  case $s in
    prebuilt)
      [ -f "$PREBUILT" ] || { echo "no $PREBUILT: run node scripts/pack.js and carry prebuilds/" | tee -a "$OUT/summary.txt"; exit 1; }
      export MDMT_ADDON=$PREBUILT
      echo "prebuilt addon $(sha256sum "$PREBUILT" | cut -c1-16) $(stat -c %s "$PREBUILT") bytes" | tee -a "$OUT/summary.txt"
      ldd "$PREBUILT" > "$OUT/ldd.txt" 2>&1
      # devices() as mdmt doctor reports it, without the CLI (which loads sharp, left off the device)
      doctor="for (const d of require('./dist/ts/devices.js').devices()) { console.log(d.name, d.available ? 'available' : 'unavailable: ' + d.reason, d.description);
        for (const [k, v] of Object.entries(d.props)) console.log('  ' + k + ': ' + v); }"
      env -u LD_LIBRARY_PATH node -e "$doctor" > "$OUT/doctor_own_search.txt" 2>&1
      echo "doctor (LD_LIBRARY_PATH unset) rc=$?" | tee -a "$OUT/summary.txt"
      grep -E '^(cuda:|  (cudnn|cublas|driver|build))' "$OUT/doctor_own_search.txt" | cut -c1-200 | tee -a "$OUT/summary.txt"
      node -e "$doctor" > "$OUT/doctor_env.txt" 2>&1
      echo "doctor (env.sh LD_LIBRARY_PATH) rc=$?" | tee -a "$OUT/summary.txt"
      ;;
    build)
      export MDMT_ADDON=$PWD/build-gpu/mdmt.node
      t0=$(date +%s)
      cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMDMT_CUDA=ON \
        -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/build-gpu" > "$OUT/cmake.log" 2>&1 &&
        cmake --build build-gpu -j 16 > "$OUT/build.log" 2>&1
      rc=$?
      echo "build rc=$rc in $(( $(date +%s) - t0 )) s" | tee -a "$OUT/summary.txt"
      [ $rc = 0 ] || { tail -60 "$OUT/build.log" "$OUT/cmake.log"; exit 1; }
      ls -la build-gpu/mdmt.node | tee -a "$OUT/summary.txt"
      ;;
    dev)
      for f in kernels/dev/*.cu; do
        b=$(basename "$f" .cu)
        nvcc -std=c++17 -arch=sm_90 -O3 --use_fast_math -Ikernels "$f" -o "/tmp/dev_$b" > "$OUT/dev_$b.build.log" 2>&1 &&
          timeout 120 "/tmp/dev_$b" > "$OUT/dev_$b.log" 2>&1
        echo "dev $b rc=$? $(tail -1 "$OUT/dev_$b.log" 2>/dev/null)" | tee -a "$OUT/summary.txt"
      done
      ;;
    tests)
      for f in dist/test/cuda/*.test.js; do
        timeout 300 node node_modules/uvu/bin.js dist/test/cuda "$(basename "$f")\$" > "$OUT/$(basename "$f" .js).log" 2>&1
        echo "$(basename "$f") rc=$? $(grep -E 'Total|Passed|Skipped' "$OUT/$(basename "$f" .js).log" | tr -s ' \n' ' ')" | tee -a "$OUT/summary.txt"
      done
      grep -h '"driver"' "$OUT"/errors.test.log >> "$OUT/summary.txt"
      ;;
    step)
      for tf in 0 1; do
        MDMT_TF32=$tf timeout 400 node node_modules/uvu/bin.js dist/test/cuda 'step\.test\.js$' > "$OUT/step_tf32_$tf.log" 2>&1
        echo "step.test.js MDMT_TF32=$tf rc=$? $(grep -E 'Total|Passed|Skipped' "$OUT/step_tf32_$tf.log" | tr -s ' \n' ' ')" | tee -a "$OUT/summary.txt"
        grep -E '^  [a-z_0-9]+: loss' "$OUT/step_tf32_$tf.log" | tee -a "$OUT/summary.txt"
      done
      ;;
    bench)
      # one process per backbone: a failure or a leak in one cannot touch the next (--no-peer:
      # the torch step below runs the peer once for all backbones)
      for m in ${MDMT_BENCH_MODELS:-densenet121 densenet161 densenet169 densenet201 efficientnet_b0 efficientnet_b1_pruned efficientnet_es efficientnet_es_pruned efficientnet_lite0 googlenet mobilenet_v2 resnet18 resnet34 resnet50 resnet101 wide_resnet50_2 shufflenet_v2_x0_5 shufflenet_v2_x1_0}; do
        timeout ${MDMT_BENCH_TIMEOUT:-90} node dist/bench/gpu/step.js --no-peer --models $m --steps ${MDMT_BENCH_STEPS:-6} --warmup 2 --json "$OUT/mdmt_step.jsonl" > /dev/null 2> "$OUT/bench_$m.err"
        rc=$?; [ $rc = 0 ] || echo "{\"model\":\"$m\",\"error\":\"rc $rc $(tail -c 300 "$OUT/bench_$m.err" | tr -d '"\n')\"}" >> "$OUT/mdmt_step.jsonl"
      done
      cat "$OUT/mdmt_step.jsonl" | tee -a "$OUT/summary.txt"
      ;;
    torch)
      timeout ${MDMT_TORCH_TIMEOUT:-400} python3 bench/peers/torch_step.py ${MDMT_TORCH_MODELS:+--models $MDMT_TORCH_MODELS} --steps ${MDMT_BENCH_STEPS:-6} --warmup 3 --json "$OUT/torch_step.jsonl" > "$OUT/torch.log" 2>&1
      echo "torch rc=$?" | tee -a "$OUT/summary.txt"; head -1 "$OUT/torch.log" | tee -a "$OUT/summary.txt"
      cat "$OUT/torch_step.jsonl" | tee -a "$OUT/summary.txt"
      ;;
    ptx)
      CUDA_FORCE_PTX_JIT=1 MDMT_TF32=0 timeout 300 node node_modules/uvu/bin.js dist/test/cuda 'ops\.test\.js$' > "$OUT/ptx_jit.log" 2>&1
      echo "cuda ops with CUDA_FORCE_PTX_JIT=1 rc=$? $(grep -E 'Total|Passed|Skipped' "$OUT/ptx_jit.log" | tr -s ' \n' ' ')" | tee -a "$OUT/summary.txt"
      ;;
    ops)
      MDMT_DEVICE=cuda MDMT_TF32=0 timeout 400 node node_modules/uvu/bin.js dist/test/ops '\.test\.js$' > "$OUT/ops_cuda.log" 2>&1
      echo "test/ops on cuda rc=$? $(grep -E 'Total|Passed|Skipped' "$OUT/ops_cuda.log" | tr -s ' \n' ' ')" | tee -a "$OUT/summary.txt"
      MDMT_DEVICE=cuda MDMT_TF32=0 timeout 200 node node_modules/uvu/bin.js dist/test/optim '\.test\.js$' > "$OUT/optim_cuda.log" 2>&1
      echo "test/optim on cuda rc=$? $(grep -E 'Total|Passed|Skipped' "$OUT/optim_cuda.log" | tr -s ' \n' ' ')" | tee -a "$OUT/summary.txt"
      ;;
  esac
done
# failures, compact, on stdout (uvu prints "FAIL <test>" then the message)
for f in "$OUT"/*.log; do
  if grep -q "FAIL" "$f" 2>/dev/null; then
    echo "==== $(basename "$f")"
    sed 's/\x1b\[[0-9;]*m//g' "$f" | grep -A1 "FAIL " | grep -v '^--$' | cut -c1-400 | head -${MDMT_FAIL_LINES:-40}
  fi
done
# The device tool returns only a few files: pack every log into one archive (outside $OUT
# while writing, so tar does not read its own output).
tar -czf /tmp/mdmt_logs.tgz -C "$OUT" . && mv /tmp/mdmt_logs.tgz "$OUT/logs.tgz" &&
  find "$OUT" -maxdepth 1 -type f ! -name logs.tgz ! -name summary.txt -delete
